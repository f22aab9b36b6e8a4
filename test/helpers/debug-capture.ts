/**
 * Captures the agent's `debug` log lines (namespaces such as fsrvp:kerberos) in-process, for
 * tests that check what the agent logged. start() enables the namespaces on top of what was
 * enabled; stop() restores the previous namespaces and writer.
 */
import createDebug from 'debug';
import { format } from 'node:util';

export class DebugCapture {
  readonly lines: string[] = [];
  private previousLog: typeof createDebug.log | undefined;
  private previousNamespaces = '';

  constructor(private readonly namespaces: string) {}

  start(): this {
    this.previousLog = createDebug.log;
    this.previousNamespaces = createDebug.disable();
    createDebug.log = (...args: unknown[]): void => {
      this.lines.push(format(...args));
    };
    createDebug.enable(this.previousNamespaces ? `${this.previousNamespaces},${this.namespaces}` : this.namespaces);
    return this;
  }

  /** Lines matching `re` logged since the last take() (or start), then forgets all lines. */
  take(re: RegExp = /./): string[] {
    const out = this.lines.filter((l) => re.test(l));
    this.lines.length = 0;
    return out;
  }

  stop(): void {
    if (this.previousLog === undefined) return;
    createDebug.disable();
    if (this.previousNamespaces) createDebug.enable(this.previousNamespaces);
    createDebug.log = this.previousLog;
    this.previousLog = undefined;
  }
}
