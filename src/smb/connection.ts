/**
 * One SMB2 connection over TCP (Direct TCP transport, MS-SMB2 2.1: a zero byte and a 24-bit
 * big-endian length before each message): message ids and credits (3.2.4.1.5, 3.2.5.1.4),
 * signing and encryption of requests by session, decryption and signature checks of responses,
 * interim (STATUS_PENDING) answers, and responses matched to requests by MessageId.
 */
import { connect as netConnect, type Socket } from 'node:net';
import createDebug from 'debug';
import { NT_STATUS, SmbConnectionError, SmbError, SmbSecurityError, ntStatusName } from './errors.js';
import { COMMAND, HDR_FLAGS, HEADER_SIZE, PROTOCOL_TRANSFORM, commandName, decodeHeader, encodeHeader, type Smb2Header } from './header.js';
import { NonceSource, decryptMessage, decodeTransformHeader, encryptMessage, type CipherId } from './encryption.js';
import { signMessage, verifySignature, type SigningAlgorithm } from './signing.js';

const log = createDebug('fsrvp:smb');

/** Largest message accepted from the server (a 24-bit length allows 16 MiB). */
const MAX_MESSAGE = 0xffffff;
/** Credits the client tries to hold. */
const CREDIT_TARGET = 64;
const OPLOCK_BREAK_ID = 0xffffffffffffffffn;

/** The keys and rules of an established session, as the connection applies them. */
export interface SessionCrypto {
  readonly sessionId: bigint;
  /** Sign requests and require signed responses. */
  signing: boolean;
  signingAlg: SigningAlgorithm;
  signingKey: Uint8Array;
  /** Encrypt every request of the session (SMB2_SESSION_FLAG_ENCRYPT_DATA). */
  encryptAll: boolean;
  cipher?: CipherId;
  encryptionKey?: Uint8Array;
  decryptionKey?: Uint8Array;
  readonly nonces: NonceSource;
}

export interface RequestOptions {
  readonly sessionId?: bigint;
  readonly treeId?: number;
  /** Bytes sent and expected back beyond the fixed parts, for the credit charge. */
  readonly payloadSize?: number;
  readonly responseSize?: number;
  /** Encrypt this request (a share with SMB2_SHAREFLAG_ENCRYPT_DATA); default: the session's rule. */
  readonly encrypt?: boolean;
  readonly timeoutMs?: number;
}

export interface Response {
  readonly header: Smb2Header;
  /** The whole plaintext message (header and body). */
  readonly msg: Uint8Array;
  /** The request as sent (before encryption), for the preauth hash. */
  readonly request: Uint8Array;
}

interface Pending {
  readonly command: number;
  readonly request: Uint8Array;
  readonly sessionId: bigint;
  /** Sent encrypted: the answer must be encrypted too. */
  readonly encrypted: boolean;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  asyncId?: bigint;
}

export class SmbConnection {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly pending = new Map<bigint, Pending>();
  private readonly sessions = new Map<bigint, SessionCrypto>();
  private nextMessageId = 0n;
  private credits = 1;
  private creditWaiters: Array<() => void> = [];
  private closedError: Error | undefined;
  /** Requests that hold credits and wait for (or are about to wait for) their answer. */
  private outstanding = 0;
  /** Multi-credit requests (dialect > 2.0.2 with SMB2_GLOBAL_CAP_LARGE_MTU). */
  multiCredit = false;
  private readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    let done: () => void = () => {};
    this.closed = new Promise<void>((r) => {
      done = r;
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new SmbConnectionError(`connection failed: ${e.message}`)));
    socket.on('close', () => {
      this.fail(new SmbConnectionError('connection closed by the server'));
      done();
    });
  }

  static async open(host: string, port: number, timeoutMs = 10_000): Promise<SmbConnection> {
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SmbConnectionError(`connecting to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new SmbConnectionError(`cannot connect to ${host}:${port}: ${e.message}`));
      });
    });
    return new SmbConnection(socket);
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  get availableCredits(): number {
    return this.credits;
  }

  addSession(s: SessionCrypto): void {
    this.sessions.set(s.sessionId, s);
  }

  removeSession(id: bigint): void {
    this.sessions.delete(id);
  }

  /** Credit charge of a request with that many payload bytes either way (3.1.5.2). */
  chargeFor(payload: number, response: number): number {
    if (!this.multiCredit) return 1;
    return Math.max(1, Math.ceil(Math.max(payload, response) / 65536));
  }

  private async takeCredits(charge: number, timeoutMs: number): Promise<bigint> {
    const deadline = Date.now() + timeoutMs;
    while (this.credits < charge) {
      if (this.closedError) throw this.closedError;
      if (this.outstanding === 0) throw new SmbError(`a request needs ${charge} credits, the server granted ${this.credits}`);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new SmbError('timed out waiting for credits')), Math.max(0, deadline - Date.now()));
        this.creditWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.credits -= charge;
    this.outstanding++;
    const id = this.nextMessageId;
    this.nextMessageId += BigInt(charge);
    return id;
  }

  /** Sends one request and resolves with the final response (whatever its status). */
  async request(command: number, bodyBytes: Uint8Array, opts: RequestOptions = {}): Promise<Response> {
    if (this.closedError) throw this.closedError;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const charge = this.chargeFor(opts.payloadSize ?? 0, opts.responseSize ?? 0);
    const messageId = await this.takeCredits(charge, timeoutMs);
    try {
      return await this.send(command, bodyBytes, opts, messageId, charge, timeoutMs);
    } finally {
      this.outstanding--;
    }
  }

  private send(command: number, bodyBytes: Uint8Array, opts: RequestOptions, messageId: bigint, charge: number, timeoutMs: number): Promise<Response> {
    const sessionId = opts.sessionId ?? 0n;
    const session = this.sessions.get(sessionId);
    const want = Math.max(charge, CREDIT_TARGET - this.credits);
    const header = encodeHeader({
      command, messageId, sessionId, treeId: opts.treeId ?? 0,
      creditCharge: this.multiCredit ? charge : 0,
      credits: Math.min(want, 512),
    });
    // The plain message is built inside its transport frame (4 bytes ahead), so an unencrypted
    // request goes out without another copy.
    const plainFrame = new Uint8Array(4 + HEADER_SIZE + bodyBytes.length);
    const msg = plainFrame.subarray(4);
    msg.set(header);
    msg.set(bodyBytes, HEADER_SIZE);
    const encrypt = session !== undefined && (opts.encrypt ?? session.encryptAll);
    if (encrypt && (session.cipher === undefined || session.encryptionKey === undefined)) {
      throw new SmbSecurityError('encryption is required but no cipher was negotiated');
    }
    // An encrypted message is not signed (3.2.4.1.1); the AEAD tag protects it.
    if (session !== undefined && session.signing && !encrypt) signMessage(session.signingAlg, session.signingKey, msg);
    const wire = encrypt ? encryptMessage(session.cipher as CipherId, session.encryptionKey as Uint8Array, sessionId, msg, session.nonces) : msg;
    return new Promise<Response>((resolve, reject) => {
      const p: Pending = { command, request: msg, sessionId, encrypted: encrypt, resolve, reject };
      p.timer = setTimeout(() => {
        this.pending.delete(messageId);
        reject(new SmbError(`${commandName(command)}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(messageId, p);
      let frame = plainFrame;
      if (encrypt) {
        frame = new Uint8Array(4 + wire.length);
        frame.set(wire, 4);
      }
      new DataView(frame.buffer, frame.byteOffset, 4).setUint32(0, wire.length);
      log('-> %s mid %d (%d bytes%s)', commandName(command), messageId, wire.length, encrypt ? ', encrypted' : '');
      this.socket.write(frame);
    });
  }

  private onData(chunk: Buffer): void {
    // Messages are views of the received bytes (no copy per message); only a partial message
    // left over is joined with the next chunk.
    if (this.buf.length === 0) {
      this.buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    } else {
      const next = new Uint8Array(this.buf.length + chunk.length);
      next.set(this.buf);
      next.set(chunk, this.buf.length);
      this.buf = next;
    }
    let off = 0;
    while (this.buf.length - off >= 4) {
      const dv = new DataView(this.buf.buffer, this.buf.byteOffset + off, 4);
      const len = dv.getUint32(0);
      if (len > MAX_MESSAGE) return this.fail(new SmbError(`bad transport frame (first word 0x${len.toString(16)})`));
      if (this.buf.length - off - 4 < len) break;
      const msg = this.buf.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      try {
        this.onMessage(msg);
      } catch (e) {
        return this.fail(e instanceof SmbError ? e : new SmbError(String(e)));
      }
    }
    this.buf = off === this.buf.length ? new Uint8Array(0) : this.buf.slice(off);
  }

  private onMessage(wire: Uint8Array): void {
    let msg = wire;
    let encrypted = false;
    if (wire.length >= 4 && new DataView(wire.buffer, wire.byteOffset, 4).getUint32(0, true) === PROTOCOL_TRANSFORM) {
      const th = decodeTransformHeader(wire);
      const s = this.sessions.get(th.sessionId);
      if (s?.cipher === undefined || s.decryptionKey === undefined) throw new SmbError(`an encrypted message for unknown session 0x${th.sessionId.toString(16)}`);
      msg = decryptMessage(s.cipher, s.decryptionKey, wire);
      encrypted = true;
    }
    // A compound response: NextCommand chains 8-byte aligned messages.
    let start = 0;
    for (let n = 0; n < 256; n++) {
      const h = decodeHeader(msg.subarray(start));
      const end = h.nextCommand === 0 ? msg.length : start + h.nextCommand;
      if (end > msg.length || end < start + HEADER_SIZE) throw new SmbError(`NextCommand ${h.nextCommand} leaves the message`, start + 20);
      this.onResponse(h, msg.subarray(start, end), encrypted);
      if (h.nextCommand === 0) return;
      start = end;
    }
    throw new SmbError('more than 256 compounded responses');
  }

  private onResponse(h: Smb2Header, msg: Uint8Array, encrypted: boolean): void {
    if ((h.flags & HDR_FLAGS.SERVER_TO_REDIR) === 0) throw new SmbError('a request from the server', 16);
    this.credits += h.credits;
    if (this.credits > 0) for (const w of this.creditWaiters.splice(0)) w();
    if (h.messageId === OPLOCK_BREAK_ID) return; // no oplocks are requested; ignore
    const p = this.pending.get(h.messageId);
    if (p === undefined) throw new SmbError(`a response to message ${h.messageId}, which is not outstanding`);
    if (h.command !== p.command) throw new SmbError(`${commandName(h.command)} response to a ${commandName(p.command)} request`);
    const interim = h.status === NT_STATUS.PENDING && (h.flags & HDR_FLAGS.ASYNC_COMMAND) !== 0;
    const s = this.sessions.get(h.sessionId === 0n ? p.sessionId : h.sessionId);
    const signed = (h.flags & HDR_FLAGS.SIGNED) !== 0;
    if (p.encrypted && !encrypted && !interim) {
      return this.refuse(h.messageId, p, new SmbSecurityError(`${commandName(h.command)} response (STATUS_${ntStatusName(h.status)}) to an encrypted request is not encrypted`));
    }
    if (s !== undefined && !encrypted && !interim) {
      if (signed) {
        if (!verifySignature(s.signingAlg, s.signingKey, msg)) return this.refuse(h.messageId, p, new SmbSecurityError(`${commandName(h.command)} response has a bad signature`));
      } else if (s.signing && h.status !== NT_STATUS.PENDING) {
        return this.refuse(h.messageId, p, new SmbSecurityError(`${commandName(h.command)} response (STATUS_${ntStatusName(h.status)}) is not signed on a signed session`));
      }
    }
    if (interim) {
      p.asyncId = h.asyncId;
      log('<- %s mid %d interim, async id %d', commandName(h.command), h.messageId, h.asyncId);
      return;
    }
    this.pending.delete(h.messageId);
    clearTimeout(p.timer);
    log('<- %s mid %d STATUS_%s', commandName(h.command), h.messageId, ntStatusName(h.status));
    p.resolve({ header: h, msg, request: p.request });
  }

  private refuse(id: bigint, p: Pending, e: Error): void {
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(e);
  }

  private fail(e: Error): void {
    if (this.closedError === undefined) this.closedError = e;
    for (const [id, p] of this.pending) this.refuse(id, p, e);
    for (const w of this.creditWaiters.splice(0)) w();
    if (!this.socket.destroyed) this.socket.destroy();
  }

  /** Closes the socket (without LOGOFF; the client does that first). */
  async close(): Promise<void> {
    this.fail(new SmbConnectionError('connection closed'));
    await this.closed;
  }
}

export { COMMAND };
