/**
 * The smbd side of an external RPC pipe socket, for our client tools (`--unix SOCKET`): connect to
 * `<socket_dir>/np/fssagentrpc` (ours, or Samba's own rpcd_fsrvp under `ncalrpc/np/`), send a
 * named_pipe_auth request carrying a caller token we choose, check the reply, then move DCE/RPC
 * PDUs in message mode. The caller token is whatever the user configures: whoever can open the
 * socket can claim any identity, which is why smbd keeps these sockets private (0700).
 */
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { PduTransport } from '../dcerpc/transport.js';
import { NdrError } from '../ndr/index.js';
import { decodeNpaReply, encodeNpaRequest, FILE_TYPE_MESSAGE_MODE_PIPE, NPA_REP_SIZE, type NpaRequest } from './npa-codec.js';
import { frameMessages, MessageDeframer } from './npa-framing.js';
import { NCACN_NP, TICKET_TYPE } from './npa-idl.js';
import { NPA_FLAGS_SID_PREFIX } from './token.js';

/** The identity claimed in the handshake (what smbd would forward for an SMB session). */
export interface NpaCaller {
  readonly accountName: string;
  readonly domainName: string;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary unix groups (default: [gid]). */
  readonly groups?: readonly number[];
  /** Token SIDs besides the unix user and group SIDs smbd adds (S-1-22-1-uid, S-1-22-2-gid). */
  readonly sids?: readonly string[];
  /** Samba privilege mask (SeBackupPrivilege is 0x200). Default 0. */
  readonly privilegeMask?: bigint;
  /** named_pipe_auth level: 7 (Samba 4.17) or 8 (4.20 and later). Default 7. */
  readonly level?: 7 | 8;
}

export class NpaClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpaClientError';
  }
}

/** The whole named_pipe_auth request for `caller`, as smbd would build it for a loopback client. */
export function buildNpaRequest(caller: NpaCaller): Uint8Array {
  const sids = [
    ...(caller.sids ?? []),
    'S-1-1-0', 'S-1-5-2', 'S-1-5-11',
    `S-1-22-1-${caller.uid}`, `S-1-22-2-${caller.gid}`,
    `${NPA_FLAGS_SID_PREFIX}0`,
  ];
  const groups = (caller.groups ?? [caller.gid]).map((g) => BigInt(g));
  const userInfo = {
    account_name: caller.accountName, user_principal_name: null, user_principal_constructed: 0,
    domain_name: caller.domainName, dns_domain_name: null, full_name: '', logon_script: '', profile_path: '',
    home_directory: '', home_drive: '', logon_server: caller.domainName,
    last_logon: 0n, last_logoff: 0n, acct_expiry: 0n, last_password_change: 0n, allow_password_change: 0n, force_password_change: 0n,
    logon_count: 0, bad_password_count: 0, acct_flags: 0x10,
  };
  const token = { num_sids: sids.length, sids, privilege_mask: caller.privilegeMask ?? 0n, rights_mask: 0 };
  const common = {
    transport: NCACN_NP,
    remote_client_name: 'localhost', remote_client_addr: '127.0.0.1', remote_client_port: 0,
    local_server_name: 'localhost', local_server_addr: '127.0.0.1', local_server_port: 445,
  };
  const sessionCommon = {
    unix_token: { uid: BigInt(caller.uid), gid: BigInt(caller.gid), ngroups: groups.length, groups },
    unix_info: { unix_name: caller.accountName, sanitized_username: caller.accountName },
    torture: null, session_key: new Uint8Array(16), credentials: null,
    unique_session_token: randomUUID(), ticket_type: TICKET_TYPE.TICKET_TYPE_UNKNOWN,
  };
  const req: NpaRequest = (caller.level ?? 7) === 7
    ? {
      level: 7,
      info: { ...common, session_info: { session_info: { ...sessionCommon, security_token: token, info: { ...userInfo, authenticated: 1 } }, exported_gssapi_credentials: new Uint8Array(0) } },
    }
    : {
      level: 8,
      info: {
        ...common,
        session_info: {
          session_info: {
            ...sessionCommon,
            security_token: {
              ...token, num_local_claims: 0, num_user_claims: 0, num_device_claims: 0, num_device_sids: 0,
              local_claims: [], user_claims: [], device_claims: [], device_sids: [], evaluate_claims: 1,
            },
            info: { ...userInfo, user_flags: 0 },
          },
          exported_gssapi_credentials: new Uint8Array(0),
        },
      },
    };
  return encodeNpaRequest(req);
}

function socketHint(path: string, e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOENT') return `no socket at ${path} (fsrvpd --samba-socket-dir DIR serves DIR/np/fssagentrpc)`;
  if (e.code === 'ECONNREFUSED') return `nothing accepts connections on ${path} (a stale socket?)`;
  if (e.code === 'EACCES') return `${path}: permission denied (smbd's socket directories are private: run as root)`;
  return `${path}: ${e.message}`;
}

/** A message-mode pipe behind an external RPC pipe socket, as a DCE/RPC PduTransport. */
export class NpaTransport implements PduTransport {
  private readonly deframer = new MessageDeframer();
  private readonly inbox: Uint8Array[] = [];
  private waiter: ((m: Uint8Array | null) => void) | undefined;
  private ended = false;

  private constructor(private readonly socket: Socket) {}

  /** Connects, performs the handshake as `caller`, and returns the open pipe. */
  static async connect(path: string, caller: NpaCaller, timeoutMs = 10_000): Promise<NpaTransport> {
    const socket = connect(path);
    const t = new NpaTransport(socket);
    try {
      await t.handshake(buildNpaRequest(caller), timeoutMs, path);
    } catch (e) {
      socket.destroy();
      throw e;
    }
    return t;
  }

  private handshake(request: Uint8Array, timeoutMs: number, socketPath: string): Promise<void> {
    const socket = this.socket;
    return new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      let done = false;
      const finish = (e?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onHandshakeData);
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => finish(new NpaClientError(`${socketPath}: no named_pipe_auth reply within ${timeoutMs} ms`)), timeoutMs);
      const onHandshakeData = (b: Buffer): void => {
        head = Buffer.concat([head, b]);
        if (head.length < NPA_REP_SIZE) return;
        try {
          const rep = decodeNpaReply(Uint8Array.from(head.subarray(0, NPA_REP_SIZE)));
          if (rep.status !== 0) return finish(new NpaClientError(`the server refused the named_pipe_auth request (status 0x${rep.status.toString(16).padStart(8, '0')})`));
          if (rep.fileType !== FILE_TYPE_MESSAGE_MODE_PIPE) return finish(new NpaClientError(`expected a message-mode pipe, got file type ${rep.fileType}`));
        } catch (e) {
          return finish(new NpaClientError(`not a named_pipe_auth reply: ${e instanceof NdrError ? e.message : String(e)}`));
        }
        this.listen(head.subarray(NPA_REP_SIZE));
        finish();
      };
      socket.on('data', onHandshakeData);
      socket.once('error', (e: NodeJS.ErrnoException) => finish(new NpaClientError(socketHint(socketPath, e))));
      socket.once('close', () => finish(new NpaClientError('the server closed the socket during the named_pipe_auth handshake')));
      socket.once('connect', () => socket.write(request));
    });
  }

  private listen(rest: Buffer): void {
    this.socket.on('data', (b: Buffer) => this.feed(b));
    const end = (): void => {
      this.ended = true;
      this.deliver(null);
    };
    this.socket.on('close', end);
    this.socket.on('error', end);
    if (rest.length > 0) this.feed(rest);
  }

  private feed(b: Uint8Array): void {
    for (const m of this.deframer.push(b)) this.deliver(Uint8Array.from(m));
  }

  private deliver(m: Uint8Array | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(m);
    else if (m) this.inbox.push(m);
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.ended) return Promise.reject(new NpaClientError('the pipe is closed'));
    for (const m of frameMessages(bytes)) this.socket.write(m);
    return Promise.resolve();
  }

  receive(): Promise<Uint8Array | null> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): Promise<void> {
    this.ended = true;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}
