/**
 * The SMB2/3 client our tools use to reach named pipes: connect (NEGOTIATE and SESSION_SETUP),
 * TREE_CONNECT, CREATE, READ, WRITE, IOCTL, CLOSE, TREE_DISCONNECT, LOGOFF. Every failure is an
 * SmbError (a typed SmbStatusError for NTSTATUS answers, SmbSecurityError when signing or
 * encryption cannot be had).
 */
import { MECH_OID, type GssContext } from '../security/gss.js';
import { NtlmInitiator, type NtlmCredentials } from '../security/ntlmssp/index.js';
import { createSpnegoInitiator } from '../security/spnego/index.js';
import type { SpnegoMechanism } from '../security/spnego/mech.js';
import { KerberosInitiator } from '../security/kerberos/initiator.js';
import type { ServiceTicket } from '../security/kerberos/kdc-client.js';
import { NT_STATUS, SmbError, SmbSecurityError } from './errors.js';
import { COMMAND, type Dialect } from './header.js';
import { SmbConnection, type RequestOptions, type Response } from './connection.js';
import {
  ACCESS, DISPOSITION, FSCTL_PIPE_TRANSCEIVE, IMPERSONATION, SHARE_ACCESS, SHARE_FLAG, decodeCloseResponse, decodeCreateResponse,
  decodeEmpty4, decodeIoctlResponse, decodeReadResponse, decodeTreeConnectResponse, decodeWriteResponse, encodeCloseRequest,
  encodeCreateRequest, encodeEmpty4, encodeIoctlRequest, encodeReadRequest, encodeTreeConnectRequest, encodeWriteRequest,
  type FileId, type TreeConnectResponse,
} from './messages.js';
import { negotiate, sessionSetup, statusError, type EstablishedSession, type Negotiated, type NegotiateOptions } from './session.js';
import type { CipherId } from './encryption.js';
import { needsValidation, validateNegotiate } from './validate.js';
import type { SigningAlgorithm } from './signing.js';

export interface SmbClientOptions extends NegotiateOptions {
  readonly host?: string;
  readonly port?: number;
  /** NTLMv2 credentials (SPNEGO-wrapped). */
  readonly credentials?: NtlmCredentials;
  /** A Kerberos service ticket for cifs/<host>: SPNEGO offers Kerberos first (then NTLM with credentials). */
  readonly kerberos?: ServiceTicket;
  /** Another GSS initiator instead; takes precedence over credentials and kerberos. */
  readonly gss?: () => GssContext;
  readonly timeoutMs?: number;
}

/** Largest single READ/WRITE/IOCTL payload asked for (one credit's worth times 8). */
const MAX_IO = 8 * 65536;

export class SmbClient {
  private loggedOff = false;
  private validated = false;
  private constructor(
    readonly conn: SmbConnection,
    readonly negotiated: Negotiated,
    readonly session: EstablishedSession,
    readonly host: string,
    readonly timeoutMs: number,
    /** The GSS mechanism (OID) the session was set up with; SPNEGO's inner one when it is SPNEGO. */
    readonly logonMech: string,
  ) {}

  static async connect(opts: SmbClientOptions): Promise<SmbClient> {
    const host = opts.host ?? '127.0.0.1';
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const conn = await SmbConnection.open(host, opts.port ?? 445, timeoutMs);
    try {
      const neg = await negotiate(conn, opts);
      const gss = opts.gss?.() ?? smbInitiator(opts);
      const session = await sessionSetup(conn, neg, gss, timeoutMs);
      const mech = (gss as { negotiatedMech?: string }).negotiatedMech ?? gss.mechOid;
      return new SmbClient(conn, neg, session, host, timeoutMs, mech);
    } catch (e) {
      await conn.close();
      throw e;
    }
  }

  get dialect(): Dialect {
    return this.negotiated.dialect;
  }
  get cipher(): CipherId | undefined {
    return this.session.crypto.cipher;
  }
  get signingAlgorithm(): SigningAlgorithm {
    return this.session.crypto.signingAlg;
  }
  /** FSCTL_VALIDATE_NEGOTIATE_INFO done (3.0 and 3.0.2 signed sessions, at the first tree connect). */
  get negotiateValidated(): boolean {
    return this.validated;
  }
  get signing(): boolean {
    return this.session.crypto.signing;
  }
  get encryptingAll(): boolean {
    return this.session.crypto.encryptAll;
  }

  /** Largest I/O the server and our credit policy allow for one READ/WRITE/IOCTL. */
  maxIo(kind: 'read' | 'write' | 'transact'): number {
    const s = this.negotiated.server;
    const limit = kind === 'read' ? s.maxReadSize : kind === 'write' ? s.maxWriteSize : s.maxTransactSize;
    return Math.max(1, Math.min(limit, this.conn.multiCredit ? MAX_IO : 65536));
  }

  async request(command: number, body: Uint8Array, opts: RequestOptions = {}): Promise<Response> {
    return this.conn.request(command, body, { timeoutMs: this.timeoutMs, ...opts, sessionId: this.session.sessionId });
  }

  /** TREE_CONNECT to \\host\share (IPC$ for named pipes). */
  async treeConnect(share: string): Promise<SmbTree> {
    const path = `\\\\${this.host}\\${share}`;
    const res = await this.request(COMMAND.TREE_CONNECT, encodeTreeConnectRequest(path));
    if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, `tree connect to ${path}`);
    const t = decodeTreeConnectResponse(res.msg);
    const encrypt = (t.shareFlags & SHARE_FLAG.ENCRYPT_DATA) !== 0 || this.session.crypto.encryptAll;
    if (encrypt && this.session.crypto.cipher === undefined) throw new SmbSecurityError(`share ${share} requires encryption, which this session cannot do`);
    const tree = new SmbTree(this, res.header.treeId, share, t, encrypt);
    if (!this.validated && needsValidation(this.negotiated, this.session.crypto.signing)) {
      this.validated = true;
      try {
        await validateNegotiate(this.negotiated, (c, b, o) => tree.request(c, b, o));
      } catch (e) {
        await this.close();
        throw e;
      }
    }
    return tree;
  }

  /** LOGOFF and close the connection; errors on the way out are ignored once the socket is gone. */
  async close(): Promise<void> {
    if (!this.loggedOff && !this.conn.isClosed) {
      this.loggedOff = true;
      try {
        const res = await this.request(COMMAND.LOGOFF, new Uint8Array(encodeEmpty4()), { timeoutMs: 5000 });
        if (res.header.status === NT_STATUS.SUCCESS) decodeEmpty4(res.msg, 'LOGOFF response');
      } catch {
        // The connection is closed next anyway.
      }
    }
    this.conn.removeSession(this.session.sessionId);
    await this.conn.close();
  }
}

const SMB_FLAGS = { integrity: true, confidentiality: false, headerSigning: false, dceStyle: false } as const;

/**
 * The SESSION_SETUP initiator: SPNEGO over Kerberos (a cifs/<host> ticket; GSS style, not DCE:
 * the AP-REP ends the exchange, and the GSS session key — the acceptor's subkey, else ours — is
 * the SMB session key, its first 16 bytes for the 3.x KDF, MS-SMB2 3.2.5.3.1) and/or NTLMv2.
 */
export function smbInitiator(o: { readonly kerberos?: ServiceTicket; readonly credentials?: NtlmCredentials }): GssContext {
  const mechanisms: SpnegoMechanism[] = [];
  const ticket = o.kerberos;
  const creds = o.credentials;
  if (ticket !== undefined) mechanisms.push({ oid: MECH_OID.kerberos, start: () => new KerberosInitiator({ ticket, flags: SMB_FLAGS, dceStyle: false }) });
  if (creds !== undefined) mechanisms.push({ oid: MECH_OID.ntlmssp, start: () => new NtlmInitiator({ credentials: creds, flags: SMB_FLAGS }) });
  if (mechanisms.length === 0) throw new SmbError('no credentials given (user, domain and password or NT hash, or a Kerberos ticket)');
  return createSpnegoInitiator({ mechanisms });
}

export interface OpenOptions {
  readonly desiredAccess?: number;
  readonly shareAccess?: number;
  readonly disposition?: number;
  readonly options?: number;
}

export class SmbTree {
  private connected = true;
  constructor(
    readonly client: SmbClient,
    readonly treeId: number,
    readonly share: string,
    readonly info: TreeConnectResponse,
    /** Requests on this tree are encrypted. */
    readonly encrypt: boolean,
  ) {}

  request(command: number, body: Uint8Array, opts: RequestOptions = {}): Promise<Response> {
    return this.client.request(command, body, { ...opts, treeId: this.treeId, encrypt: this.encrypt });
  }

  /** CREATE (open) a file or named pipe; for a pipe, the name without \PIPE\ (e.g. FssagentRpc). */
  async open(name: string, o: OpenOptions = {}): Promise<SmbFile> {
    const rw = ACCESS.FILE_READ_DATA | ACCESS.FILE_WRITE_DATA | ACCESS.FILE_APPEND_DATA | ACCESS.FILE_READ_EA | ACCESS.FILE_WRITE_EA |
      ACCESS.FILE_READ_ATTRIBUTES | ACCESS.FILE_WRITE_ATTRIBUTES | ACCESS.READ_CONTROL | ACCESS.SYNCHRONIZE;
    const res = await this.request(COMMAND.CREATE, encodeCreateRequest({
      name, desiredAccess: o.desiredAccess ?? rw, shareAccess: o.shareAccess ?? (SHARE_ACCESS.READ | SHARE_ACCESS.WRITE),
      disposition: o.disposition ?? DISPOSITION.OPEN, options: o.options ?? 0, impersonation: IMPERSONATION.IMPERSONATION,
    }));
    if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, `open ${name} on ${this.share}`);
    return new SmbFile(this, name, decodeCreateResponse(res.msg).fileId);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    const res = await this.request(COMMAND.TREE_DISCONNECT, encodeEmpty4());
    if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, `tree disconnect from ${this.share}`);
    decodeEmpty4(res.msg, 'TREE_DISCONNECT response');
  }
}

/** What READ or IOCTL returned: the bytes and whether the server said more of the message follows. */
export interface Chunk {
  readonly data: Uint8Array;
  /** STATUS_BUFFER_OVERFLOW: the pipe message continues; READ the rest. */
  readonly more: boolean;
}

/** Long enough for any pipe call (FSRVP commits may take minutes); callers time out themselves. */
const PIPE_WAIT_MS = 3_600_000;

export class SmbFile {
  private open_ = true;
  constructor(readonly tree: SmbTree, readonly name: string, readonly fileId: FileId) {}

  get isOpen(): boolean {
    return this.open_;
  }

  async write(data: Uint8Array, offset = 0n): Promise<number> {
    const max = this.tree.client.maxIo('write');
    let done = 0;
    do {
      const part = data.subarray(done, done + max);
      const res = await this.tree.request(COMMAND.WRITE, encodeWriteRequest(this.fileId, offset + BigInt(done), part), { payloadSize: part.length });
      if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, `write to ${this.name}`);
      const n = decodeWriteResponse(res.msg).count;
      if (n === 0 || n > part.length) throw new SmbError(`WRITE to ${this.name} reports ${n} of ${part.length} bytes written`);
      done += n;
    } while (done < data.length);
    return done;
  }

  /** One READ of up to `length` bytes (pipes: the next message, or part of it). */
  async read(length: number, offset = 0n, timeoutMs = PIPE_WAIT_MS): Promise<Chunk> {
    const len = Math.min(length, this.tree.client.maxIo('read'));
    const res = await this.tree.request(COMMAND.READ, encodeReadRequest({ fileId: this.fileId, length: len, offset }), { responseSize: len, timeoutMs });
    const st = res.header.status;
    if (st !== NT_STATUS.SUCCESS && st !== NT_STATUS.BUFFER_OVERFLOW) throw statusError(res, `read from ${this.name}`);
    const r = decodeReadResponse(res.msg);
    if (r.data.length > len) throw new SmbError(`READ returned ${r.data.length} bytes, ${len} were asked for`);
    return { data: r.data, more: st === NT_STATUS.BUFFER_OVERFLOW };
  }

  /** FSCTL_PIPE_TRANSCEIVE: writes `input` as one message and reads the answer (or its first part). */
  async transceive(input: Uint8Array, maxOutput: number, timeoutMs = PIPE_WAIT_MS): Promise<Chunk> {
    const max = Math.min(maxOutput, this.tree.client.maxIo('transact'));
    const res = await this.tree.request(COMMAND.IOCTL, encodeIoctlRequest(FSCTL_PIPE_TRANSCEIVE, this.fileId, input, max), {
      payloadSize: input.length, responseSize: max, timeoutMs,
    });
    const st = res.header.status;
    if (st !== NT_STATUS.SUCCESS && st !== NT_STATUS.BUFFER_OVERFLOW) throw statusError(res, `transceive on ${this.name}`);
    const r = decodeIoctlResponse(res.msg);
    if (r.ctlCode !== FSCTL_PIPE_TRANSCEIVE) throw new SmbError(`IOCTL answered for control code 0x${r.ctlCode.toString(16)}`);
    if (r.output.length > max) throw new SmbError(`IOCTL returned ${r.output.length} bytes, at most ${max} were allowed`);
    return { data: r.output, more: st === NT_STATUS.BUFFER_OVERFLOW };
  }

  async close(): Promise<void> {
    if (!this.open_) return;
    this.open_ = false;
    const res = await this.tree.request(COMMAND.CLOSE, encodeCloseRequest(this.fileId));
    if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, `close ${this.name}`);
    decodeCloseResponse(res.msg);
  }
}
