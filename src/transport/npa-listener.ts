/**
 * The Samba external-pipe listener: a unix socket at `<socket_dir>/np/fssagentrpc` that smbd
 * connects to (as root) for every SMB open of \PIPE\FssagentRpc. Each connection starts with a
 * named_pipe_auth request (4-byte big-endian length, then NDR) carrying the caller's token; we
 * answer with the 36-byte reply and then carry pipe bytes, message-framed or raw.
 *
 * Directory policy (decided): `np/` must be a real directory owned by us with no group/other
 * permission bits. We create it (0700) when missing and refuse to start otherwise — the socket
 * hands out SMB session keys and tokens, and a looser directory means someone else may have
 * planted entries there. `fsrvpd doctor --apply` fixes the mode. A stale socket is removed; a
 * live one (another server answering) or a non-socket at the path is an error.
 */
import { EventEmitter } from 'node:events';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import createDebug from 'debug';
import { NdrError } from '../ndr/index.js';
import type { CallerIdentity } from '../dcerpc/interface.js';
import { decodeNpaRequest, defaultReply, encodeNpaReply, readLengthPrefix, type NpaLevel } from './npa-codec.js';
import { frameMessages, MessageDeframer } from './npa-framing.js';
import { callerFromNpa, describeCaller, npaDetails, type NpaCallerDetails } from './token.js';
import { unlessMissing } from '../sys/enoent.js';

const log = createDebug('fsrvp:npa');

export const DEFAULT_PIPE = 'fssagentrpc';
export const DEFAULT_MAX_HANDSHAKE = 64 * 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** One accepted pipe handle, after the handshake. */
export interface NpaConnection {
  readonly id: number;
  readonly level: NpaLevel;
  readonly caller: CallerIdentity;
  readonly details: NpaCallerDetails;
  /** Sends one response PDU (one message in message mode). */
  send(pdu: Uint8Array): void;
  /** Closes the pipe handle. */
  close(): void;
  /** Flow control: stop (true) or resume (false) reading from smbd. */
  setPaused(paused: boolean): void;
}

/** What the listener feeds: pipe bytes in order, then end when smbd closes the handle. */
export interface NpaSession {
  push(bytes: Uint8Array): void;
  /** smbd closed the pipe handle in order. */
  end(): void;
  /** The socket died (error, reset, listener closing); without it, end() is called instead. */
  destroy?(): void;
}

export type NpaConnectHandler = (conn: NpaConnection) => NpaSession;

export interface NpaListenerOptions {
  /** `external_rpc_pipe:socket_dir` (the socket is `<socketDir>/np/<pipe>`). */
  readonly socketDir: string;
  /** Lower-case pipe name; default fssagentrpc. */
  readonly pipe?: string;
  /** Creates the per-connection session (the DCE/RPC stream). */
  readonly onConnection: NpaConnectHandler;
  /** Message mode (file_type 2, Samba's choice and the default) or byte mode. */
  readonly mode?: 'message' | 'byte';
  /** Largest handshake accepted (length prefix included). */
  readonly maxHandshake?: number;
  readonly handshakeTimeoutMs?: number;
  /** Optional admission policy: return a reason to refuse the caller (closed without a reply). */
  readonly admit?: (caller: CallerIdentity, details: NpaCallerDetails) => string | undefined;
}

export interface RefusedEvent {
  readonly connection: number;
  readonly reason: string;
  readonly caller?: CallerIdentity;
}

/** Checks (and creates) `<socketDir>/np`; returns its path. Throws with a fix-it message. */
export async function prepareNpDir(socketDir: string): Promise<string> {
  await mkdir(socketDir, { recursive: true, mode: 0o755 });
  const np = join(socketDir, 'np');
  try {
    await mkdir(np, { mode: 0o700 });
    await chmod(np, 0o700); // mkdir's mode is filtered by the umask
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await lstat(np);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new Error(`${np} is not a directory`);
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== me) throw new Error(`${np} is owned by uid ${st.uid}, not ${me}; fix: chown ${me} ${np}`);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(`${np} has mode ${(st.mode & 0o777).toString(8)}; it must be 0700 (fix: chmod 0700 ${np}, or fsrvpd doctor --apply)`);
  }
  return np;
}

/** Removes a stale socket at `path`; refuses a live one or anything that is not a socket. */
export async function clearStaleSocket(path: string): Promise<void> {
  const st = await unlessMissing(lstat(path));
  if (st === undefined) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket (a ${st.isSymbolicLink() ? 'symlink' : 'file'}); remove it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = netConnect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path}: another server is listening there`);
  log('removing stale socket %s', path);
  await unlink(path);
}

export class NpaListener extends EventEmitter {
  readonly path: string;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private nextId = 1;

  private constructor(private readonly opts: NpaListenerOptions, path: string) {
    super();
    this.path = path;
  }

  /** Prepares the directory, removes a stale socket and listens. */
  static async start(opts: NpaListenerOptions): Promise<NpaListener> {
    const np = await prepareNpDir(opts.socketDir);
    const path = join(np, opts.pipe ?? DEFAULT_PIPE);
    await clearStaleSocket(path);
    const l = new NpaListener(opts, path);
    await l.listen();
    return l;
  }

  /** Open pipe handles. */
  get connections(): number {
    return this.sockets.size;
  }

  private async listen(): Promise<void> {
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => {
      log('listener error: %s', e.message);
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    this.server = server;
    await chmod(this.path, 0o700);
    log('listening on %s (%s mode)', this.path, this.opts.mode ?? 'message');
  }

  /** Stops listening, closes every pipe handle and removes the socket. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.path).catch(() => {});
  }

  private refuse(s: Socket, id: number, reason: string, caller?: CallerIdentity): void {
    log('connection %d refused: %s%s', id, reason, caller ? ` (${describeCaller(caller)})` : '');
    const ev: RefusedEvent = caller ? { connection: id, reason, caller } : { connection: id, reason };
    this.emit('refused', ev);
    s.destroy();
  }

  private accept(s: Socket): void {
    const id = this.nextId++;
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', (e) => log('connection %d: %s', id, e.message));
    const max = this.opts.maxHandshake ?? DEFAULT_MAX_HANDSHAKE;
    const chunks: Buffer[] = [];
    let have = 0;
    let want = -1;
    const timer = setTimeout(() => this.refuse(s, id, 'handshake timed out'), this.opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    s.on('close', () => clearTimeout(timer));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (want < 0 && have >= 4) {
        want = 4 + readLengthPrefix(Buffer.concat(chunks).subarray(0, 4));
        if (want > max) return this.refuse(s, id, `handshake of ${want} bytes exceeds ${max}`);
      }
      if (want < 0 || have < want) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.off('end', onEnd);
      const all = Buffer.concat(chunks);
      this.handshake(s, id, all.subarray(0, want), all.subarray(want));
    };
    const onEnd = (): void => this.refuse(s, id, `closed during the handshake after ${have} bytes`);
    s.on('data', onData);
    s.on('end', onEnd);
  }

  private handshake(s: Socket, id: number, message: Buffer, rest: Buffer): void {
    let req;
    try {
      req = decodeNpaRequest(message);
    } catch (e) {
      const why = e instanceof NdrError ? e.message : String(e);
      return this.refuse(s, id, `malformed named_pipe_auth_req: ${why}`);
    }
    const caller = callerFromNpa(req);
    const details = npaDetails(req);
    const reason = this.opts.admit?.(caller, details);
    if (reason !== undefined) return this.refuse(s, id, reason, caller);
    const mode = this.opts.mode ?? 'message';
    log('connection %d: level %d, %s, client port %d', id, req.level, describeCaller(caller), details.clientPort);
    s.write(encodeNpaReply(defaultReply(req.level, mode)));
    this.emit('connection', { connection: id, caller });

    let closed = false;
    const conn: NpaConnection = {
      id,
      level: req.level,
      caller,
      details,
      send: (pdu) => {
        if (closed || s.destroyed) return;
        if (mode === 'byte') s.write(pdu);
        else for (const m of frameMessages(pdu)) s.write(m);
      },
      close: () => {
        closed = true;
        s.end();
      },
      setPaused: (paused) => {
        if (paused) s.pause();
        else s.resume();
      },
    };
    let session: NpaSession;
    try {
      session = this.opts.onConnection(conn);
    } catch (e) {
      return this.refuse(s, id, `session setup failed: ${String(e)}`, caller);
    }
    const deframer = mode === 'message' ? new MessageDeframer() : undefined;
    const feed = (chunk: Buffer): void => {
      if (closed) return;
      try {
        if (!deframer) session.push(chunk);
        else for (const m of deframer.push(chunk)) if (m.length > 0) session.push(m);
      } catch (e) {
        log('connection %d: session failed: %s', id, e instanceof Error ? e.message : String(e));
        closed = true;
        s.destroy();
      }
    };
    let ended = false;
    const finish = (orderly: boolean): void => {
      if (ended) return;
      ended = true;
      closed = true;
      log('connection %d closed%s', id, orderly ? '' : ' (socket died)');
      if (orderly || !session.destroy) session.end();
      else session.destroy();
    };
    s.on('data', feed);
    s.on('end', () => finish(true));
    s.on('close', () => finish(false));
    if (rest.length > 0) feed(rest);
  }
}
