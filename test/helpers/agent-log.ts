/**
 * What an in-process agent said during a test: its `debug` lines (a DebugCapture of the given
 * namespaces) and what it wrote with console.error (fsrvpd's warnings), both since the last
 * take(). start() captures console.error instead of printing it; stop() puts it back.
 */
import { vi, type MockInstance } from 'vitest';
import { DebugCapture } from './debug-capture.js';

export interface AgentSaid {
  debug: string[];
  errors: string[];
  /** debug and errors in one text, for assertion messages. */
  all: string;
}

export class AgentLog {
  private readonly debug: DebugCapture;
  private readonly errors: string[] = [];
  private spy: MockInstance<typeof console.error> | undefined;

  constructor(namespaces: string) {
    this.debug = new DebugCapture(namespaces);
  }

  start(): this {
    this.spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
      this.errors.push(a.map(String).join(' '));
    });
    this.debug.start();
    return this;
  }

  take(): AgentSaid {
    const debug = this.debug.take();
    const errors = this.errors.splice(0);
    return { debug, errors, all: [...debug, ...errors].join('\n') };
  }

  stop(): void {
    this.debug.stop();
    this.spy?.mockRestore();
    this.spy = undefined;
  }
}
