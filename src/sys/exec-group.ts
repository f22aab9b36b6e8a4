/**
 * Runs an operator's program (a snapshot hook) in a process group of its own, with an argument
 * array and exactly the environment given. A timeout or an abort kills the whole group, so a
 * shell script's children (`zfs`, `lvcreate`, a `sleep`) go too and cannot hold the output pipes
 * open. Output is bounded: stdout up to `maxStdout` (more kills the group), the last 64 KiB of
 * stderr. With `dieWithParent` the program gets SIGKILL if this process dies first (util-linux
 * `setpriv --pdeathsig`, where installed), so an agent killed mid-call leaves no hook running on
 * after it, making a snapshot that the restarted agent's reconciliation has already looked for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import createDebug from 'debug';
import { CommandError, commandLine } from './exec.js';

const debug = createDebug('fsrvp:exec');

const STDERR_KEEP = 64 * 1024;
/** After the program exits, how long its pipes may stay open (a child it left behind) before we stop reading. */
const CLOSE_GRACE_MS = 200;
const SETPRIV = '/usr/bin/setpriv';
let setprivPresent: boolean | undefined;

export interface GroupRunOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly env: Readonly<Record<string, string>>;
  readonly maxStdout: number;
  /** SIGKILL the program when this process dies (setpriv --pdeathsig KILL; nothing where setpriv is missing). */
  readonly dieWithParent?: boolean;
  /** Each complete line of stderr as it arrives (progress reports). */
  readonly onStderrLine?: (line: string) => void;
}

export interface GroupRunResult {
  /** Exit status, or null when a signal ended it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why we killed it, if we did. */
  readonly killed?: 'timeout' | 'aborted' | 'overflow';
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Resolves when the program has exited (whatever its status); rejects only with a CommandError
 * of kind 'not-found' or 'spawn' when it could not be started, or 'aborted' before the start.
 */
export function runGroup(file: string, args: readonly string[], opts: GroupRunOptions): Promise<GroupRunResult> {
  const cmd = commandLine(file, args);
  if (opts.signal?.aborted) return Promise.reject(new CommandError('aborted', cmd, undefined, '', '', 'aborted before start'));
  const started = Date.now();
  return new Promise<GroupRunResult>((resolve, reject) => {
    setprivPresent ??= existsSync(SETPRIV);
    const [exe, argv] = opts.dieWithParent && setprivPresent ? [SETPRIV, ['--pdeathsig', 'KILL', '--', file, ...args]] : [file, [...args]];
    const child = spawn(exe, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...opts.env } });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = Buffer.alloc(0);
    let killed: GroupRunResult['killed'];
    let code: number | null = null;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const kill = (why: NonNullable<GroupRunResult['killed']>): void => {
      killed ??= why;
      killGroup(child.pid);
    };
    const timer = opts.timeoutMs > 0 ? setTimeout(() => kill('timeout'), opts.timeoutMs) : undefined;
    const onAbort = (): void => kill('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = err.toString('utf8');
      debug('%s: status %s%s (%d ms)', cmd, code ?? 'none', killed ? `, killed (${killed})` : '', Date.now() - started);
      resolve(killed ? { code, stdout, stderr, killed } : { code, stdout, stderr });
    };

    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > opts.maxStdout) kill('overflow');
      else out.push(d);
    });
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      err = Buffer.concat([err, d]);
      if (err.length > STDERR_KEEP) err = err.subarray(err.length - STDERR_KEEP);
      if (!opts.onStderrLine) return;
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = (lines.pop() as string).slice(-STDERR_KEEP);
      for (const line of lines) opts.onStderrLine(line);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new CommandError(e.code === 'ENOENT' || e.code === 'EACCES' ? 'not-found' : 'spawn', cmd, undefined, '', '', e.message));
    });
    child.once('exit', (status) => {
      code = status;
      grace = setTimeout(finish, CLOSE_GRACE_MS);
    });
    child.once('close', finish);
  });
}
