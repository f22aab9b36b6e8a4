/**
 * Numbers of connection-oriented DCE/RPC (C706 ch. 12, MS-RPCE 2.2), named once.
 * See docs/DCERPC.md §2, §4, §6, §10.
 */

/** PDU types (C706 `PTYPE`). 1, 4–10 are connectionless-only; 20 is ncacn_http RTS. */
export const PTYPE = {
  request: 0,
  ping: 1,
  response: 2,
  fault: 3,
  working: 4,
  nocall: 5,
  reject: 6,
  ack: 7,
  cl_cancel: 8,
  fack: 9,
  cancel_ack: 10,
  bind: 11,
  bind_ack: 12,
  bind_nak: 13,
  alter_context: 14,
  alter_context_resp: 15,
  auth3: 16,
  shutdown: 17,
  co_cancel: 18,
  orphaned: 19,
  rts: 20,
} as const;
export type PtypeName = keyof typeof PTYPE;

const PTYPE_NAMES: readonly string[] = Object.entries(PTYPE)
  .sort((a, b) => a[1] - b[1])
  .map(([k]) => k);

/** Name of a PTYPE value, or `ptype_<n>` for values no PDU has. */
export function ptypeName(v: number): string {
  return PTYPE_NAMES[v] ?? `ptype_${v}`;
}

/** pfc_flags bits. 0x04 means PENDING_CANCEL on request/response, SUPPORT_HEADER_SIGN on bind/alter. */
export const PFC = {
  FIRST_FRAG: 0x01,
  LAST_FRAG: 0x02,
  PENDING_CANCEL: 0x04,
  SUPPORT_HEADER_SIGN: 0x04,
  RESERVED_08: 0x08,
  CONC_MPX: 0x10,
  DID_NOT_EXECUTE: 0x20,
  MAYBE: 0x40,
  OBJECT_UUID: 0x80,
} as const;

/** FIRST | LAST: a PDU that is a whole call by itself. */
export const PFC_FIRST_LAST = PFC.FIRST_FRAG | PFC.LAST_FRAG;

/** drep byte 0 for little-endian integers, ASCII characters. */
export const DREP_LE = 0x10;

/** Fixed sizes. */
export const HEADER_LENGTH = 16;
/** Request/response header incl. alloc_hint, context id and opnum/cancel count. */
export const REQUEST_HEADER_LENGTH = 24;
export const OBJECT_UUID_LENGTH = 16;
export const SEC_TRAILER_LENGTH = 8;
/** Auth pad aligns the sec_trailer to this boundary (MS-RPCE 2.2.2.11). */
export const AUTH_PAD_ALIGNMENT = 16;
/** Samba's hard limit on a request fragment (`DCERPC_FRAG_MAX_SIZE`), not the negotiated value. */
export const FRAG_MAX_SIZE = 5840;
/** Largest reassembled request stub (`DCERPC_NCACN_REQUEST_DEFAULT_MAX_SIZE`, MS-RPCE 3.3.3.5.4). */
export const MAX_REQUEST_SIZE = 0x400000;
/** Fragment size negotiation bounds (Samba `dcesrv_bind`). */
export const MIN_NEGOTIATED_FRAG = 2048;
export const SERVER_MAX_FRAG = 5840;

/** p_cont_def_result_t. */
export const RESULT = {
  acceptance: 0,
  user_rejection: 1,
  provider_rejection: 2,
  negotiate_ack: 3,
} as const;

/** p_provider_reason_t (the reason of a rejected presentation context). */
export const PROVIDER_REASON = {
  not_specified: 0,
  abstract_syntax_not_supported: 1,
  proposed_transfer_syntaxes_not_supported: 2,
  local_limit_exceeded: 3,
} as const;

/** bind_nak reject reasons (C706 + MS-RPCE 8, 9). */
export const BIND_NAK_REASON = {
  not_specified: 0,
  temporary_congestion: 1,
  local_limit_exceeded: 2,
  called_paddr_unknown: 3,
  protocol_version_not_supported: 4,
  default_context_not_supported: 5,
  user_data_not_readable: 6,
  no_psap_available: 7,
  authentication_type_not_recognized: 8,
  invalid_checksum: 9,
} as const;

/** Bind-time feature bits (MS-RPCE 2.2.2.14). */
export const BIND_TIME_FEATURE = {
  securityContextMultiplexing: 0x0001,
  keepConnectionOnOrphan: 0x0002,
} as const;

/** Fault statuses (Samba `dcerpc_nca_status` and friends), see docs/DCERPC.md §10. */
export const FAULT = {
  nca_s_op_rng_error: 0x1c010002,
  nca_s_unknown_if: 0x1c010003,
  nca_s_proto_error: 0x1c01000b,
  nca_s_unsupported_type: 0x1c010017,
  nca_s_fault_invalid_tag: 0x1c000006,
  nca_s_fault_invalid_bound: 0x1c000007,
  nca_s_fault_context_mismatch: 0x1c00001a,
  nca_s_fault_remote_no_memory: 0x1c00001b,
  nca_s_invalid_pres_context_id: 0x1c00001c,
  nca_s_unsupported_authn_level: 0x1c00001d,
  access_denied: 0x00000005,
  other: 0x00000001,
  no_call_active: 0x000006bd,
  cant_perform: 0x000006d8,
  out_of_resources: 0x000006d9,
  /** RPC_X_BAD_STUB_DATA, Samba DCERPC_FAULT_NDR. */
  bad_stub_data: 0x000006f7,
  sec_pkg_error: 0x00000721,
} as const;

const FAULT_NAMES = new Map<number, string>(Object.entries(FAULT).map(([k, v]) => [v, k]));

/** Name of a fault status for logs, or its hex value. */
export function faultName(status: number): string {
  return FAULT_NAMES.get(status >>> 0) ?? `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

/** auth_type values (Samba `dcerpc_AuthType`). */
export const AUTH_TYPE = {
  none: 0,
  krb5_1: 1,
  spnego: 9,
  ntlmssp: 10,
  krb5: 16,
  dpa: 17,
  msn: 18,
  digest: 21,
  schannel: 68,
  msmq: 100,
  ncalrpc_as_system: 200,
} as const;

/** auth_level values (Samba `dcerpc_AuthLevel`). */
export const AUTH_LEVEL = {
  none: 1,
  connect: 2,
  call: 3,
  packet: 4,
  integrity: 5,
  privacy: 6,
} as const;

/** The auth_level's name (`integrity`), or its number for values that are not levels. */
export function levelName(level: number): string {
  const found = Object.entries(AUTH_LEVEL).find(([, v]) => v === level);
  return found === undefined ? String(level) : found[0];
}
