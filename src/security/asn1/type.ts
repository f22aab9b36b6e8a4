/**
 * One declaration of an ASN.1 type, as a value: DER encoding, total decoding and the static
 * TypeScript type (Infer) all come from it. Constructors: primitives.ts (INTEGER, OCTET STRING,
 * ...), constructed.ts (SEQUENCE, SEQUENCE OF, CHOICE, tagging, raw capture).
 */
import { Asn1Error } from './error.js';
import { readHeader, tagText, tlv as encodeTlvFrom, type Ctx, type Header, type Tag } from './der.js';

export interface Asn1Type<T> {
  /** Name for error paths and messages. */
  readonly name: string;
  /** The element's tag; absent for CHOICE and ANY, whose tag depends on the value. */
  readonly tag?: Tag;
  /** Marks a SEQUENCE field that may be absent (see `optional`). */
  readonly optional?: boolean;
  /** Whether an element with tag `t` is one of this type (SEQUENCE field and CHOICE matching). */
  accepts(t: Tag): boolean;
  /** The whole element (tag, length, content) in DER. */
  write(v: T): Uint8Array;
  /** Decodes the element whose header is `h` (h's tag is accepted). */
  read(c: Ctx, h: Header): T;
  /** Content-only codec, for IMPLICIT re-tagging; present on types with a fixed tag. */
  writeContent?(v: T): Uint8Array;
  readContent?(c: Ctx, h: Header): T;
}

/** The TypeScript value type a declaration stands for. */
export type Infer<D> = D extends Asn1Type<infer T> ? T : never;

export interface DecodeOptions {
  /** Deepest constructed nesting accepted (default 32). */
  readonly maxDepth?: number;
}

/** A fixed-tag type from its content codec. */
export function tagged<T>(
  name: string,
  tag: Tag,
  writeContent: (v: T) => Uint8Array,
  readContent: (c: Ctx, h: Header) => T,
): Asn1Type<T> {
  return {
    name,
    tag,
    accepts: (t) => t.cls === tag.cls && t.constructed === tag.constructed && t.num === tag.num,
    write: (v) => encodeTlvFrom(tag, writeContent(v)),
    read: readContent,
    writeContent,
    readContent,
  };
}

/** Reads one element of `type` at [off, end); the enclosing code checks `h.end`. */
export function readElement<T>(type: Asn1Type<T>, c: Ctx, off: number, end: number): { value: T; end: number } {
  const h = readHeader(c, off, end);
  if (!type.accepts(h)) throw new Asn1Error('TAG', `${tagText(h)} is not ${type.name}`, off);
  if (h.constructed) {
    if (++c.depth > c.maxDepth) throw new Asn1Error('MAX_DEPTH', `nesting deeper than ${c.maxDepth}`, off);
  }
  const value = type.read(c, h);
  if (h.constructed) c.depth--;
  return { value, end: h.end };
}

/** Wraps a runtime fault that is not an Asn1Error (should never happen) so decode stays total. */
function asAsn1(e: unknown, offset: number): Asn1Error {
  if (e instanceof Asn1Error) return e;
  return new Asn1Error('CONTENT', `internal: ${e instanceof Error ? e.message : String(e)}`, offset);
}

/** Decodes exactly one element filling `bytes`. Throws only Asn1Error. */
export function decode<T>(type: Asn1Type<T>, bytes: Uint8Array, opts: DecodeOptions = {}): T {
  const { value, consumed } = decodePrefix(type, bytes, opts);
  if (consumed !== bytes.length) throw new Asn1Error('TRAILING', `${bytes.length - consumed} bytes after ${type.name}`, consumed);
  return value;
}

/** Decodes one element at the start of `bytes`; trailing bytes are the caller's. Throws only Asn1Error. */
export function decodePrefix<T>(type: Asn1Type<T>, bytes: Uint8Array, opts: DecodeOptions = {}): { value: T; consumed: number } {
  const c: Ctx = { buf: bytes, depth: 0, maxDepth: opts.maxDepth ?? 32 };
  try {
    const { value, end } = readElement(type, c, 0, bytes.length);
    return { value, consumed: end };
  } catch (e) {
    throw asAsn1(e, 0);
  }
}

/** DER encoding of `value`. Throws Asn1Error('ENCODE') for values the type cannot hold. */
export function encode<T>(type: Asn1Type<T>, value: T): Uint8Array {
  try {
    return type.write(value);
  } catch (e) {
    if (e instanceof Asn1Error) throw e;
    throw new Asn1Error('ENCODE', `${type.name}: ${e instanceof Error ? e.message : String(e)}`, 0);
  }
}
