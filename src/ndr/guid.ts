import { scalarOnly, type NdrType } from './type.js';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** Canonical text form: lower case, no braces. Returns undefined for anything else. */
export function parseGuid(text: string): string | undefined {
  let t = text.trim().toLowerCase();
  if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  return GUID_RE.test(t) ? t : undefined;
}

function hex(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += (b[i] as number).toString(16).padStart(2, '0');
  return s;
}

/** GUID text -> 16 bytes in NDR layout (u32, u16, u16 in the given byte order; 8 bytes as-is). */
export function guidToBytes(text: string, littleEndian = true): Uint8Array {
  const g = parseGuid(text);
  if (g === undefined) throw new RangeError(`not a GUID: ${text}`);
  const h = g.replace(/-/g, '');
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, parseInt(h.slice(0, 8), 16), littleEndian);
  dv.setUint16(4, parseInt(h.slice(8, 12), 16), littleEndian);
  dv.setUint16(6, parseInt(h.slice(12, 16), 16), littleEndian);
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(h.slice(16 + 2 * i, 18 + 2 * i), 16);
  return out;
}

/** 16 NDR bytes -> GUID text. */
export function guidFromBytes(b: Uint8Array, littleEndian = true): string {
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  const d1 = dv.getUint32(0, littleEndian).toString(16).padStart(8, '0');
  const d2 = dv.getUint16(4, littleEndian).toString(16).padStart(4, '0');
  const d3 = dv.getUint16(6, littleEndian).toString(16).padStart(4, '0');
  return `${d1}-${d2}-${d3}-${hex(b, 8, 10)}-${hex(b, 10, 16)}`;
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
