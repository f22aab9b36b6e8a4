/**
 * The caller identity smbd forwards in the named_pipe_auth request, as a CallerIdentity.
 * Authorization is not decided here: the FSRVP service applies its rule to what we hand it.
 */
import type { CallerIdentity } from '../dcerpc/interface.js';
import type { NpaRequest } from './npa-codec.js';

/** smbd's NPA flags SID prefix (global_sid_Samba_NPA_Flags), appended to every forwarded token. */
export const NPA_FLAGS_SID_PREFIX = 'S-1-22-2041152804-';

/** Extra facts of an npa caller that CallerIdentity has no field for (logs, diagnostics). */
export interface NpaCallerDetails {
  readonly gid?: number;
  readonly groups: readonly number[];
  readonly unixName?: string;
  readonly clientPort: number;
  readonly localAddress?: string;
  readonly localPort: number;
  readonly sessionToken?: string;
  /** The SMB session key length (the key itself never leaves this module). */
  readonly sessionKeyLength: number;
}

function toNumber(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/** Builds the identity the RPC layer passes to handlers. A request without a token is anonymous. */
export function callerFromNpa(req: NpaRequest): CallerIdentity {
  const info = req.info;
  const si = info.session_info?.session_info ?? undefined;
  const clientAddress = info.remote_client_addr ?? undefined;
  if (!si) {
    return { source: 'anonymous', sids: [], ...(clientAddress !== undefined ? { clientAddress } : {}) };
  }
  const token = si.security_token;
  const uid = si.unix_token ? toNumber(si.unix_token.uid) : undefined;
  const caller: CallerIdentity = {
    source: 'npa',
    sids: token ? [...token.sids] : [],
    ...(uid !== undefined ? { uid } : {}),
    ...(token ? { privilegeMask: token.privilege_mask } : {}),
    ...(si.info?.account_name != null ? { accountName: si.info.account_name } : {}),
    ...(si.info?.domain_name != null ? { domainName: si.info.domain_name } : {}),
    ...(clientAddress !== undefined ? { clientAddress } : {}),
  };
  return caller;
}

/** The facts that do not fit CallerIdentity. */
export function npaDetails(req: NpaRequest): NpaCallerDetails {
  const info = req.info;
  const si = info.session_info?.session_info ?? undefined;
  const gid = si?.unix_token ? toNumber(si.unix_token.gid) : undefined;
  const unixName = si?.unix_info?.unix_name ?? undefined;
  return {
    ...(gid !== undefined ? { gid } : {}),
    groups: (si?.unix_token?.groups ?? []).map((g) => toNumber(g) ?? -1),
    ...(unixName !== undefined ? { unixName } : {}),
    clientPort: info.remote_client_port,
    ...(info.local_server_addr != null ? { localAddress: info.local_server_addr } : {}),
    localPort: info.local_server_port,
    ...(si ? { sessionToken: si.unique_session_token } : {}),
    sessionKeyLength: si?.session_key.length ?? 0,
  };
}

/** One line for logs: who, from where, with which rights-relevant facts. Never the session key. */
export function describeCaller(c: CallerIdentity): string {
  const who = c.accountName !== undefined ? `${c.domainName ?? ''}\\${c.accountName}` : '(anonymous)';
  const parts = [who];
  if (c.uid !== undefined) parts.push(`uid=${c.uid}`);
  if (c.privilegeMask !== undefined) parts.push(`privileges=0x${c.privilegeMask.toString(16)}`);
  parts.push(`sids=${c.sids.filter((s) => !s.startsWith(NPA_FLAGS_SID_PREFIX)).length}`);
  if (c.clientAddress !== undefined) parts.push(`from ${c.clientAddress}`);
  return parts.join(' ');
}
