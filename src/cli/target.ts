/**
 * The one transport option set of the client tools (fsrvp, fsrvp-replay, fsrvp-fuzz): where the
 * FSRVP server is and how to reach it.
 *   --tcp HOST:PORT        ncacn_ip_tcp to an fsrvpd TCP listener (also --host H --port P)
 *   --smb //HOST[:PORT]    ncacn_np: SMB2/3 to HOST, IPC$, \PIPE\FssagentRpc (any FSRVP server:
 *                          Windows, ONTAP, Samba's rpcd_fsrvp, ours behind smbd), -U's account
 *   --unix SOCKET          an external RPC pipe socket, acting as smbd with a caller token we claim
 * The tools refuse no address a user gives on purpose; tests keep to loopback.
 */
import { userInfo } from 'node:os';
import { RpcClient } from '../dcerpc/client.js';
import { SmbClient, SmbPipe, cipherName, dialectName, signingAlgorithmName, type CipherId, type PipeMode, type SmbTree } from '../smb/index.js';
import { NpaTransport, type NpaCaller } from '../transport/npa-client.js';
import { MECH_OID } from '../security/gss.js';
import type { SmbLogon, UserCredentials } from './credentials.js';

export type SmbRule = 'auto' | 'required';

export interface TargetArgs {
  kind?: 'tcp' | 'smb' | 'unix';
  host?: string;
  port?: number;
  socket?: string;
  /** Pipe name for --smb (default FssagentRpc). */
  pipe?: string;
  smbSigning?: SmbRule;
  smbEncryption?: SmbRule | 'off';
  smbMode?: PipeMode;
  caller?: { user?: string; uid?: number; gid?: number; sids: string[]; privileges?: bigint; level?: 7 | 8 };
}

export class TargetUsageError extends Error {}

export const TARGET_HELP = `Where the FSRVP server is (one of; default --tcp 127.0.0.1:7135):
  --tcp HOST:PORT            an fsrvpd TCP listener (also --host H and --port P)
  --smb //HOST[:PORT]        SMB2/3 to HOST (port 445), IPC$, \\PIPE\\FssagentRpc: any FSRVP
                             server (Windows, ONTAP, Samba, fsrvpd behind smbd); logs on as -U
      --smb-signing auto|required    require SMB signing (default auto: as the server asks)
      --smb-encrypt auto|required|off  encrypt the whole session (default auto)
      --pipe-mode transceive|write-read  how PDUs move (default transceive, as Windows)
  --unix SOCKET              an external RPC pipe socket (fsrvpd's <socket_dir>/np/fssagentrpc,
                             Samba's <ncalrpc dir>/np/fssagentrpc), acting as smbd with this
                             caller token (default: the unix user running the tool):
      --caller-user DOMAIN\\NAME  --caller-uid N  --caller-gid N
      --caller-sid SID (repeatable)  --caller-privileges MASK (0x200 = SeBackupPrivilege)
`;

function hostPort(spec: string, defaultPort: number, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:[\]]+|[0-9a-fA-F:]+)(?::(\d+))?$/.exec(spec);
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const host = bracket ? bracket[1] : m?.[1];
  const portText = bracket ? bracket[2] : m?.[2];
  if (host === undefined || host === '') throw new TargetUsageError(`${what} takes HOST[:PORT], not '${spec}'`);
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TargetUsageError(`${what}: port 1..65535, not '${portText}'`);
  return { host, port };
}

function intValue(v: string, what: string): number {
  if (!/^\d+$/.test(v)) throw new TargetUsageError(`${what} takes a non-negative integer, not '${v}'`);
  return Number(v);
}

/** Consumes one target option at argv[i]; returns how many arguments it took (0: not ours). */
export function parseTargetOption(argv: readonly string[], i: number, t: TargetArgs): number {
  const a = argv[i] as string;
  const value = (): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new TargetUsageError(`${a} needs a value`);
    return v;
  };
  const kind = (k: 'tcp' | 'smb' | 'unix'): void => {
    if (t.kind !== undefined && t.kind !== k) throw new TargetUsageError(`--${k} and --${t.kind} exclude each other: one server at a time`);
    t.kind = k;
  };
  const caller = (): NonNullable<TargetArgs['caller']> => (t.caller ??= { sids: [] });
  switch (a) {
    case '--tcp': {
      kind('tcp');
      const v = value();
      if (!/:\d+$/.test(v)) throw new TargetUsageError(`--tcp takes HOST:PORT, not '${v}'`);
      Object.assign(t, hostPort(v, 7135, '--tcp'));
      return 2;
    }
    case '--host':
      kind(t.kind === 'smb' ? 'smb' : 'tcp');
      t.host = value().replace(/^\[|\]$/g, '');
      return 2;
    case '--port': {
      kind(t.kind === 'smb' ? 'smb' : 'tcp');
      const p = Number(value());
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new TargetUsageError('--port takes 1..65535');
      t.port = p;
      return 2;
    }
    case '--smb': {
      kind('smb');
      const v = value();
      const m = /^(?:\/\/|\\\\)([^/\\]+)[/\\]?$/.exec(v);
      if (!m) throw new TargetUsageError(`--smb takes //HOST or //HOST:PORT, not '${v}'`);
      Object.assign(t, hostPort(m[1] as string, 445, '--smb'));
      return 2;
    }
    case '--smb-signing': {
      const v = value();
      if (v !== 'auto' && v !== 'required') throw new TargetUsageError(`--smb-signing: auto or required, not ${v}`);
      t.smbSigning = v;
      return 2;
    }
    case '--smb-encrypt': {
      const v = value();
      if (v !== 'auto' && v !== 'required' && v !== 'off') throw new TargetUsageError(`--smb-encrypt: auto, required or off, not ${v}`);
      t.smbEncryption = v;
      return 2;
    }
    case '--pipe-mode': {
      const v = value();
      if (v !== 'transceive' && v !== 'write-read') throw new TargetUsageError(`--pipe-mode: transceive or write-read, not ${v}`);
      t.smbMode = v;
      return 2;
    }
    case '--pipe':
      t.pipe = value().replace(/^\\?PIPE\\/i, '');
      return 2;
    case '--unix':
      kind('unix');
      t.socket = value();
      return 2;
    case '--caller-user':
      caller().user = value();
      return 2;
    case '--caller-uid':
      caller().uid = intValue(value(), a);
      return 2;
    case '--caller-gid':
      caller().gid = intValue(value(), a);
      return 2;
    case '--caller-sid': {
      const v = value();
      if (!/^S-1-\d+(-\d+)*$/i.test(v)) throw new TargetUsageError(`--caller-sid takes a SID such as S-1-5-32-544, not '${v}'`);
      caller().sids.push(v.toUpperCase());
      return 2;
    }
    case '--caller-privileges': {
      const v = value();
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(v)) throw new TargetUsageError(`--caller-privileges takes a number (0x200 = SeBackupPrivilege), not '${v}'`);
      caller().privileges = BigInt(v);
      return 2;
    }
    case '--caller-level': {
      const v = value();
      if (v !== '7' && v !== '8') throw new TargetUsageError('--caller-level: 7 (Samba 4.17) or 8 (4.20+)');
      caller().level = Number(v) as 7 | 8;
      return 2;
    }
    default:
      return 0;
  }
}

/** Checks the combination once parsing is done (options that belong to another transport). */
export function checkTarget(t: TargetArgs): void {
  const smbOnly = t.smbSigning !== undefined || t.smbEncryption !== undefined || t.smbMode !== undefined || t.pipe !== undefined;
  if (smbOnly && t.kind !== 'smb') throw new TargetUsageError('--smb-signing, --smb-encrypt, --pipe-mode and --pipe go with --smb');
  if (t.caller !== undefined && t.kind !== 'unix') throw new TargetUsageError('--caller-* options go with --unix');
  if (t.kind === 'smb' && t.host === undefined) throw new TargetUsageError('--port with SMB needs --smb //HOST');
}

/** A one-line name of the target, for progress lines and reports. */
export function describeTarget(t: TargetArgs): string {
  if (t.kind === 'smb') return `smb://${t.host}${t.port !== undefined && t.port !== 445 ? `:${t.port}` : ''}/IPC$/${t.pipe ?? 'FssagentRpc'}`;
  if (t.kind === 'unix') return `unix:${t.socket}`;
  return `tcp:${t.host ?? '127.0.0.1'}:${t.port ?? 7135}`;
}

/** The target's host name or address (for default service principals); undefined for --unix. */
export function targetHost(t: TargetArgs): string | undefined {
  return t.kind === 'unix' ? undefined : t.host ?? '127.0.0.1';
}

/** The caller token --unix claims: the options, else the unix user running the tool. */
export function npaCaller(t: TargetArgs): NpaCaller {
  const me = userInfo();
  const c = t.caller ?? { sids: [] };
  const [domain, name] = c.user === undefined ? ['', me.username] : c.user.includes('\\') ? c.user.split('\\', 2) as [string, string] : ['', c.user];
  return {
    accountName: name, domainName: domain || 'LOCALHOST', uid: c.uid ?? me.uid, gid: c.gid ?? me.gid,
    sids: c.sids, ...(c.privileges !== undefined ? { privilegeMask: c.privileges } : {}), ...(c.level !== undefined ? { level: c.level } : {}),
  };
}

/** One SMB logon for several pipes (fuzz and replay open many connections). */
export interface TargetOpener {
  readonly label: string;
  /** A fresh RPC connection (TCP connection, pipe handle, or socket). */
  open(timeoutMs?: number): Promise<RpcClient>;
  close(): Promise<void>;
  /** What the SMB session negotiated (dialect, signing, encryption), once one is up. */
  session?(): Promise<string | undefined>;
}

/**
 * Opens connections to the target. For --smb the logon is -U's credentials and/or a cifs/<host>
 * Kerberos ticket (clientSecurity's `smb`; bare credentials are NTLM); one SMB session and IPC$
 * tree serve every open() (each a pipe handle of its own, which smbd forwards as a connection of
 * its own), and a session the server dropped is set up again at the next open().
 */
export function targetOpener(t: TargetArgs, smbLogon: UserCredentials | SmbLogon | undefined): TargetOpener {
  const label = describeTarget(t);
  if (t.kind === 'smb') {
    const how: SmbLogon = smbLogon === undefined ? {} : 'password' in smbLogon ? { credentials: smbLogon } : smbLogon;
    if (how.credentials === undefined && how.kerberos === undefined) throw new TargetUsageError('--smb needs -U DOMAIN\\USER (the SMB logon) or a Kerberos ticket');
    let session: Promise<{ client: SmbClient; tree: SmbTree }> | undefined;
    const logon = async (timeoutMs: number): Promise<{ client: SmbClient; tree: SmbTree }> => {
      const client = await SmbClient.connect({
        host: t.host as string, port: t.port ?? 445, timeoutMs,
        ...(how.credentials !== undefined ? { credentials: how.credentials } : {}),
        ...(how.kerberos !== undefined ? { kerberos: how.kerberos } : {}),
        ...(t.smbSigning !== undefined ? { signing: t.smbSigning } : {}),
        ...(t.smbEncryption !== undefined ? { encryption: t.smbEncryption } : {}),
      });
      try {
        return { client, tree: await client.treeConnect('IPC$') };
      } catch (e) {
        await client.close();
        throw e;
      }
    };
    const open = async (timeoutMs = 30_000): Promise<RpcClient> => {
      let s = await (session ??= logon(timeoutMs).catch((e: unknown) => {
        session = undefined;
        throw e;
      }));
      if (s.client.conn.isClosed) {
        session = undefined;
        s = await (session = logon(timeoutMs));
      }
      const pipe = await SmbPipe.open(s.tree, t.pipe ?? 'FssagentRpc', t.smbMode !== undefined ? { mode: t.smbMode } : {});
      return RpcClient.over(pipe);
    };
    const close = async (): Promise<void> => {
      const s = await session?.catch(() => undefined);
      session = undefined;
      await s?.client.close();
    };
    const describe = async (): Promise<string | undefined> => {
      const c = (await session?.catch(() => undefined))?.client;
      if (c === undefined) return undefined;
      const enc = c.encryptingAll ? `encrypted (${cipherName(c.cipher as CipherId)})` : 'not encrypted';
      const mech = c.logonMech === MECH_OID.kerberos ? 'Kerberos' : c.logonMech === MECH_OID.ntlmssp ? 'NTLM' : c.logonMech;
      return `SMB ${dialectName(c.dialect)} to ${c.host}, ${mech} logon, ${c.signing ? `signed (${signingAlgorithmName(c.signingAlgorithm)})` : 'unsigned'}, ${enc}`;
    };
    return { label, open, close, session: describe };
  }
  if (t.kind === 'unix') {
    const caller = npaCaller(t);
    const path = t.socket as string;
    return {
      label,
      open: async (timeoutMs = 10_000) => RpcClient.over(await NpaTransport.connect(path, caller, timeoutMs)),
      close: async () => {},
    };
  }
  const host = t.host ?? '127.0.0.1';
  const port = t.port ?? 7135;
  return { label, open: (timeoutMs = 5000) => RpcClient.connect({ host, port, timeoutMs }), close: async () => {} };
}
