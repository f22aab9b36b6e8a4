import { scalarOnly, type NdrType } from './type.js';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** Canonical text form: lower case, no braces. Returns undefined for anything else. */
export function parseGuid(text: string): string | undefined {
  let t = text.trim().toLowerCase();
  if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  return GUID_RE.test(t) ? t : undefined;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** Byte order of the 16 text bytes (hex pairs in text order) on the wire, little-endian. */
const LE_ORDER = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
const BE_ORDER = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/** Character offset of each of the 16 hex pairs in the canonical text. */
const TEXT_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes the 16 NDR bytes of a canonical GUID text into `out` at `at`; false if not canonical. */
function packInto(text: string, out: Uint8Array, at: number, littleEndian: boolean): boolean {
  if (text.length !== 36 || text.charCodeAt(8) !== 45 || text.charCodeAt(13) !== 45 || text.charCodeAt(18) !== 45 || text.charCodeAt(23) !== 45) {
    return false;
  }
  const order = littleEndian ? LE_ORDER : BE_ORDER;
  for (let i = 0; i < 16; i++) {
    const t = TEXT_AT[i] as number;
    const hi = nibble(text.charCodeAt(t));
    const lo = nibble(text.charCodeAt(t + 1));
    if (hi < 0 || lo < 0) return false;
    out[at + (order[i] as number)] = (hi << 4) | lo;
  }
  return true;
}

/** GUID text -> 16 bytes in NDR layout (u32, u16, u16 in the given byte order; 8 bytes as-is). */
export function guidToBytes(text: string, littleEndian = true): Uint8Array {
  const out = new Uint8Array(16);
  if (!packInto(text, out, 0, littleEndian)) {
    const g = parseGuid(text);
    if (g === undefined || !packInto(g, out, 0, littleEndian)) throw new RangeError(`not a GUID: ${text}`);
  }
  return out;
}

/** 16 NDR bytes -> GUID text (lower case). */
export function guidFromBytes(b: Uint8Array, littleEndian = true): string {
  const o = littleEndian ? LE_ORDER : BE_ORDER;
  const h = (i: number): string => HEX[b[o[i] as number] as number] as string;
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}

/** GUID: {u32, u16, u16, u8[8]}, 4-aligned, 16 bytes; the value is its canonical text. */
export const guid: NdrType<string> = scalarOnly(
  'GUID', 4,
  (w, v) => {
    w.align(4);
    w.bytes(guidToBytes(v, w.le));
  },
  (r) => {
    r.align(4);
    return guidFromBytes(r.bytes(16), r.le);
  },
  (v) => v,
  (g) => (g.chance(0.1) ? ZERO_GUID : guidFromBytes(g.bytes(16))),
);
