/**
 * named_pipe_auth (librpc/idl/named_pipe_auth.idl, auth.idl, security.idl) declared with the
 * NDR engine: what smbd sends an external pipe server before the pipe bytes, and the reply.
 *
 * Levels by Samba version (facts from the Samba tree):
 *  - 7: 4.17.x (backport) and 4.19.x. auth_user_info ends in `uint8 authenticated` (4.17) or
 *       `uint32 user_flags` (4.19) — the same four bytes on the wire, because the deferred
 *       strings that follow are 4-aligned; we read a u8 and skip the padding.
 *  - 8: 4.20 and later. security_token grows claim arrays, device SIDs and a u16
 *       `evaluate_claims`; auth_user_info ends in `uint32 user_flags`.
 * Everything else is shared. The first u32 (`length` = total − 4) is big-endian and alignment
 * counts from byte 0 of the message.
 */
import {
  conformantArray, conformantBytes, enum16, fixedBytes, guid, hyper, struct, u16, u32, u8,
  udlong, union, unique, cvString, type Infer, type NdrType,
} from '../ndr/index.js';
import { domSid } from './npa-sid.js';

const utf8 = unique(cvString('utf8'));
const dos = unique(cvString('dos'));

/** `uint32` with NDR_BIG_ENDIAN: the message length prefix. */
const u32be: NdrType<number> = {
  name: 'uint32(BE)',
  align: 4,
  hasBuffers: false,
  writeScalars(w, v) {
    w.align(4);
    w.bytes(Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  },
  writeBuffers() {},
  readScalars(r) {
    r.align(4);
    const b = r.bytes(4);
    return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
  },
  readBuffers: (_r, s) => s as number,
  print: (v) => String(v),
  generate: (g) => g.below(0x10000),
};

/** An `[ignore]` pointer Samba always sends as NULL; anything else is malformed. */
function nullPointer(name: string): NdrType<null> {
  return {
    name: `${name}* (always NULL)`,
    align: 4,
    hasBuffers: false,
    writeScalars: (w) => w.u32(0),
    writeBuffers() {},
    readScalars(r) {
      const at = r.pos;
      if (r.u32() !== 0) r.fail('RANGE', `${name} pointer must be NULL`, at);
      return null;
    },
    readBuffers: () => null,
    print: () => 'NULL',
    generate: () => null,
  };
}

/** CLAIM_SECURITY_ATTRIBUTE_RELATIVE_V1 is not decoded: a token that carries claims is refused. */
const unsupportedClaim: NdrType<never> = {
  name: 'CLAIM_SECURITY_ATTRIBUTE_RELATIVE_V1',
  align: 4,
  hasBuffers: false,
  writeScalars() {
    throw new RangeError('claims are not supported');
  },
  writeBuffers() {},
  readScalars: (r) => r.fail('RANGE', 'security token carries claims, which this server does not decode'),
  readBuffers: () => {
    throw new RangeError('unreachable');
  },
  print: () => '(claim)',
  generate: () => {
    throw new RangeError('claims are not generated');
  },
};
const claims = conformantArray(unsupportedClaim, { inline: true });
const noClaims = { ...claims, generate: (): never[] => [] };

export const TICKET_TYPE = { TICKET_TYPE_UNKNOWN: 0, TICKET_TYPE_TGT: 1, TICKET_TYPE_NON_TGT: 2 } as const;
export const CLAIMS_EVALUATION = { INVALID_STATE: 0, NEVER: 1, ALWAYS: 2 } as const;
export const NCACN_NP = 1;

const sids = conformantArray(domSid, { inline: true });

export const securityToken7 = struct('security_token', {
  num_sids: u32,
  sids,
  privilege_mask: hyper,
  rights_mask: u32,
});
export type SecurityToken7 = Infer<typeof securityToken7>;

export const securityToken8 = struct('security_token', {
  num_sids: u32,
  sids,
  privilege_mask: hyper,
  rights_mask: u32,
  num_local_claims: u32,
  num_user_claims: u32,
  num_device_claims: u32,
  num_device_sids: u32,
  local_claims: noClaims,
  user_claims: noClaims,
  device_claims: noClaims,
  device_sids: sids,
  evaluate_claims: enum16('claims_evaluation_control', CLAIMS_EVALUATION),
});
export type SecurityToken8 = Infer<typeof securityToken8>;

/** uid_t and gid_t are hyper; groups is the conformant last member (max_count hoisted). */
export const securityUnixToken = struct('security_unix_token', {
  uid: hyper,
  gid: hyper,
  ngroups: u32,
  groups: conformantArray(hyper),
});
export type SecurityUnixToken = Infer<typeof securityUnixToken>;

const userInfoCommon = {
  account_name: utf8,
  user_principal_name: utf8,
  user_principal_constructed: u8,
  domain_name: utf8,
  dns_domain_name: utf8,
  full_name: utf8,
  logon_script: utf8,
  profile_path: utf8,
  home_directory: utf8,
  home_drive: utf8,
  logon_server: utf8,
  last_logon: udlong,
  last_logoff: udlong,
  acct_expiry: udlong,
  last_password_change: udlong,
  allow_password_change: udlong,
  force_password_change: udlong,
  logon_count: u16,
  bad_password_count: u16,
  acct_flags: u32,
};

export const authUserInfo7 = struct('auth_user_info', { ...userInfoCommon, authenticated: u8 });
export type AuthUserInfo7 = Infer<typeof authUserInfo7>;
export const authUserInfo8 = struct('auth_user_info', { ...userInfoCommon, user_flags: u32 });
export type AuthUserInfo8 = Infer<typeof authUserInfo8>;

export const authUserInfoUnix = struct('auth_user_info_unix', {
  unix_name: utf8,
  sanitized_username: utf8,
});
export type AuthUserInfoUnix = Infer<typeof authUserInfoUnix>;

/** The per-level request declarations; only the token and user info differ between levels. */
function requestInfo<T, U>(token: NdrType<T>, userInfo: NdrType<U>) {
  const sessionInfo = struct('auth_session_info', {
    security_token: unique(token),
    unix_token: unique(securityUnixToken),
    info: unique(userInfo),
    unix_info: unique(authUserInfoUnix),
    torture: nullPointer('auth_user_info_torture'),
    session_key: conformantBytes,
    credentials: nullPointer('cli_credentials'),
    unique_session_token: guid,
    ticket_type: enum16('ticket_type', TICKET_TYPE),
  });
  const transport = struct('auth_session_info_transport', {
    session_info: unique(sessionInfo),
    exported_gssapi_credentials: conformantBytes,
  });
  return struct('named_pipe_auth_req_info', {
    transport: u8,
    remote_client_name: utf8,
    remote_client_addr: dos,
    remote_client_port: u16,
    local_server_name: utf8,
    local_server_addr: dos,
    local_server_port: u16,
    session_info: unique(transport),
  });
}

export const reqInfo7 = requestInfo(securityToken7, authUserInfo7);
export type ReqInfo7 = Infer<typeof reqInfo7>;
export const reqInfo8 = requestInfo(securityToken8, authUserInfo8);
export type ReqInfo8 = Infer<typeof reqInfo8>;

/** The whole request message. Adding a level is one more arm here and in `repArms`. */
export const namedPipeAuthReq = struct('named_pipe_auth_req', {
  length: u32be,
  magic: fixedBytes(4),
  level: u32,
  info: union('named_pipe_auth_req_info', { 7: reqInfo7, 8: reqInfo8 }, { defaultArm: false }),
});
export type NamedPipeAuthReq = Infer<typeof namedPipeAuthReq>;

const repInfo = struct('named_pipe_auth_rep_info', {
  file_type: u16,
  device_state: u16,
  allocation_size: hyper,
});
export type RepInfo = Infer<typeof repInfo>;

export const namedPipeAuthRep = struct('named_pipe_auth_rep', {
  length: u32be,
  magic: fixedBytes(4),
  level: u32,
  info: union('named_pipe_auth_rep_info', { 7: repInfo, 8: repInfo }, { defaultArm: false }),
  status: u32,
});
export type NamedPipeAuthRep = Infer<typeof namedPipeAuthRep>;

/** The levels this server understands, newest first. */
export const SUPPORTED_LEVELS = [8, 7] as const;
export type NpaLevel = (typeof SUPPORTED_LEVELS)[number];
