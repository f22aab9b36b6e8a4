/**
 * KCM: credential caches, read from the cache manager daemon (Heimdal's kcm, sssd-kcm) over its
 * Unix socket, as MIT's client speaks to it: `[libdefaults] kcm_socket`, else
 * /var/run/.heim_org.h5l.kcm-socket.
 *
 * A request is a u32 big-endian length, then protocol version 2.0 (two bytes), a u16 opcode and
 * the operation's arguments; a reply is a u32 length, a u32 transport status outside that length,
 * then `length` bytes: the operation's u32 status and its result. Names are NUL-terminated,
 * principals and credentials marshalled as the v4 FILE format, UUIDs 16 bytes, a UUID list runs
 * to the end of its reply. Read here: GET_DEFAULT_CACHE (for "KCM:" alone), GET_PRINCIPAL,
 * GET_CRED_UUID_LIST, GET_CRED_BY_UUID and GET_KDC_OFFSET. Every reply is bounded and checked, so
 * what the daemon sends decodes or is a CcacheError.
 */
import { connect, type Socket } from 'node:net';
import { CcacheError, MAX_CREDENTIALS, parseCredential, parsePrincipal, type Ccache, type CcacheCredential } from './ccache.js';

export const DEFAULT_KCM_SOCKET = '/var/run/.heim_org.h5l.kcm-socket';

export const KCM_OP = {
  getPrincipal: 8, getCredUuidList: 9, getCredByUuid: 10, getDefaultCache: 20, getKdcOffset: 22,
} as const;

/** Largest reply accepted (MIT's client takes 10 MiB). */
const MAX_REPLY = 10 << 20;
const UUID_LENGTH = 16;
/** krb5 error codes a daemon answers for a cache that is not there. */
const NOT_FOUND = new Set([-1765328243 /* KRB5_CC_NOTFOUND */, -1765328189 /* KRB5_FCC_NOFILE */, 2 /* ENOENT */]);

const kcmError = (what: string): CcacheError => new CcacheError(-1, what);

/** Splits one reply frame off `buf`: undefined until it is whole. */
export function takeKcmReply(buf: Uint8Array): { transport: number; body: Uint8Array; rest: Uint8Array } | undefined {
  if (buf.length < 8) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = v.getUint32(0);
  const transport = v.getInt32(4);
  if (transport !== 0) return { transport, body: new Uint8Array(0), rest: buf.subarray(8) };
  if (length > MAX_REPLY) throw kcmError(`KCM reply of ${length} bytes (at most ${MAX_REPLY})`);
  if (buf.length < 8 + length) return undefined;
  return { transport, body: buf.subarray(8, 8 + length), rest: buf.subarray(8 + length) };
}

/** The result of a reply body: its status must be 0. */
export function kcmResult(body: Uint8Array, op: number): { status: number; result: Uint8Array } {
  if (body.length < 4) throw kcmError(`KCM reply to opcode ${op} of ${body.length} bytes, no status`);
  return { status: new DataView(body.buffer, body.byteOffset, 4).getInt32(0), result: body.subarray(4) };
}

/** A NUL-terminated name (the whole result). */
export function kcmName(result: Uint8Array): string {
  const nul = result.indexOf(0);
  if (nul <= 0 || nul !== result.length - 1) throw kcmError('KCM cache name is not one NUL-terminated string');
  return Buffer.from(result.subarray(0, nul)).toString('utf8');
}

/** A UUID list (the whole result). */
export function kcmUuids(result: Uint8Array): Uint8Array[] {
  if (result.length % UUID_LENGTH !== 0) throw kcmError(`KCM UUID list of ${result.length} bytes`);
  const n = result.length / UUID_LENGTH;
  if (n > MAX_CREDENTIALS) throw kcmError(`KCM cache of ${n} credentials (at most ${MAX_CREDENTIALS})`);
  return Array.from({ length: n }, (_, i) => result.subarray(i * UUID_LENGTH, (i + 1) * UUID_LENGTH));
}

function request(op: number, args: readonly Uint8Array[]): Uint8Array {
  const len = 4 + args.reduce((n, a) => n + a.length, 0);
  const out = new Uint8Array(4 + len);
  const v = new DataView(out.buffer);
  v.setUint32(0, len);
  out[4] = 2;
  out[5] = 0;
  v.setUint16(6, op);
  let off = 8;
  for (const a of args) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

const nulName = (name: string): Uint8Array => {
  const b = Buffer.from(name, 'utf8');
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
};

/** One connection to the daemon; calls run one at a time. */
class KcmConnection {
  private buf: Uint8Array = new Uint8Array(0);
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; op: number } | undefined;
  private failed: Error | undefined;

  private constructor(private readonly socket: Socket, private readonly path: string) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(kcmError(`KCM daemon at ${path}: ${e.message}`)));
    socket.on('close', () => this.fail(kcmError(`KCM daemon at ${path} closed the connection`)));
  }

  static open(path: string, timeoutMs: number): Promise<KcmConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(kcmError(`KCM daemon at ${path}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new KcmConnection(s, path));
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const missing = e.code === 'ENOENT' || e.code === 'ECONNREFUSED';
        reject(kcmError(missing
          ? `no KCM daemon at ${path} (start kcm or sssd-kcm, or set kcm_socket in [libdefaults] of krb5.conf)`
          : `KCM daemon at ${path}: ${e.message}`));
      });
    });
  }

  private onData(d: Buffer): void {
    const joined = new Uint8Array(this.buf.length + d.length);
    joined.set(this.buf);
    joined.set(d, this.buf.length);
    this.buf = joined;
    const w = this.waiting;
    if (w === undefined) return;
    let frame;
    try {
      frame = takeKcmReply(this.buf);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (frame === undefined) return;
    this.buf = frame.rest;
    this.waiting = undefined;
    if (frame.transport !== 0) w.reject(kcmError(`KCM daemon at ${this.path} refused opcode ${w.op}: error ${frame.transport}`));
    else w.resolve(frame.body);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
    this.socket.destroy();
  }

  /** The result of `op`, or the operation's nonzero status as `{ status }`. */
  call(op: number, args: readonly Uint8Array[], timeoutMs: number): Promise<{ status: number; result: Uint8Array }> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(kcmError(`KCM daemon at ${this.path}: no answer to opcode ${op} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = {
        op,
        resolve: (b) => { clearTimeout(timer); resolve(b); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.socket.write(request(op, args));
    }).then((body) => kcmResult(body, op));
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface KcmCache {
  /** "KCM:<name>" of the cache read. */
  readonly displayName: string;
  readonly ccache: Ccache;
}

/**
 * Reads the KCM cache `residual` names (the part after "KCM:"; empty: the daemon's default cache
 * for this user) from the daemon at `socketPath`.
 */
export async function readKcmCcache(residual: string, socketPath: string = DEFAULT_KCM_SOCKET, timeoutMs = 5000): Promise<KcmCache> {
  const c = await KcmConnection.open(socketPath, timeoutMs);
  try {
    const must = async (op: number, args: readonly Uint8Array[], what: string, name: string): Promise<Uint8Array> => {
      const r = await c.call(op, args, timeoutMs);
      if (r.status === 0) return r.result;
      if (NOT_FOUND.has(r.status)) throw kcmError(`no credential cache KCM:${name} (run kinit first)`);
      throw kcmError(`KCM:${name}: ${what} failed with error ${r.status}`);
    };
    const name = residual !== '' ? residual : kcmName(await must(KCM_OP.getDefaultCache, [], 'the default cache', ''));
    const n = nulName(name);
    const principal = parsePrincipal(await must(KCM_OP.getPrincipal, [n], 'the principal', name));
    const credentials: CcacheCredential[] = [];
    for (const uuid of kcmUuids(await must(KCM_OP.getCredUuidList, [n], 'the credential list', name))) {
      credentials.push(parseCredential(await must(KCM_OP.getCredByUuid, [n, uuid], 'a credential', name)));
    }
    const off = await c.call(KCM_OP.getKdcOffset, [n], timeoutMs);
    const seconds = off.status === 0 && off.result.length === 4 ? new DataView(off.result.buffer, off.result.byteOffset, 4).getInt32(0) : 0;
    return {
      displayName: `KCM:${name}`,
      ccache: { version: 4, ...(seconds !== 0 ? { kdcOffset: { seconds, microseconds: 0 } } : {}), principal, credentials },
    };
  } finally {
    c.close();
  }
}
