/**
 * DER identifier and length octets (X.690 8.1.2, 8.1.3, 10.1): reading with every bound checked
 * against the enclosing element, writing in the one DER form.
 */
import { Asn1Error } from './error.js';
import { joinBytes } from '../../ndr/index.js';

export const CLASS = { universal: 0, application: 1, context: 2, private: 3 } as const;
export type TagClass = (typeof CLASS)[keyof typeof CLASS];

export interface Tag {
  readonly cls: TagClass;
  readonly constructed: boolean;
  readonly num: number;
}

/** One element's header: where it starts, where its content starts and ends. */
export interface Header extends Tag {
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Decoding state shared by one decode call. */
export interface Ctx {
  readonly buf: Uint8Array;
  depth: number;
  readonly maxDepth: number;
}

export const sameTag = (a: Tag, b: Tag): boolean => a.cls === b.cls && a.constructed === b.constructed && a.num === b.num;

export function tagText(t: Tag): string {
  const cls = ['UNIVERSAL', 'APPLICATION', '', 'PRIVATE'][t.cls];
  return `[${cls ? `${cls} ` : ''}${t.num}]${t.constructed ? ' constructed' : ''}`;
}

/** Reads the header at `off`; its content must end by `end`. */
export function readHeader(c: Ctx, off: number, end: number): Header {
  const b = c.buf;
  if (off >= end) throw new Asn1Error('TRUNCATED', 'element header past the end', off);
  const b0 = b[off]!;
  const cls = (b0 >> 6) as TagClass;
  const constructed = (b0 & 0x20) !== 0;
  let num = b0 & 0x1f;
  let p = off + 1;
  if (num === 0x1f) {
    num = 0;
    for (let i = 0; ; i++) {
      if (p >= end) throw new Asn1Error('TRUNCATED', 'tag number past the end', p);
      const x = b[p++]!;
      if (i === 0 && x === 0x80) throw new Asn1Error('NON_DER', 'tag number with a leading zero group', p - 1);
      if (i === 4) throw new Asn1Error('RANGE', 'tag number too large', p - 1);
      num = num * 128 + (x & 0x7f);
      if ((x & 0x80) === 0) break;
    }
    if (num < 0x1f) throw new Asn1Error('NON_DER', 'small tag number in the long form', off);
  }
  if (p >= end) throw new Asn1Error('TRUNCATED', 'length past the end', p);
  const l0 = b[p++]!;
  let len = l0;
  if (l0 === 0x80) throw new Asn1Error('INDEFINITE', 'indefinite length', p - 1);
  if (l0 & 0x80) {
    const n = l0 & 0x7f;
    if (n > 4) throw new Asn1Error('RANGE', `length of ${n} octets`, p - 1);
    if (p + n > end) throw new Asn1Error('TRUNCATED', 'length octets past the end', p);
    if (b[p] === 0) throw new Asn1Error('NON_DER', 'length with a leading zero octet', p);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    if (len < 0x80) throw new Asn1Error('NON_DER', 'long-form length below 128', p - n - 1);
  }
  if (len > end - p) throw new Asn1Error('TRUNCATED', `content of ${len} bytes, ${end - p} left`, p);
  return { cls, constructed, num, start: off, contentStart: p, end: p + len };
}

function tagBytes(t: Tag): number[] {
  const first = (t.cls << 6) | (t.constructed ? 0x20 : 0);
  if (t.num < 0x1f) return [first | t.num];
  const groups: number[] = [];
  let n = t.num;
  do {
    groups.unshift(n & 0x7f);
    n = Math.floor(n / 128);
  } while (n > 0);
  return [first | 0x1f, ...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g))];
}

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const out: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return [0x80 | out.length, ...out];
}

/** Joins byte arrays (the DCE/RPC layer's helper; one copy of it in the tree). */
export const concat = joinBytes;

/** One element: tag, DER length, content. */
export function tlv(t: Tag, content: Uint8Array): Uint8Array {
  const head = [...tagBytes(t), ...lengthBytes(content.length)];
  const out = new Uint8Array(head.length + content.length);
  out.set(head, 0);
  out.set(content, head.length);
  return out;
}
