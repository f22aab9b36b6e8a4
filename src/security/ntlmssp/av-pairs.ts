/**
 * AV_PAIR lists (MS-NLMP 2.2.2.1): the CHALLENGE's TargetInfo and its echo inside the client's
 * NTLMv2 blob. Decoding is total: a list that runs past its buffer or lacks MsvAvEOL is an
 * NtlmError. Bytes after MsvAvEOL are ignored (the NTLMv2 blob pads with zeros after it).
 */
import { AV_ID } from './constants.js';
import { NtlmError } from './errors.js';

export interface AvPair {
  readonly id: number;
  readonly value: Uint8Array;
}

/** At most this many pairs in one list (a 64 KiB field holds at most 16384 empty pairs). */
const MAX_PAIRS = 16_384;

export function decodeAvPairs(buf: Uint8Array, base = 0): AvPair[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: AvPair[] = [];
  let off = 0;
  for (;;) {
    if (off + 4 > buf.length) throw new NtlmError('AV pair list without MsvAvEOL', base + off);
    const id = view.getUint16(off, true);
    const len = view.getUint16(off + 2, true);
    if (id === AV_ID.eol) {
      if (len !== 0) throw new NtlmError('MsvAvEOL with a value', base + off);
      return out;
    }
    if (off + 4 + len > buf.length) throw new NtlmError(`AV pair ${id} of ${len} bytes runs past its field`, base + off);
    if (out.length >= MAX_PAIRS) throw new NtlmError('too many AV pairs', base + off);
    out.push({ id, value: buf.slice(off + 4, off + 4 + len) });
    off += 4 + len;
  }
}

/** Encodes pairs and the closing MsvAvEOL (an MsvAvEOL among `pairs` is skipped). */
export function encodeAvPairs(pairs: readonly AvPair[]): Uint8Array {
  const kept = pairs.filter((p) => p.id !== AV_ID.eol);
  const size = kept.reduce((n, p) => n + 4 + p.value.length, 4);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const p of kept) {
    if (p.value.length > 0xffff) throw new NtlmError(`AV pair ${p.id} value too long`);
    view.setUint16(off, p.id, true);
    view.setUint16(off + 2, p.value.length, true);
    out.set(p.value, off + 4);
    off += 4 + p.value.length;
  }
  return out; // the last 4 bytes stay zero: MsvAvEOL
}

export const findAv = (pairs: readonly AvPair[], id: number): AvPair | undefined => pairs.find((p) => p.id === id);

/** MsvAvFlags as a number, 0 when absent or malformed (not 4 bytes). */
export function avFlags(pairs: readonly AvPair[]): number {
  const p = findAv(pairs, AV_ID.flags);
  if (!p || p.value.length !== 4) return 0;
  return new DataView(p.value.buffer, p.value.byteOffset, 4).getUint32(0, true);
}

export const utf16 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf16le'));
export const fromUtf16 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength & ~1).toString('utf16le');

export { u32le } from '../crypto/bytes.js';

export function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n), true);
  return b;
}

/** Sets or replaces a pair, keeping the order of the others. */
export function withAv(pairs: readonly AvPair[], pair: AvPair): AvPair[] {
  const i = pairs.findIndex((p) => p.id === pair.id);
  if (i < 0) return [...pairs, pair];
  const out = [...pairs];
  out[i] = pair;
  return out;
}
