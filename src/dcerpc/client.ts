/**
 * A small connection-oriented DCE/RPC client over TCP (ncacn_ip_tcp framing: raw PDUs) or over
 * any PduTransport (an SMB named pipe: RpcClient.over): bind, alter_context, fragmented requests,
 * reassembled responses, and raw PDU access for tests, replay and fuzzing. With a `ClientAuth`
 * on the bind (src/security's clientAuth), the handshake legs (bind, alter_context, auth3) and
 * signed or sealed calls (docs/DCERPC.md §8).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { decode, encode, joinBytes, type NdrType } from '../ndr/index.js';
import { handshakeAuthInfo, handshakeToken, openResponseFragment, protectsPackets, RpcAuthError, type ClientAuth } from './client-auth.js';
import { PFC, PFC_FIRST_LAST, REQUEST_HEADER_LENGTH } from './constants.js';
import { requestFragments } from './request-fragments.js';
import type { BindOptions, CallOptions, CallResult } from './client-options.js';
import { PduFramer } from './framing.js';
import { RpcFault, type Operation } from './interface.js';
import { decodePdu, encodePdu, isLittleEndian } from './pdu.js';
import type { PduTransport } from './transport.js';
import type {
  BindAckPdu, BindNakPdu, FaultPdu, Pdu, PresentationContext, ResponsePdu,
} from './pdu-types.js';

/** Largest reassembled response accepted (Samba's client limit, 240 MiB). */
const MAX_RESPONSE = 0xf000000;

export class RpcClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcClientError';
  }
}

export type { BindOptions, CallOptions, CallResult } from './client-options.js';

export class RpcClient {
  private readonly socket: Socket | undefined;
  private readonly transport: PduTransport | undefined;
  private pumping = false;
  /** Why the transport failed (its error is what readPdu then rejects with). */
  private failure: Error | undefined;
  private readonly framer = new PduFramer();
  private readonly inbox: Uint8Array[] = [];
  private readonly waiters: ((pdu: Uint8Array | null) => void)[] = [];
  private ended = false;
  private nextCallId = 1;
  /** Request fragment size the server accepts (bind_ack max_recv_frag). */
  private serverMaxRecv = 5840;
  /** The established security context, once a bind with auth completed. */
  private auth: ClientAuth | undefined;
  private readonly closedPromise: Promise<void>;

  private onClosed: () => void = () => {};

  private constructor(link: Socket | PduTransport) {
    this.closedPromise = new Promise<void>((r) => {
      this.onClosed = r;
    });
    if (!('write' in link)) {
      this.socket = undefined;
      this.transport = link;
      return;
    }
    const socket = link;
    this.socket = socket;
    this.transport = undefined;
    const onClosed = (): void => this.onClosed();
    socket.on('data', (chunk: Buffer) => {
      for (const pdu of this.framer.push(chunk)) this.deliver(pdu);
    });
    const finish = (): void => this.finish();
    socket.on('end', finish);
    socket.on('error', finish);
    socket.on('close', () => {
      finish();
      onClosed();
    });
  }

  static async connect(opts: { host?: string; port: number; timeoutMs?: number }): Promise<RpcClient> {
    const socket = netConnect({ host: opts.host ?? '127.0.0.1', port: opts.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RpcClientError('connect timed out'));
      }, opts.timeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    return new RpcClient(socket);
  }

  /** A client over a message transport (an SMB named pipe); `close()` closes the transport. */
  static over(transport: PduTransport): RpcClient {
    return new RpcClient(transport);
  }

  private finish(): void {
    this.ended = true;
    while (this.waiters.length > 0) (this.waiters.shift() as (p: Uint8Array | null) => void)(null);
  }

  /** Transport mode: pulls bytes while somebody waits for a PDU. */
  private pump(): void {
    const t = this.transport;
    if (t === undefined || this.pumping || this.ended || this.waiters.length === 0) return;
    this.pumping = true;
    t.receive().then((chunk) => {
      this.pumping = false;
      if (chunk === null) return this.finish();
      for (const pdu of this.framer.push(chunk)) this.deliver(pdu);
      if (this.framer.broken) return this.finish();
      this.pump();
    }, (e: unknown) => {
      this.pumping = false;
      this.failure ??= e instanceof Error ? e : new RpcClientError(String(e));
      this.finish();
    });
  }

  private deliver(pdu: Uint8Array): void {
    const w = this.waiters.shift();
    if (w !== undefined) w(pdu);
    else this.inbox.push(pdu);
  }

  /** A fresh call id (1, 2, 3, …) for PDUs built by hand. */
  allocateCallId(): number {
    return this.nextCallId++;
  }

  /** True once the server closed (or the socket failed). */
  get isClosed(): boolean {
    return this.ended;
  }

  /** Writes raw bytes (one or more PDUs, or garbage). */
  sendRaw(bytes: Uint8Array): void {
    if (this.transport !== undefined) {
      if (this.ended) return;
      this.transport.send(bytes).catch((e: unknown) => {
        this.failure ??= e instanceof Error ? e : new RpcClientError(String(e));
        this.finish();
      });
      return;
    }
    this.socket?.write(bytes);
  }

  /** Half-closes: the server sees end of input (the connection stays readable). TCP only. */
  endWrite(): void {
    if (this.socket === undefined) throw new RpcClientError('endWrite needs a TCP connection');
    this.socket.end();
  }

  /** The next PDU from the server as bytes, or null once the connection is closed. */
  readPdu(timeoutMs = 5000): Promise<Uint8Array | null> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return this.failure !== undefined ? Promise.reject(this.failure) : Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter = (pdu: Uint8Array | null): void => {
        clearTimeout(timer);
        if (pdu === null && this.failure !== undefined) reject(this.failure);
        else resolve(pdu);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new RpcClientError(`no PDU within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
      this.pump();
    });
  }

  /** The next PDU decoded, or null once the connection is closed. */
  async readDecoded(timeoutMs = 5000): Promise<Pdu | null> {
    const bytes = await this.readPdu(timeoutMs);
    return bytes === null ? null : decodePdu(bytes);
  }

  /** Resolves true when the server closes the connection within the time, else false. */
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    });
    const closed = this.closedPromise.then(() => true);
    const result = await Promise.race([closed, timeout]);
    clearTimeout(timer);
    return result;
  }

  /** Sends a bind and returns the server's answer (bind_ack or bind_nak), running the auth legs first when `opts.auth` is set. */
  async bind(opts: BindOptions): Promise<BindAckPdu | BindNakPdu> {
    const callId = opts.callId ?? this.allocateCallId();
    const auth = opts.auth;
    let pfcFlags = opts.pfcFlags ?? PFC_FIRST_LAST;
    let first: { status: 'continue' | 'done'; token: Uint8Array } | undefined;
    if (auth !== undefined) {
      const s = await auth.step(new Uint8Array(0));
      if (s.status === 'rejected') throw new RpcAuthError(s.reason);
      first = s;
      if (auth.headerSigning) pfcFlags |= PFC.SUPPORT_HEADER_SIGN;
    }
    const token = first?.token ?? new Uint8Array(0);
    this.sendRaw(encodePdu({
      kind: 'bind',
      header: { callId, pfcFlags, ...(auth !== undefined ? { authLength: token.length } : {}) },
      maxXmitFrag: opts.maxXmitFrag ?? 5840,
      maxRecvFrag: opts.maxRecvFrag ?? 5840,
      assocGroupId: opts.assocGroupId ?? 0,
      contexts: opts.contexts,
      authInfo: auth !== undefined ? handshakeAuthInfo(auth, token) : new Uint8Array(0),
    }));
    const reply = await this.expect(opts.timeoutMs);
    if (reply.kind === 'bind_nak') return reply;
    if (reply.kind !== 'bind_ack') throw new RpcClientError(`bind answered with ${reply.kind}`);
    this.serverMaxRecv = reply.maxRecvFrag;
    if (auth === undefined || first === undefined) return reply;
    auth.setHeaderSigning(auth.headerSigning && (reply.header.pfcFlags & PFC.SUPPORT_HEADER_SIGN) !== 0);
    await this.authLegs(auth, first.status, reply, opts, callId);
    this.auth = auth;
    return reply;
  }

  /** The legs after bind_ack: alter_context while the mechanism continues, auth3 for a last token. */
  private async authLegs(auth: ClientAuth, status: 'continue' | 'done', ack: BindAckPdu, opts: BindOptions, callId: number): Promise<void> {
    let answer = ack;
    while (status === 'continue') {
      const s = await auth.step(handshakeToken(auth, answer.header, answer.authInfo));
      if (s.status === 'rejected') throw new RpcAuthError(s.reason);
      if (s.status === 'done') {
        if (s.token.length > 0) {
          this.sendRaw(encodePdu({
            kind: 'auth3', header: { callId, pfcFlags: PFC_FIRST_LAST, authLength: s.token.length }, pad: 0,
            authInfo: handshakeAuthInfo(auth, s.token),
          }));
        }
        return;
      }
      this.sendRaw(encodePdu({
        kind: 'alter_context',
        header: { callId: this.allocateCallId(), pfcFlags: PFC_FIRST_LAST, authLength: s.token.length },
        maxXmitFrag: opts.maxXmitFrag ?? 5840,
        maxRecvFrag: opts.maxRecvFrag ?? 5840,
        assocGroupId: ack.assocGroupId,
        contexts: opts.contexts,
        authInfo: handshakeAuthInfo(auth, s.token),
      }));
      const reply = await this.expect(opts.timeoutMs);
      if (reply.kind === 'fault') throw new RpcAuthError(`the server refused the authentication (fault 0x${reply.status.toString(16).padStart(8, '0')})`);
      if (reply.kind !== 'alter_context_resp') throw new RpcClientError(`alter_context answered with ${reply.kind}`);
      answer = reply;
    }
  }

  /** Sends an alter_context and returns the answer (alter_context_resp or fault). */
  async alterContext(opts: { contexts: readonly PresentationContext[]; callId?: number; pfcFlags?: number; timeoutMs?: number }): Promise<BindAckPdu | FaultPdu> {
    const callId = opts.callId ?? this.allocateCallId();
    this.sendRaw(encodePdu({
      kind: 'alter_context',
      header: { callId, pfcFlags: opts.pfcFlags ?? PFC_FIRST_LAST },
      maxXmitFrag: 5840,
      maxRecvFrag: 5840,
      assocGroupId: 0,
      contexts: opts.contexts,
      authInfo: new Uint8Array(0),
    }));
    const reply = await this.expect(opts.timeoutMs);
    if (reply.kind === 'alter_context_resp' || reply.kind === 'fault') return reply;
    throw new RpcClientError(`alter_context answered with ${reply.kind}`);
  }

  /**
   * The request PDUs `call` would send, without sending them. On a protected connection they
   * are signed or sealed, which consumes the mechanism's sequence numbers: send them, in order.
   */
  buildRequest(contextId: number, opnum: number, stub: Uint8Array, opts: CallOptions & { callId: number }): Uint8Array[] {
    const auth = this.auth !== undefined && protectsPackets(this.auth) ? this.auth : undefined;
    return requestFragments({
      contextId, opnum, stub, callId: opts.callId, fragmentSize: opts.fragmentSize ?? this.serverMaxRecv,
      ...(opts.objectUuid !== undefined ? { objectUuid: opts.objectUuid } : {}),
      ...(opts.bigEndian !== undefined ? { bigEndian: opts.bigEndian } : {}),
      ...(auth !== undefined ? { auth } : {}),
    });
  }

  /** Sends a request (fragmented as needed) and reassembles the response, or returns the fault. */
  async call(contextId: number, opnum: number, stub: Uint8Array, opts: CallOptions = {}): Promise<CallResult> {
    const callId = opts.callId ?? this.allocateCallId();
    for (const pdu of this.buildRequest(contextId, opnum, stub, { ...opts, callId })) this.sendRaw(pdu);
    return this.readResponse(callId, opts.timeoutMs);
  }

  /** Reads response fragments of `callId` until LAST (or a fault); on a protected connection each is verified and unsealed. */
  async readResponse(callId: number, timeoutMs?: number): Promise<CallResult> {
    const pdus: ResponsePdu[] = [];
    const parts: Uint8Array[] = [];
    let total = 0;
    const auth = this.auth !== undefined && protectsPackets(this.auth) ? this.auth : undefined;
    for (;;) {
      const raw = await this.readPdu(timeoutMs);
      if (raw === null) throw new RpcClientError('connection closed by the server');
      const reply = decodePdu(raw);
      if (reply.header.callId !== callId) {
        throw new RpcClientError(`${reply.kind} for call ${reply.header.callId}, expected ${callId}`);
      }
      if (reply.kind === 'fault') return { fault: reply };
      if (reply.kind !== 'response') throw new RpcClientError(`request answered with ${reply.kind}`);
      if (pdus.length === 0 && !(reply.header.pfcFlags & PFC.FIRST_FRAG)) {
        throw new RpcClientError('first response fragment lacks PFC_FIRST_FRAG');
      }
      const part = auth !== undefined
        ? openResponseFragment(auth, reply.header, raw, reply.stubAndVerifier, REQUEST_HEADER_LENGTH)
        : reply.stubAndVerifier;
      pdus.push(reply);
      parts.push(part);
      total += part.length;
      if (total > MAX_RESPONSE) throw new RpcClientError('response larger than 240 MiB');
      if (reply.header.pfcFlags & PFC.LAST_FRAG) break;
    }
    return { stub: parts.length === 1 ? parts[0]! : joinBytes(parts), pdus };
  }

  /**
   * Calls a declared operation: encodes `req` with `op.request`, decodes the response with
   * `op.response` (trailing bytes ignored). A fault is thrown as RpcFault.
   */
  async callOp<Req, Res>(op: Operation<Req, Res>, req: Req, opts: CallOptions & { contextId?: number } = {}): Promise<Res> {
    const stub = encode(op.request, req, { littleEndian: !opts.bigEndian });
    const r = await this.call(opts.contextId ?? 0, op.opnum, stub, opts);
    if (r.fault !== undefined) throw new RpcFault(r.fault.status, `${op.name}: fault 0x${r.fault.status.toString(16).padStart(8, '0')}`);
    const le = r.pdus.length > 0 ? isLittleEndian((r.pdus[0] as ResponsePdu).header.drep) : true;
    return decodeResponse(op.response, r.stub, le);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (this.transport !== undefined) {
      this.finish();
      try {
        await this.transport.close();
      } finally {
        this.onClosed();
      }
      return;
    }
    if (this.socket !== undefined && !this.socket.destroyed) this.socket.destroy();
    await this.closedPromise;
  }

  private async expect(timeoutMs?: number): Promise<Pdu> {
    const pdu = await this.readDecoded(timeoutMs);
    if (pdu === null) throw new RpcClientError('connection closed by the server');
    return pdu;
  }
}

function decodeResponse<Res>(type: NdrType<Res>, stub: Uint8Array, littleEndian: boolean): Res {
  return decode(type, stub, { littleEndian }).value;
}
