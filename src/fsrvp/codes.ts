/** FSRVP method return values (MS-FSRVP 2.2.4 plus the undocumented values seen on the wire). */
export const HRESULT = {
  ZERO: 0x00000000,
  E_ACCESSDENIED: 0x80070005,
  E_INVALIDARG: 0x80070057,
  E_OUTOFMEMORY: 0x8007000e,
  E_FAIL: 0x80004005,
  FSRVP_E_BAD_STATE: 0x80042301,
  FSRVP_E_BAD_ID: 0x80042302,
  FSRVP_E_OBJECT_NOT_FOUND: 0x80042308,
  FSRVP_E_NOT_SUPPORTED: 0x8004230c,
  FSRVP_E_OBJECT_ALREADY_EXISTS: 0x8004230d,
  VSS_E_INVALID_XML_DOCUMENT: 0x80042311,
  FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS: 0x80042316,
  FSRVP_E_UNSUPPORTED_CONTEXT: 0x8004231b,
  FSSAGENT_E_TIMEOUT: 0x80042500,
  FSRVP_E_SHADOWCOPYSET_ID_MISMATCH: 0x80042501,
  FSRVP_E_WAIT_TIMEOUT: 0x00000102,
  FSRVP_E_WAIT_FAILED: 0xffffffff,
} as const;

export type HresultName = keyof typeof HRESULT;

/** Shadow copy attribute bits (MS-FSRVP 2.2.2.1). */
export const ATTR = {
  PERSISTENT: 0x00000001,
  NO_AUTO_RECOVERY: 0x00000002,
  NO_AUTO_RELEASE: 0x00000008,
  NO_WRITERS: 0x00000010,
  FILE_SHARE: 0x04000000,
  AUTO_RECOVERY: 0x00400000,
} as const;

/** Context values (MS-FSRVP 2.2.2.2). */
export const CTX = {
  BACKUP: 0x00000000,
  FILE_SHARE_BACKUP: 0x00000010,
  NAS_ROLLBACK: 0x00000019,
  APP_ROLLBACK: 0x00000009,
} as const;

/** FSRVP_RPC_VERSION_1. */
export const FSRVP_RPC_VERSION_1 = 1;

/** Interface identity. */
export const FSRVP_UUID = 'a8e0653c-2744-4389-a61d-7373df8b2292';
export const FSRVP_VERSION = { major: 1, minor: 0 } as const;
export const FSRVP_PIPE = '\\pipe\\FssagentRpc';

export function hresultName(v: number): string {
  for (const [k, x] of Object.entries(HRESULT)) if (x === v >>> 0) return k;
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}
