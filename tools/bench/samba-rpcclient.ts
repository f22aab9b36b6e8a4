/**
 * One long-lived rpcclient process driven over stdin, for the Samba comparison benchmark.
 *
 * rpcclient without `-c` reads commands from stdin and, when stdin is not a terminal, prints no
 * prompt. It polls the descriptor and then reads through stdio, so when two lines arrive in one
 * chunk the second waits in stdio's buffer until more input comes (measured: a queued second
 * command ran only when the next write arrived). So this driver sends exactly one command per
 * write and waits until its output is complete before sending the next: success is recognised by
 * a pattern on stdout, failure by anything on stderr.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface RpcclientLogin {
  /** smb.conf given with `-s`. */
  readonly conf: string;
  readonly user: string;
  readonly password: string;
  readonly host: string;
}

const RPCCLIENT = '/usr/bin/rpcclient';
/** After stderr output, how long to keep collecting before failing the command (ms). */
const ERROR_GRACE_MS = 50;

export class RpcclientSession {
  private stdout = '';
  private stderr = '';
  private onOutput: (() => void) | undefined;
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.stdout += s;
      this.onOutput?.();
    });
    child.stderr.on('data', (s: string) => {
      this.stderr += s;
      this.onOutput?.();
    });
    child.stdin.on('error', () => { /* rpcclient exited; the pending command reports it */ });
    child.on('exit', () => {
      this.exited = true;
      this.onOutput?.();
    });
  }

  /** Starts rpcclient (it connects and authenticates before reading its first command). */
  static open(login: RpcclientLogin): RpcclientSession {
    const child = spawn(RPCCLIENT, ['-s', login.conf, '-U', `${login.user}%${login.password}`, login.host], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new RpcclientSession(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Sends one command line and resolves with its stdout once `done` matches it. Rejects on any
   * stderr output, on exit, or after `timeoutMs`.
   */
  command(line: string, done: RegExp, timeoutMs = 30_000): Promise<string> {
    if (/[\r\n]/.test(line)) throw new Error('one command per call');
    this.stdout = '';
    this.stderr = '';
    return new Promise<string>((resolve, reject) => {
      let errorTimer: NodeJS.Timeout | undefined;
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        clearTimeout(errorTimer);
        this.onOutput = undefined;
        if (err) reject(err);
        else resolve(this.stdout);
      };
      const fail = (why: string): Error =>
        new Error(`rpcclient "${line}": ${why}${this.stdout ? `; stdout: ${this.stdout.trim()}` : ''}${this.stderr ? `; stderr: ${this.stderr.trim()}` : ''}`);
      const timer = setTimeout(() => finish(fail(`no answer after ${timeoutMs} ms`)), timeoutMs);
      this.onOutput = () => {
        if (this.exited) return finish(fail('rpcclient exited'));
        if (this.stderr) {
          errorTimer ??= setTimeout(() => finish(fail('error output')), ERROR_GRACE_MS);
          return;
        }
        if (done.test(this.stdout)) finish();
      };
      this.child.stdin.write(`${line}\n`);
    });
  }

  /** Ends the session (`quit`), killing rpcclient if it does not exit within 5 s. */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }

  /** Synchronous last-resort kill (for signal handlers). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
