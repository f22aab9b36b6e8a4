/**
 * One long-lived helper child process that answers JSON requests, one per line, on its
 * stdin/stdout. Used to keep external process start-ups (net, sharesec, btrfs, …) off the hot
 * path: the helper is started once and asked many times.
 *
 * Protocol (one JSON object per line, UTF-8):
 * - the child's first line says whether it can work: `{"ready":true,"info":{…}}`, or
 *   `{"ready":false,"error":"…"}` (then it exits) when something it needs is missing;
 * - requests: `{"id":<n>,"op":"<name>","args":{…}}`;
 * - replies, in any order: `{"id":<n>,"ok":true,"result":…}` or
 *   `{"id":<n>,"ok":false,"error":{"code":"ENOENT","message":"…","errno":2}}`;
 * - end of stdin asks the child to finish what it is doing and exit.
 * The child's stderr goes to the `fsrvp:helper` debug log.
 *
 * Behaviour: started lazily by the first request; a child that dies fails its pending requests
 * with a HelperFailure and is restarted by the next request; a child that cannot start (the
 * interpreter or a module is missing: spawn error, a `ready:false` line, or an exit before the
 * ready line) makes requests fail with HelperUnavailableError, so callers can use their fallback,
 * and is tried again only after `retryUnavailableMs`. A request that times out kills the child
 * (it is stuck; queued requests behind it would wait too). The child never keeps Node alive
 * while idle, and is killed when this process exits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import createDebug from 'debug';

import { HelperError, HelperFailure, HelperUnavailableError, type HelperFailureKind } from './helper-errors.js';

export { HelperError, HelperFailure, HelperUnavailableError, helperGone, type HelperFailureKind } from './helper-errors.js';

const debug = createDebug('fsrvp:helper');

/** The environment a helper gets unless told otherwise: nothing inherited but a plain PATH and locale. */
export const SCRUBBED_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
});

export interface HelperProcessOptions {
  /** Name for logs and error messages, e.g. `btrfs`. */
  readonly name: string;
  /** Executable (absolute path recommended) and its arguments; never run through a shell. */
  readonly command: string;
  readonly args: readonly string[];
  /** The child's complete environment (default SCRUBBED_ENV; nothing is inherited). */
  readonly env?: Readonly<Record<string, string>>;
  /** Time allowed for the ready line (default 10 s). */
  readonly startTimeoutMs?: number;
  /** Default per-request timeout (default 30 s; 0 = none). */
  readonly requestTimeoutMs?: number;
  /** After a failed start, requests fail at once with HelperUnavailableError for this long (default 60 s). */
  readonly retryUnavailableMs?: number;
  /** Time `close()` waits for the child to exit after closing its stdin, before killing it (default 2 s). */
  readonly closeGraceMs?: number;
  /** Longest accepted line from the child, in bytes (default 64 MiB). */
  readonly maxLineBytes?: number;
}

export interface RequestOptions {
  /** Overrides the default request timeout (0 = none). */
  readonly timeoutMs?: number;
  /** Rejects the request when aborted; its reply, if one comes, is ignored. */
  readonly signal?: AbortSignal;
}

interface Pending {
  readonly op: string;
  /** The child the request was sent to. */
  readonly child: ChildProcessWithoutNullStreams;
  resolve(value: unknown): void;
  reject(e: Error): void;
  cleanup(): void;
}

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly info: Readonly<Record<string, unknown>>;
}

const liveChildren = new Set<ChildProcessWithoutNullStreams>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const c of liveChildren) {
      try { c.kill('SIGTERM'); } catch { /* already gone */ }
    }
  });
}

/** Streams and child handles that can stop keeping the event loop alive. */
interface Refable { ref(): unknown; unref(): unknown }

function setRef(child: ChildProcessWithoutNullStreams, on: boolean): void {
  for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as Refable[]) {
    if (typeof h.ref === 'function') {
      if (on) h.ref();
      else h.unref();
    }
  }
}

export class HelperProcess {
  private running: Running | undefined;
  private starting: Promise<Running> | undefined;
  private unavailable: { error: HelperUnavailableError; until: number } | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private stderrTail: string[] = [];

  constructor(private readonly options: HelperProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  /** The ready line's `info` of the running child (undefined when none runs). */
  get info(): Readonly<Record<string, unknown>> | undefined {
    return this.running?.info;
  }

  /** The child's pid, when one runs. */
  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** Number of requests waiting for an answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Starts the helper if needed; false when it cannot run here (callers then use their fallback). */
  async available(): Promise<boolean> {
    try {
      await this.ensureStarted();
      return true;
    } catch (e) {
      if (e instanceof HelperUnavailableError) return false;
      throw e;
    }
  }

  /** Sends one request; resolves with the helper's `result`. */
  async request<T = unknown>(op: string, args: Readonly<Record<string, unknown>> = {}, opts: RequestOptions = {}): Promise<T> {
    if (opts.signal?.aborted) throw new HelperFailure('aborted', `${this.name} helper: ${op} aborted before it was sent`);
    const { child } = await this.ensureStarted();
    if (opts.signal?.aborted) throw new HelperFailure('aborted', `${this.name} helper: ${op} aborted before it was sent`);
    const id = this.nextId++;
    const line = JSON.stringify({ id, op, args }) + '\n';
    const timeoutMs = opts.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        this.settle(id)?.reject(new HelperFailure('aborted', `${this.name} helper: ${op} aborted`));
      };
      const entry: Pending = {
        op,
        child,
        resolve: resolve as (v: unknown) => void,
        reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        },
      };
      if (!this.hasPending(child)) setRef(child, true);
      this.pending.set(id, entry);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          const p = this.settle(id);
          if (!p) return;
          p.reject(new HelperFailure('timeout', `${this.name} helper: ${op} timed out after ${timeoutMs} ms; restarting the helper`));
          // A stuck child would hold every later request too: replace it.
          this.kill(child, 'timeout');
        }, timeoutMs);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdin.write(line, (err) => {
        if (err) this.settle(id)?.reject(new HelperFailure('exited', `${this.name} helper: cannot send ${op}: ${err.message}`));
      });
    });
  }

  /**
   * Closes the helper: its stdin is closed so it finishes what it is doing and exits; after the
   * grace time it is killed. Pending requests get their answers if it gives them before exiting,
   * else fail with kind 'closed'. Later requests fail with kind 'closed'. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    const starting = this.starting;
    if (starting) await starting.catch(() => undefined);
    const r = this.running;
    if (!r) return;
    const { child } = r;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end();
    const grace = this.options.closeGraceMs ?? 2_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), grace); });
    const late = await Promise.race([exited.then(() => false), timedOut]);
    if (timer) clearTimeout(timer);
    if (late) {
      debug('%s helper did not exit within %d ms of close; killing it', this.name, grace);
      child.kill('SIGKILL');
      await exited;
    }
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    p.cleanup();
    if (!this.hasPending(p.child)) setRef(p.child, false);
    return p;
  }

  private hasPending(child: ChildProcessWithoutNullStreams): boolean {
    for (const p of this.pending.values()) if (p.child === child) return true;
    return false;
  }

  private ensureStarted(): Promise<Running> {
    if (this.closed) return Promise.reject(new HelperFailure('closed', `${this.name} helper is closed`));
    if (this.running) return Promise.resolve(this.running);
    if (this.unavailable && Date.now() < this.unavailable.until) return Promise.reject(this.unavailable.error);
    this.starting ??= this.start().finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private start(): Promise<Running> {
    hookExit();
    const { command, args } = this.options;
    const started = Date.now();
    return new Promise<Running>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...(this.options.env ?? SCRUBBED_ENV) }, windowsHide: true });
      } catch (e) {
        reject(this.markUnavailable(`cannot start ${command}: ${(e as Error).message}`));
        return;
      }
      liveChildren.add(child);
      this.stderrTail = [];
      let ready = false;
      let buffered = '';
      const startTimer = setTimeout(() => {
        if (ready) return;
        child.kill('SIGKILL');
        reject(this.markUnavailable(`${command} gave no ready line within ${this.options.startTimeoutMs ?? 10_000} ms`));
      }, this.options.startTimeoutMs ?? 10_000);
      const maxLine = this.options.maxLineBytes ?? 64 * 1024 * 1024;

      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          if (!ready) onFirstLine(line);
          else this.onReply(line);
        }
        if (Buffer.byteLength(buffered) > maxLine) {
          debug('%s helper wrote a line longer than %d bytes; killing it', this.name, maxLine);
          buffered = '';
          this.kill(child, 'protocol');
        }
      });
      const onFirstLine = (line: string): void => {
        let msg: { ready?: unknown; error?: unknown; info?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          msg = {};
        }
        clearTimeout(startTimer);
        if (msg.ready !== true) {
          const why = typeof msg.error === 'string' ? msg.error : `unexpected first line ${JSON.stringify(line.slice(0, 200))}`;
          child.kill('SIGKILL');
          reject(this.markUnavailable(why));
          return;
        }
        ready = true;
        const info = msg.info && typeof msg.info === 'object' ? (msg.info as Record<string, unknown>) : {};
        const running: Running = { child, info };
        this.running = running;
        this.unavailable = undefined;
        debug('%s helper started (pid %d, %d ms)', this.name, child.pid, Date.now() - started);
        resolve(running);
      };

      child.stderr.setEncoding('utf8');
      let errBuf = '';
      child.stderr.on('data', (chunk: string) => {
        errBuf += chunk;
        let nl: number;
        while ((nl = errBuf.indexOf('\n')) >= 0) {
          this.noteStderr(errBuf.slice(0, nl));
          errBuf = errBuf.slice(nl + 1);
        }
        if (errBuf.length > 65536) {
          this.noteStderr(errBuf);
          errBuf = '';
        }
      });
      child.stdin.on('error', (e) => debug('%s helper stdin: %s', this.name, e.message));
      child.on('error', (e: NodeJS.ErrnoException) => {
        // Spawn failure (ENOENT, EACCES) or a failed kill; 'exit' may not follow a spawn failure.
        liveChildren.delete(child);
        clearTimeout(startTimer);
        if (!ready) {
          reject(this.markUnavailable(`cannot start ${command}: ${e.code ?? e.message}`));
          return;
        }
        debug('%s helper process error: %s', this.name, e.message);
      });
      child.on('exit', (code, signal) => {
        liveChildren.delete(child);
        clearTimeout(startTimer);
        if (errBuf) this.noteStderr(errBuf);
        const how = signal ? `signal ${signal}` : `status ${code}`;
        if (!ready) {
          reject(this.markUnavailable(`${command} exited with ${how} before it was ready${this.tail()}`));
          return;
        }
        if (this.running?.child === child) this.running = undefined;
        debug('%s helper (pid %d) exited with %s', this.name, child.pid, how);
        const kind: HelperFailureKind = this.closed ? 'closed' : 'exited';
        for (const [id, entry] of [...this.pending]) {
          if (entry.child !== child) continue;
          const p = this.settle(id);
          p?.reject(new HelperFailure(kind, `${this.name} helper exited with ${how} while ${p.op} was pending${this.tail()}`));
        }
      });
      setRef(child, false);
    });
  }

  private onReply(line: string): void {
    let msg: { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; errno?: unknown } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      debug('%s helper wrote a line that is not JSON: %s', this.name, line.slice(0, 200));
      return;
    }
    if (typeof msg.id !== 'number') {
      debug('%s helper wrote a reply without an id: %s', this.name, line.slice(0, 200));
      return;
    }
    const p = this.settle(msg.id);
    if (!p) return; // timed out or aborted earlier
    if (msg.ok === true) {
      p.resolve(msg.result);
      return;
    }
    const err = msg.error ?? {};
    const code = typeof err.code === 'string' ? err.code : 'EHELPER';
    const message = typeof err.message === 'string' ? err.message : 'failed';
    p.reject(new HelperError(p.op, code, message, typeof err.errno === 'number' ? err.errno : undefined, this.name));
  }

  private kill(child: ChildProcessWithoutNullStreams, why: string): void {
    debug('%s helper (pid %d): killing it (%s)', this.name, child.pid, why);
    if (this.running?.child === child) this.running = undefined;
    child.kill('SIGKILL');
  }

  private markUnavailable(reason: string): HelperUnavailableError {
    const error = new HelperUnavailableError(`${this.name} helper is not available: ${reason}`);
    this.unavailable = { error, until: Date.now() + (this.options.retryUnavailableMs ?? 60_000) };
    debug('%s', error.message);
    return error;
  }

  private noteStderr(line: string): void {
    if (!line.trim()) return;
    debug('[%s] %s', this.name, line);
    this.stderrTail.push(line);
    if (this.stderrTail.length > 4) this.stderrTail.shift();
  }

  private tail(): string {
    return this.stderrTail.length ? `: ${this.stderrTail.join(' | ')}` : '';
  }
}
