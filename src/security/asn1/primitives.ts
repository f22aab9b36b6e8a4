/**
 * Universal primitive types (X.690 8.2-8.21 with the DER restrictions of clause 10/11):
 * BOOLEAN, INTEGER, ENUMERATED, NULL, OCTET STRING, BIT STRING, OBJECT IDENTIFIER, the string
 * types Kerberos and SPNEGO use, and GeneralizedTime in KerberosTime's form.
 */
import { Asn1Error } from './error.js';
import { CLASS, type Ctx, type Header, type Tag } from './der.js';
import { tagged, type Asn1Type } from './type.js';

const uni = (num: number, constructed = false): Tag => ({ cls: CLASS.universal, constructed, num });
const content = (c: Ctx, h: Header): Uint8Array => c.buf.subarray(h.contentStart, h.end);

export function boolean(): Asn1Type<boolean> {
  return tagged('BOOLEAN', uni(1), (v) => Uint8Array.of(v ? 0xff : 0), (c, h) => {
    const b = content(c, h);
    if (b.length !== 1) throw new Asn1Error('CONTENT', 'BOOLEAN of other than one octet', h.contentStart);
    if (b[0] !== 0 && b[0] !== 0xff) throw new Asn1Error('NON_DER', 'BOOLEAN true other than 0xFF', h.contentStart);
    return b[0] === 0xff;
  });
}

export function nullType(): Asn1Type<null> {
  return tagged('NULL', uni(5), () => new Uint8Array(0), (_c, h) => {
    if (h.end !== h.contentStart) throw new Asn1Error('CONTENT', 'NULL with content', h.contentStart);
    return null;
  });
}

/** Two's-complement minimal content of `v`. */
function bigToContent(v: bigint): Uint8Array {
  const out: number[] = [];
  let n = v;
  for (;;) {
    const byte = Number(BigInt.asUintN(8, n));
    out.unshift(byte);
    n >>= 8n;
    if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out);
}

function contentToBig(c: Ctx, h: Header, what: string): bigint {
  const b = content(c, h);
  if (b.length === 0) throw new Asn1Error('CONTENT', `${what} with no content`, h.contentStart);
  if (b.length > 1 && ((b[0] === 0 && (b[1]! & 0x80) === 0) || (b[0] === 0xff && (b[1]! & 0x80) !== 0))) {
    throw new Asn1Error('NON_DER', `${what} not in its shortest form`, h.contentStart);
  }
  if (b.length > 64) throw new Asn1Error('RANGE', `${what} of ${b.length} octets`, h.contentStart);
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return BigInt.asIntN(b.length * 8, n);
}

export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

function numberCodec(name: string, num: number, range: IntRange): Asn1Type<number> {
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  return tagged(name, uni(num), (v) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new Asn1Error('ENCODE', `${name} ${v} outside ${min}..${max}`, 0);
    return bigToContent(BigInt(v));
  }, (c, h) => {
    const n = contentToBig(c, h, name);
    if (n < BigInt(min) || n > BigInt(max)) throw new Asn1Error('RANGE', `${name} ${n} outside ${min}..${max}`, h.contentStart);
    return Number(n);
  });
}

/** INTEGER as a JS number: safe integers only, or the given range (decode refuses others). */
export const integer = (range: IntRange = {}): Asn1Type<number> => numberCodec('INTEGER', 2, range);
/** Kerberos Int32 (RFC 4120 5.2.4). */
export const int32 = (): Asn1Type<number> => numberCodec('Int32', 2, { min: -0x80000000, max: 0x7fffffff });
/** Kerberos UInt32. */
export const uint32 = (): Asn1Type<number> => numberCodec('UInt32', 2, { min: 0, max: 0xffffffff });
/** Kerberos Microseconds (0..999999). */
export const microseconds = (): Asn1Type<number> => numberCodec('Microseconds', 2, { min: 0, max: 999999 });
/** ENUMERATED as a number. */
export const enumerated = (range: IntRange = {}): Asn1Type<number> => numberCodec('ENUMERATED', 10, range);

/** INTEGER of any size (up to 64 octets) as a bigint. */
export function bigInteger(): Asn1Type<bigint> {
  return tagged('INTEGER', uni(2), bigToContent, (c, h) => contentToBig(c, h, 'INTEGER'));
}

export function octetString(): Asn1Type<Uint8Array> {
  return tagged('OCTET STRING', uni(4), (v) => Uint8Array.from(v), (c, h) => Uint8Array.from(content(c, h)));
}

/** BIT STRING: the octets and the number of unused bits in the last one (DER: those bits zero). */
export interface BitString {
  readonly bytes: Uint8Array;
  readonly unusedBits: number;
}

export function bitString(): Asn1Type<BitString> {
  return tagged<BitString>('BIT STRING', uni(3), (v) => {
    if (!Number.isInteger(v.unusedBits) || v.unusedBits < 0 || v.unusedBits > 7 || (v.bytes.length === 0 && v.unusedBits !== 0)) {
      throw new Asn1Error('ENCODE', `BIT STRING with ${v.unusedBits} unused bits`, 0);
    }
    const out = new Uint8Array(v.bytes.length + 1);
    out[0] = v.unusedBits;
    out.set(v.bytes, 1);
    if (v.bytes.length) out[out.length - 1]! &= (0xff << v.unusedBits) & 0xff;
    return out;
  }, (c, h) => {
    const b = content(c, h);
    if (b.length === 0) throw new Asn1Error('CONTENT', 'BIT STRING with no content', h.contentStart);
    const unusedBits = b[0]!;
    if (unusedBits > 7 || (b.length === 1 && unusedBits !== 0)) throw new Asn1Error('CONTENT', `BIT STRING with ${unusedBits} unused bits`, h.contentStart);
    if (b.length > 1 && (b[b.length - 1]! & ((1 << unusedBits) - 1)) !== 0) throw new Asn1Error('NON_DER', 'BIT STRING unused bits not zero', h.end - 1);
    return { bytes: Uint8Array.from(b.subarray(1)), unusedBits };
  });
}

/**
 * KerberosFlags (RFC 4120 5.2.8) as a 32-bit number, bit 0 the most significant: 32 bits on the
 * wire (0 unused bits, 4 octets), as MIT, Heimdal and Windows send them; other sizes are refused
 * (NON_DER) so that a decoded value re-encodes to the same bytes.
 */
export function kerberosFlags(): Asn1Type<number> {
  const bits = bitString();
  return tagged('KerberosFlags', uni(3), (v) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Asn1Error('ENCODE', `KerberosFlags ${v}`, 0);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    return bits.writeContent!({ bytes: b, unusedBits: 0 });
  }, (c, h) => {
    const { bytes, unusedBits } = bits.readContent!(c, h);
    if (bytes.length !== 4 || unusedBits !== 0) throw new Asn1Error('NON_DER', `KerberosFlags of ${bytes.length * 8 - unusedBits} bits, not 32`, h.contentStart);
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  });
}

export function oid(): Asn1Type<string> {
  return tagged('OBJECT IDENTIFIER', uni(6), (v) => {
    if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(v)) throw new Asn1Error('ENCODE', `bad OID ${JSON.stringify(v)}`, 0);
    const arcs = v.split('.').map((a) => BigInt(a));
    if (arcs[0]! < 2n && arcs[1]! > 39n) throw new Asn1Error('ENCODE', `bad OID ${v}`, 0);
    const out: number[] = [];
    for (const arc of [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]) {
      const g: number[] = [];
      let n = arc;
      do {
        g.unshift(Number(n & 0x7fn));
        n >>= 7n;
      } while (n > 0n);
      out.push(...g.map((x, i) => (i < g.length - 1 ? x | 0x80 : x)));
    }
    return Uint8Array.from(out);
  }, (c, h) => {
    const b = content(c, h);
    if (b.length === 0 || b.length > 128) throw new Asn1Error('CONTENT', `OID of ${b.length} octets`, h.contentStart);
    if ((b[b.length - 1]! & 0x80) !== 0) throw new Asn1Error('CONTENT', 'OID ends inside an arc', h.end - 1);
    const arcs: bigint[] = [];
    let n = 0n;
    let first = true;
    for (let i = 0; i < b.length; i++) {
      if (first && b[i] === 0x80) throw new Asn1Error('NON_DER', 'OID arc with a leading zero group', h.contentStart + i);
      n = (n << 7n) | BigInt(b[i]! & 0x7f);
      first = (b[i]! & 0x80) === 0;
      if (first) {
        arcs.push(n);
        n = 0n;
      }
    }
    const a0 = arcs[0]!;
    const head = a0 < 80n ? [a0 / 40n, a0 % 40n] : [2n, a0 - 80n];
    return [...head, ...arcs.slice(1)].join('.');
  });
}

function stringCodec(name: string, num: number, check: (b: Uint8Array) => boolean, dec: (b: Uint8Array) => string, enc: (s: string) => Uint8Array): Asn1Type<string> {
  return tagged(name, uni(num), (v) => {
    const b = enc(v);
    if (!check(b) || dec(b) !== v) throw new Asn1Error('ENCODE', `${name} cannot hold ${JSON.stringify(v)}`, 0);
    return b;
  }, (c, h) => {
    const b = content(c, h);
    if (!check(b)) throw new Asn1Error('CONTENT', `bad ${name} characters`, h.contentStart);
    return dec(b);
  });
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isUtf8 = (b: Uint8Array): boolean => {
  try {
    utf8Decoder.decode(b);
    return true;
  } catch {
    return false;
  }
};
const fromUtf8 = (b: Uint8Array): string => (isUtf8(b) ? utf8Decoder.decode(b) : '');
const toUtf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const isAscii = (b: Uint8Array): boolean => b.every((x) => x < 0x80);

/** UTF8String. */
export const utf8 = (): Asn1Type<string> => stringCodec('UTF8String', 12, isUtf8, fromUtf8, toUtf8);
/** IA5String (ASCII). */
export const ia5 = (): Asn1Type<string> => stringCodec('IA5String', 22, isAscii, fromUtf8, toUtf8);
/**
 * GeneralString as Kerberos uses it (KerberosString, Realm): read and written as UTF-8, which is
 * what MIT, Heimdal and Windows put there in practice (RFC 4120 5.2.1).
 */
export const generalString = (): Asn1Type<string> => stringCodec('GeneralString', 27, isUtf8, fromUtf8, toUtf8);

/** GeneralizedTime in KerberosTime form "YYYYMMDDHHMMSSZ" (RFC 4120 5.2.3): whole seconds, UTC. */
export function generalizedTime(): Asn1Type<Date> {
  return tagged('GeneralizedTime', uni(24), (v) => {
    const t = v.getTime();
    if (!Number.isFinite(t) || t % 1000 !== 0) throw new Asn1Error('ENCODE', 'KerberosTime needs whole seconds', 0);
    const y = v.getUTCFullYear();
    if (y < 0 || y > 9999) throw new Asn1Error('ENCODE', `year ${y}`, 0);
    const p = (n: number, w = 2): string => String(n).padStart(w, '0');
    return toUtf8(`${p(y, 4)}${p(v.getUTCMonth() + 1)}${p(v.getUTCDate())}${p(v.getUTCHours())}${p(v.getUTCMinutes())}${p(v.getUTCSeconds())}Z`);
  }, (c, h) => {
    const b = content(c, h);
    const s = isAscii(b) ? fromUtf8(b) : '';
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new Asn1Error('CONTENT', 'GeneralizedTime not YYYYMMDDHHMMSSZ', h.contentStart);
    const [y, mo, d, hh, mi, ss] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const date = new Date(0);
    date.setUTCFullYear(y, mo - 1, d);
    date.setUTCHours(hh, mi, ss, 0);
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || date.getUTCHours() !== hh || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== ss) {
      throw new Asn1Error('CONTENT', `no such time ${s}`, h.contentStart);
    }
    return date;
  });
}
