import type { NdrReader, NdrWriter, NdrLimits } from './cursor.js';
import { NdrReader as Reader, NdrWriter as Writer } from './cursor.js';
import { NdrError } from './error.js';
import type { Rng } from './rng.js';

/**
 * One declaration of an NDR type. Encoding, decoding, printing and random generation all come
 * from it. NDR marshals in two passes, as pidl does: the scalar part inline, then the buffers
 * (deferred pointees) of the enclosing top-level construct in pointer order.
 */
export interface NdrType<T> {
  /** Name for printing and error paths (the IDL name where there is one). */
  readonly name: string;
  /** Alignment of the scalar part in NDR20. */
  readonly align: number;
  /**
   * False when the type never has deferred data. Then readScalars returns the finished value and
   * readBuffers is never needed (callers may skip the second pass).
   */
  readonly hasBuffers: boolean;
  /** True for a conformant array whose max_count an enclosing struct writes at its front. */
  readonly conformant?: boolean;
  /** Element count to hoist, for conformant types. */
  conformanceOf?(v: T): number;
  writeScalars(w: NdrWriter, v: T): void;
  writeBuffers(w: NdrWriter, v: T): void;
  /** Reads the scalar part; what it returns is handed back to readBuffers. */
  readScalars(r: NdrReader): unknown;
  readBuffers(r: NdrReader, scalars: unknown): T;
  /** A readable rendering; nested lines start with `indent`. */
  print(v: T, indent: string): string;
  /** A random value of this type (fuzz generation, property tests). */
  generate(g: Rng, depth: number): T;
}

/** The TypeScript value type a declaration stands for. */
export type Infer<D> = D extends NdrType<infer T> ? T : never;

export interface CodecOptions {
  littleEndian?: boolean;
  limits?: Partial<NdrLimits>;
}

/** Encodes one top-level construct (scalars, then its deferred pointees). */
export function encode<T>(type: NdrType<T>, value: T, opts: CodecOptions & { firstReferent?: number } = {}): Uint8Array {
  const w = new Writer({ littleEndian: opts.littleEndian, firstReferent: opts.firstReferent });
  type.writeScalars(w, value);
  if (type.hasBuffers) type.writeBuffers(w, value);
  return w.finish();
}

export interface Decoded<T> {
  value: T;
  /** Bytes consumed; anything after is trailing data (callers decide whether to accept it). */
  consumed: number;
}

/**
 * Decodes one top-level construct. Total: returns a value or throws NdrError, never anything
 * else. Runtime faults that would escape (a RangeError from a bad length, say) become NdrErrors.
 */
export function decode<T>(type: NdrType<T>, bytes: Uint8Array, opts: CodecOptions = {}): Decoded<T> {
  const r = new Reader(bytes, opts);
  try {
    const scalars = type.readScalars(r);
    const value = type.hasBuffers ? type.readBuffers(r, scalars) : (scalars as T);
    return { value, consumed: r.pos };
  } catch (e) {
    if (e instanceof NdrError) throw e;
    throw new NdrError('RANGE', `unexpected decoder fault: ${String(e)}`, r.pos, '');
  }
}

/** Decodes and requires that every byte was consumed. */
export function decodeExact<T>(type: NdrType<T>, bytes: Uint8Array, opts: CodecOptions = {}): T {
  const d = decode(type, bytes, opts);
  if (d.consumed !== bytes.length) {
    throw new NdrError('BUFSIZE', `${bytes.length - d.consumed} trailing bytes`, d.consumed, '');
  }
  return d.value;
}

/** Renders a value of a declared type. */
export function print<T>(type: NdrType<T>, value: T): string {
  return `${type.name}: ${type.print(value, '  ')}`;
}

/** Helper for the many types whose decoded scalar part is already the value. */
export function scalarOnly<T>(
  name: string,
  align: number,
  write: (w: NdrWriter, v: T) => void,
  read: (r: NdrReader) => T,
  printValue: (v: T) => string,
  generate: (g: Rng) => T,
): NdrType<T> {
  return {
    name,
    align,
    hasBuffers: false,
    writeScalars: write,
    writeBuffers: () => {},
    readScalars: read,
    readBuffers: (_r, s) => s as T,
    print: (v) => printValue(v),
    generate: (g) => generate(g),
  };
}
