/**
 * Runs external tools (btrfs, chattr, net, testparm, …) with argument arrays — never through a
 * shell — with a timeout, an optional AbortSignal, and failures as typed `CommandError`s that
 * carry the command line and the tool's stderr.
 */
import { execFile, spawn } from 'node:child_process';
import { access, constants as fsc } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import createDebug from 'debug';

const debug = createDebug('fsrvp:exec');

export interface RunOptions {
  /** Kill the tool after this many milliseconds (default 60 s; 0 = no limit). */
  readonly timeoutMs?: number;
  /** Kills the tool when aborted; the promise rejects with a CommandError of kind 'aborted'. */
  readonly signal?: AbortSignal;
  /** Working directory of the tool. */
  readonly cwd?: string;
  /** Extra environment variables (merged over this process's environment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Bytes or text written to the tool's stdin (stdin is closed otherwise). */
  readonly input?: string | Uint8Array;
  /** Largest stdout/stderr accepted, in bytes (default 64 MiB). */
  readonly maxBuffer?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Why a command failed: it exited non-zero, timed out, was aborted, or could not be started. */
export type CommandFailure = 'exit' | 'timeout' | 'aborted' | 'not-found' | 'spawn';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly kind: CommandFailure,
    /** The command line, quoted for display (not for a shell). */
    readonly command: string,
    /** Exit code when kind is 'exit'. */
    readonly exitCode: number | undefined,
    readonly stdout: string,
    readonly stderr: string,
    detail?: string,
  ) {
    super(`${command}: ${detail ?? describe(kind, exitCode)}${stderr.trim() ? `: ${lastLines(stderr)}` : ''}`);
  }
}

function describe(kind: CommandFailure, exitCode: number | undefined): string {
  switch (kind) {
    case 'exit': return `exited with status ${exitCode ?? '?'}`;
    case 'timeout': return 'timed out';
    case 'aborted': return 'aborted';
    case 'not-found': return 'command not found';
    case 'spawn': return 'could not be started';
  }
}

/** The last four lines of a tool's output, on one line (for error messages). */
export function lastLines(text: string): string {
  return text.trim().split('\n').slice(-4).join(' | ');
}

/** Quotes a command line for logs and error messages. */
export function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** Runs `file` with `args` and resolves with its output when it exits with status 0. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const cmd = commandLine(file, args);
  if (opts.signal?.aborted) {
    return Promise.reject(new CommandError('aborted', cmd, undefined, '', '', 'aborted before start'));
  }
  const started = Date.now();
  return new Promise<RunResult>((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: opts.maxBuffer ?? DEFAULT_MAX_BUFFER,
        signal: opts.signal,
        encoding: 'utf8',
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        const ms = Date.now() - started;
        if (!err) {
          debug('%s (%d ms)', cmd, ms);
          resolve({ stdout, stderr });
          return;
        }
        debug('%s failed after %d ms: %s', cmd, ms, err.message);
        reject(toCommandError(err, cmd, stdout, stderr, opts.signal));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

interface ExecErr extends Error {
  code?: number | string | null;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
}

function toCommandError(err: ExecErr, cmd: string, stdout: string, stderr: string, signal?: AbortSignal): CommandError {
  if (signal?.aborted || err.name === 'AbortError') return new CommandError('aborted', cmd, undefined, stdout, stderr);
  if (err.code === 'ENOENT') return new CommandError('not-found', cmd, undefined, stdout, stderr);
  if (typeof err.code === 'string') return new CommandError('spawn', cmd, undefined, stdout, stderr, err.message);
  if (err.killed && err.signal) return new CommandError('timeout', cmd, undefined, stdout, stderr);
  return new CommandError('exit', cmd, typeof err.code === 'number' ? err.code : undefined, stdout, stderr);
}

/**
 * Runs `producer | consumer` without a shell: the producer's stdout feeds the consumer's stdin.
 * Resolves when both exit with status 0; otherwise rejects with the first failure.
 */
export function pipeline(
  producer: { file: string; args: readonly string[] },
  consumer: { file: string; args: readonly string[] },
  opts: Pick<RunOptions, 'cwd' | 'timeoutMs' | 'signal'> & { consumerCwd?: string } = {},
): Promise<void> {
  const pcmd = commandLine(producer.file, producer.args);
  const ccmd = commandLine(consumer.file, consumer.args);
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const common = { signal: opts.signal, timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL' as const };
    const p = spawn(producer.file, [...producer.args], { ...common, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const c = spawn(consumer.file, [...consumer.args], { ...common, cwd: opts.consumerCwd ?? opts.cwd, stdio: ['pipe', 'ignore', 'pipe'] });
    let perr = '';
    let cerr = '';
    p.stderr.on('data', (d: Buffer) => { if (perr.length < 65536) perr += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { if (cerr.length < 65536) cerr += d.toString(); });
    p.stdout.pipe(c.stdin);
    c.stdin.on('error', () => { /* consumer exited early; its exit status reports it */ });
    let pending = 2;
    let failed = false;
    const done = (e?: CommandError): void => {
      if (failed) return;
      if (e) {
        failed = true;
        p.kill('SIGKILL');
        c.kill('SIGKILL');
        reject(e);
        return;
      }
      if (--pending === 0) {
        debug('%s | %s (%d ms)', pcmd, ccmd, Date.now() - started);
        resolve();
      }
    };
    const onExit = (cmd: string, errText: () => string) => (code: number | null, sig: NodeJS.Signals | null): void => {
      if (code === 0) return done();
      const kind: CommandFailure = opts.signal?.aborted ? 'aborted' : sig ? 'timeout' : 'exit';
      done(new CommandError(kind, cmd, code ?? undefined, '', errText()));
    };
    const onError = (cmd: string) => (e: NodeJS.ErrnoException): void => {
      const kind: CommandFailure = opts.signal?.aborted || e.name === 'AbortError' ? 'aborted' : e.code === 'ENOENT' ? 'not-found' : 'spawn';
      done(new CommandError(kind, cmd, undefined, '', '', kind === 'spawn' ? e.message : undefined));
    };
    p.on('error', onError(pcmd));
    c.on('error', onError(ccmd));
    p.on('exit', onExit(pcmd, () => perr));
    c.on('exit', onExit(ccmd, () => cerr));
  });
}

/** Executables found on PATH, by name. */
const whichCache = new Map<string, string>();

/** The absolute path of an executable found on PATH (or `name` itself when absolute), else undefined. */
export async function which(name: string): Promise<string | undefined> {
  if (isAbsolute(name)) return (await isExecutable(name)) ? name : undefined;
  const hit = whichCache.get(name);
  if (hit !== undefined) return hit;
  const dirs = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  let found: string | undefined;
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) { found = candidate; break; }
  }
  // Only hits are kept: a tool installed while we run is found at the next call.
  if (found !== undefined) whichCache.set(name, found);
  return found;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `p`, or a rejection with the abort reason as soon as `signal` aborts (`p` goes on; its result is dropped). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** The error to throw when `signal` aborted work: its reason when that is an Error (keeps TimeoutError), else an AbortError. */
export function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const e = new Error(typeof reason === 'string' ? reason : 'the operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** Throws `abortError(signal)` when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
