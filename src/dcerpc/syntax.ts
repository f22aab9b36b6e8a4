/**
 * Presentation syntax identifiers (p_syntax_id_t): an interface or transfer-syntax UUID plus a u32
 * version with the major number in the low 16 bits and the minor in the high 16 bits (§3).
 */
import { parseGuid, ZERO_GUID } from '../ndr/index.js';

export interface SyntaxId {
  /** Lower-case GUID text. */
  readonly uuid: string;
  /** The whole u32 if_version: major | minor << 16. */
  readonly version: number;
}

/** Builds a syntax id from text and major/minor numbers. Throws RangeError on a malformed UUID. */
export function syntaxId(uuid: string, major: number, minor = 0): SyntaxId {
  const g = parseGuid(uuid);
  if (g === undefined) throw new RangeError(`not a UUID: ${uuid}`);
  return { uuid: g, version: ((major & 0xffff) | ((minor & 0xffff) << 16)) >>> 0 };
}

export function versionMajor(s: SyntaxId): number {
  return s.version & 0xffff;
}

export function versionMinor(s: SyntaxId): number {
  return (s.version >>> 16) & 0xffff;
}

/** UUID and the whole version must match (Samba `ndr_syntax_id_equal`: no "minor <=" leniency). */
export function syntaxEqual(a: SyntaxId, b: SyntaxId): boolean {
  return a.uuid === b.uuid && a.version >>> 0 === b.version >>> 0;
}

export function syntaxToString(s: SyntaxId): string {
  return `${s.uuid} v${versionMajor(s)}.${versionMinor(s)}`;
}

/** NDR transfer syntax (NDR20). */
export const NDR20: SyntaxId = syntaxId('8a885d04-1ceb-11c9-9fe8-08002b104860', 2, 0);
/** NDR64 transfer syntax — never accepted here (§6 step 5). */
export const NDR64: SyntaxId = syntaxId('71710533-beba-4937-8319-b5dbef9ccc36', 1, 0);
/** The all-zero syntax sent with rejected and negotiate_ack results. */
export const NULL_SYNTAX: SyntaxId = { uuid: ZERO_GUID, version: 0 };

const BTFN_PREFIX = '6cb71c2c-9812-4540-';

/**
 * The bind-time feature negotiation syntax for a feature bitmask (MS-RPCE 3.3.1.5.3): the 8 bytes
 * after the prefix carry the bitmask, first byte lowest.
 */
export function bindTimeFeatureSyntax(features: number): SyntaxId {
  const bytes = new Uint8Array(8);
  let f = BigInt(features);
  for (let i = 0; i < 8; i++) {
    bytes[i] = Number(f & 0xffn);
    f >>= 8n;
  }
  const hex = Buffer.from(bytes).toString('hex');
  return { uuid: `${BTFN_PREFIX}${hex.slice(0, 4)}-${hex.slice(4)}`, version: 1 };
}

/**
 * The requested feature bitmask when `s` is a bind-time feature syntax (prefix match, version 1.0),
 * else undefined. The 8 bitmask bytes are read as a little-endian u64, as Samba does.
 */
export function bindTimeFeatures(s: SyntaxId): bigint | undefined {
  if (s.version >>> 0 !== 1 || !s.uuid.startsWith(BTFN_PREFIX)) return undefined;
  const hex = s.uuid.slice(BTFN_PREFIX.length).replace('-', '');
  const bytes = Buffer.from(hex, 'hex');
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}
