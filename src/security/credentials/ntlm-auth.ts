/**
 * Samba's `ntlm_auth --helper-protocol=ntlm-server-1` as a long-lived child: it hands an NTLM
 * challenge/response to winbindd (which asks the domain's DC over NETLOGON, or checks it itself
 * on an AD DC) and answers whether it is right, with the user session key when asked. No
 * password or hash ever comes here.
 *
 * The protocol (facts from Samba 4.17's source3/utils/ntlm_auth.c): a request is lines
 * `Key: value` (or `Key:: base64`), ended by a line `.`. Keys used here: `Username`,
 * `NT-Domain` (both sent base64, so that no name can look like protocol), `LANMAN-Challenge`
 * (8 bytes, hex), `NT-Response` (hex, at least 24 bytes) and `Request-User-Session-Key: Yes`.
 * The answer is lines ended by `.`: `Authenticated: Yes` with `User-Session-Key: <hex>` (left
 * out when it is all zeros), or `Authenticated: No` with `Authentication-Error: <text>`, or
 * `Error: <text>`. The child answers one request at a time (its state is global). A refusal is
 * followed by a second, empty `.` block, so empty blocks are skipped. The protocol carries no
 * NTLM flags: key exchange, signing and sealing stay with our acceptor.
 *
 * Behaviour: the child starts at the first request and again after it died; requests queue (at
 * most `maxQueue`, then they are refused at once); a request that gets no answer within
 * `timeoutMs` kills the child (it is stuck, and answers are matched by order).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import createDebug from 'debug';
import { SCRUBBED_ENV } from '../../sys/helper-process.js';

const log = createDebug('fsrvp:winbind');

export const DEFAULT_NTLM_AUTH = '/usr/bin/ntlm_auth';

export interface NtlmAuthRequest {
  readonly user: string;
  readonly domain: string;
  readonly serverChallenge: Uint8Array;
  readonly ntResponse: Uint8Array;
}

export type NtlmAuthAnswer =
  | { readonly kind: 'authenticated'; readonly userSessionKey?: Uint8Array }
  | { readonly kind: 'refused'; readonly error: string }
  | { readonly kind: 'error'; readonly error: string };

/** A name may not carry what would break a line of the protocol or end a C string early. */
const BAD_NAME = /[\u0000-\u001f\u007f]/;

/** The request's lines, or a reason it cannot be sent. */
export function encodeNtlmAuthRequest(r: NtlmAuthRequest): string | { readonly invalid: string } {
  if (r.serverChallenge.length !== 8) return { invalid: 'the server challenge is not 8 bytes' };
  if (r.ntResponse.length < 24) return { invalid: 'the NT response is shorter than 24 bytes' };
  if (r.user.length === 0 || r.user.length > 256 || BAD_NAME.test(r.user)) return { invalid: 'unusable user name' };
  if (r.domain.length > 256 || BAD_NAME.test(r.domain)) return { invalid: 'unusable domain name' };
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  const lines = [
    `Username:: ${b64(r.user)}`,
    // An empty NT-Domain would make ntlm_auth use its own domain: the same as sending none.
    ...(r.domain.length > 0 ? [`NT-Domain:: ${b64(r.domain)}`] : []),
    `LANMAN-Challenge: ${hex(r.serverChallenge)}`,
    `NT-Response: ${hex(r.ntResponse)}`,
    'Request-User-Session-Key: Yes',
    '.',
  ];
  return `${lines.join('\n')}\n`;
}

/** Reads one answer block (its lines without the final `.`); total: anything else is an `error`. */
export function parseNtlmAuthAnswer(lines: readonly string[]): NtlmAuthAnswer {
  const fields = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(': ');
    if (i > 0 && !fields.has(l.slice(0, i))) fields.set(l.slice(0, i), l.slice(i + 2).trim());
  }
  const auth = fields.get('Authenticated');
  if (auth === 'Yes') {
    const k = fields.get('User-Session-Key');
    if (k === undefined) return { kind: 'authenticated' };
    if (!/^[0-9a-fA-F]{32}$/.test(k)) return { kind: 'error', error: `ntlm_auth sent a malformed User-Session-Key (${k.length} characters)` };
    return { kind: 'authenticated', userSessionKey: Uint8Array.from(Buffer.from(k, 'hex')) };
  }
  if (auth === 'No') return { kind: 'refused', error: fields.get('Authentication-Error') ?? 'no reason given' };
  const err = fields.get('Error');
  if (err !== undefined) return { kind: 'error', error: err };
  return { kind: 'error', error: `unexpected answer from ntlm_auth: ${JSON.stringify(lines.join(' | ').slice(0, 200))}` };
}

export interface NtlmAuthOptions {
  /** The ntlm_auth binary (default /usr/bin/ntlm_auth). */
  readonly ntlmAuth?: string;
  /** smb.conf ntlm_auth loads (`--configfile`); default its compiled-in one. */
  readonly smbConf?: string;
  /** Longest wait for one answer (default 15 s; winbindd may have to reach a DC). */
  readonly timeoutMs?: number;
  /** Requests waiting behind the one in flight; more are refused at once (default 64). */
  readonly maxQueue?: number;
}

/** ntlm_auth cannot answer: not installed, died, stuck, busy or closed. The verifier turns it into a refusal. */
export class NtlmAuthUnavailable extends Error {
  override readonly name = 'NtlmAuthUnavailable';
}

interface Job {
  readonly text: string;
  resolve(a: NtlmAuthAnswer): void;
  reject(e: Error): void;
}

export class NtlmAuthHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly queue: Job[] = [];
  private current: { job: Job; timer: NodeJS.Timeout } | undefined;
  private buffered = '';
  private block: string[] = [];
  private closed = false;
  /** How many times a child was started (for tests and logs). */
  starts = 0;

  constructor(private readonly opts: NtlmAuthOptions = {}) {}

  get command(): { file: string; args: string[] } {
    return {
      file: this.opts.ntlmAuth ?? DEFAULT_NTLM_AUTH,
      args: ['--helper-protocol=ntlm-server-1', ...(this.opts.smbConf !== undefined ? [`--configfile=${this.opts.smbConf}`] : [])],
    };
  }

  /** Asks winbind (through ntlm_auth) about one response. Rejects with NtlmAuthUnavailable only. */
  check(r: NtlmAuthRequest): Promise<NtlmAuthAnswer> {
    const text = encodeNtlmAuthRequest(r);
    if (typeof text !== 'string') return Promise.resolve({ kind: 'error', error: text.invalid });
    if (this.closed) return Promise.reject(new NtlmAuthUnavailable('the winbind verifier is closed'));
    const max = this.opts.maxQueue ?? 64;
    if (this.queue.length >= max) return Promise.reject(new NtlmAuthUnavailable(`ntlm_auth is busy (${max} requests waiting)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ text, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.current !== undefined || this.queue.length === 0) return;
    const job = this.queue.shift() as Job;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.child ?? this.spawnChild();
    } catch (e) {
      job.reject(new NtlmAuthUnavailable(`cannot start ${this.command.file}: ${(e as Error).message}`));
      this.pump();
      return;
    }
    const timeoutMs = this.opts.timeoutMs ?? 15_000;
    const timer = setTimeout(() => {
      log('ntlm_auth gave no answer within %d ms: killing it', timeoutMs);
      this.fail(child, new NtlmAuthUnavailable(`ntlm_auth gave no answer within ${timeoutMs} ms (winbindd stuck?)`));
      child.kill('SIGKILL');
    }, timeoutMs);
    this.current = { job, timer };
    child.stdin.write(job.text);
  }

  private spawnChild(): ChildProcessWithoutNullStreams {
    const { file, args } = this.command;
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...SCRUBBED_ENV } });
    this.starts++;
    this.child = child;
    this.buffered = '';
    this.block = [];
    log('started %s %s (pid %s)', file, args.join(' '), child.pid ?? '?');
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => this.onData(child, d));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => log('ntlm_auth stderr: %s', d.trimEnd()));
    child.stdin.on('error', () => undefined); // reported by 'exit'
    child.on('error', (e) => {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      this.fail(child, new NtlmAuthUnavailable(missing ? `${file} not found (Debian package winbind)` : `${file}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      log('ntlm_auth (pid %s) exited (%s)', child.pid ?? '?', signal ?? code);
      this.fail(child, new NtlmAuthUnavailable(`ntlm_auth exited (${signal ?? `status ${code}`}) before answering`));
    });
    return child;
  }

  /** The child is gone or useless: fail the request in flight, forget the child, go on with the queue. */
  private fail(child: ChildProcessWithoutNullStreams, e: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const cur = this.current;
    this.current = undefined;
    if (cur !== undefined) {
      clearTimeout(cur.timer);
      cur.job.reject(e);
    }
    if (!this.closed) this.pump();
  }

  private onData(child: ChildProcessWithoutNullStreams, d: string): void {
    if (this.child !== child) return;
    this.buffered += d;
    if (this.buffered.length > 1 << 20) {
      this.fail(child, new NtlmAuthUnavailable('ntlm_auth sent an over-long line'));
      return;
    }
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line !== '.') {
        this.block.push(line);
        continue;
      }
      const lines = this.block;
      this.block = [];
      if (lines.length === 0) continue; // the second '.' after a refusal
      const cur = this.current;
      if (cur === undefined) {
        this.fail(child, new NtlmAuthUnavailable('ntlm_auth answered a question nobody asked'));
        return;
      }
      this.current = undefined;
      clearTimeout(cur.timer);
      cur.job.resolve(parseNtlmAuthAnswer(lines));
    }
    this.pump();
  }

  /** Refuses what waits, stops the child. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new NtlmAuthUnavailable('the winbind verifier is closed'));
    const child = this.child;
    if (child === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.fail(child, new NtlmAuthUnavailable('the winbind verifier is closed'));
    child.stdin.end();
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
