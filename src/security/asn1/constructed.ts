/**
 * Constructed types and tagging: SEQUENCE, SEQUENCE OF, CHOICE, [n] EXPLICIT, [n] IMPLICIT,
 * [APPLICATION n], OPTIONAL, ANY (raw element) and `withDer` (a value plus its exact bytes, for
 * checksums and MICs computed over the encoding as received).
 */
import { Asn1Error } from './error.js';
import { CLASS, concat, readHeader, tagText, type Tag, type TagClass } from './der.js';
import { readElement, tagged, type Asn1Type, type Infer } from './type.js';

const SEQ_TAG: Tag = { cls: CLASS.universal, constructed: true, num: 16 };

function within<T>(segment: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Asn1Error) e.within(segment);
    throw e;
  }
}

/** A SEQUENCE field that may be absent. */
export type Optional<T> = Asn1Type<T> & { readonly optional: true };

export function optional<T>(t: Asn1Type<T>): Optional<T> {
  return { ...t, optional: true };
}

type Fields = Record<string, Asn1Type<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] };
/** Value of a SEQUENCE: optional fields are optional properties. */
export type SeqValue<F extends Fields> = Simplify<
  { -readonly [K in keyof F as F[K] extends { optional: true } ? never : K]: Infer<F[K]> } & {
    -readonly [K in keyof F as F[K] extends { optional: true } ? K : never]?: Infer<F[K]>;
  }
>;

/** SEQUENCE { ... } with fields in declaration order; DER: absent optionals are omitted. */
export function seq<F extends Fields>(fields: F, name = 'SEQUENCE'): Asn1Type<SeqValue<F>> {
  const entries = Object.entries(fields);
  return tagged<SeqValue<F>>(name, SEQ_TAG, (v) => {
    const rec = v as Record<string, unknown>;
    const parts: Uint8Array[] = [];
    for (const [k, t] of entries) {
      const x = rec[k];
      if (x === undefined) {
        if (!t.optional) throw new Asn1Error('ENCODE', `${name}.${k} missing`, 0);
        continue;
      }
      parts.push(within(k, () => t.write(x)));
    }
    return concat(parts);
  }, (c, h) => {
    const out: Record<string, unknown> = {};
    let p = h.contentStart;
    for (const [k, t] of entries) {
      if (p < h.end) {
        const next = readHeader(c, p, h.end);
        if (t.accepts(next)) {
          const r = within(k, () => readElement(t, c, p, h.end));
          out[k] = r.value;
          p = r.end;
          continue;
        }
      }
      if (!t.optional) throw within(k, () => new Asn1Error('MISSING', `${name}.${k} absent`, p));
    }
    if (p !== h.end) {
      const next = readHeader(c, p, h.end);
      throw new Asn1Error('TRAILING', `${tagText(next)} after the last field of ${name}`, p);
    }
    return out as SeqValue<F>;
  });
}

/** SEQUENCE OF t, at most `max` elements (default 4096; the input bounds it anyway). */
export function seqOf<T>(t: Asn1Type<T>, max = 4096): Asn1Type<T[]> {
  const name = `SEQUENCE OF ${t.name}`;
  return tagged<T[]>(name, SEQ_TAG, (v) => {
    if (v.length > max) throw new Asn1Error('ENCODE', `${name} of ${v.length} elements`, 0);
    return concat(v.map((x, i) => within(`[${i}]`, () => t.write(x))));
  }, (c, h) => {
    const out: T[] = [];
    for (let p = h.contentStart; p < h.end; ) {
      if (out.length >= max) throw new Asn1Error('RANGE', `${name} over ${max} elements`, p);
      const r = within(`[${out.length}]`, () => readElement(t, c, p, h.end));
      out.push(r.value);
      p = r.end;
    }
    return out;
  });
}

type Alts = Record<string, Asn1Type<unknown>>;
/** Value of a CHOICE: the alternative's name and its value. */
export type ChoiceValue<A extends Alts> = { [K in keyof A]: { type: K; value: Infer<A[K]> } }[keyof A];

/** CHOICE { ... }: alternatives told apart by their tags (which must differ). */
export function choice<A extends Alts>(alts: A, name = 'CHOICE'): Asn1Type<ChoiceValue<A>> {
  const entries = Object.entries(alts);
  return {
    name,
    accepts: (tag) => entries.some(([, t]) => t.accepts(tag)),
    write: (v) => {
      const t = alts[v.type as string];
      if (!t) throw new Asn1Error('ENCODE', `${name} has no alternative ${String(v.type)}`, 0);
      return within(String(v.type), () => t.write(v.value));
    },
    read: (c, h) => {
      const hit = entries.find(([, t]) => t.accepts(h));
      if (!hit) throw new Asn1Error('TAG', `${tagText(h)} is no alternative of ${name}`, h.start);
      const [k, t] = hit;
      return within(k, () => ({ type: k, value: t.read(c, h) }) as ChoiceValue<A>);
    },
  };
}

function explicitIn<T>(cls: TagClass, num: number, t: Asn1Type<T>): Asn1Type<T> {
  const tag: Tag = { cls, constructed: true, num };
  const name = `${tagText(tag).replace(' constructed', '')} ${t.name}`;
  return tagged<T>(name, tag, (v) => t.write(v), (c, h) => {
    const r = readElement(t, c, h.contentStart, h.end);
    if (r.end !== h.end) throw new Asn1Error('TRAILING', `bytes after the element inside ${name}`, r.end);
    return r.value;
  });
}

/** [num] EXPLICIT t (context class). */
export const explicit = <T>(num: number, t: Asn1Type<T>): Asn1Type<T> => explicitIn(CLASS.context, num, t);
/** [APPLICATION num] EXPLICIT t (Kerberos' message and Ticket tags). */
export const application = <T>(num: number, t: Asn1Type<T>): Asn1Type<T> => explicitIn(CLASS.application, num, t);

/** [num] IMPLICIT t: t's own tag replaced (t must have a fixed tag; not CHOICE/ANY). */
export function implicit<T>(num: number, t: Asn1Type<T>, cls: TagClass = CLASS.context): Asn1Type<T> {
  if (!t.tag || !t.writeContent || !t.readContent) throw new Error(`implicit(${num}) needs a type with a fixed tag, not ${t.name}`);
  return tagged<T>(`[${num}] IMPLICIT ${t.name}`, { cls, constructed: t.tag.constructed, num }, t.writeContent, t.readContent);
}

/** ANY: one whole element kept as its exact bytes (tag, length, content). */
export function any(): Asn1Type<Uint8Array> {
  return {
    name: 'ANY',
    accepts: () => true,
    write: (v) => {
      const c = { buf: v, depth: 0, maxDepth: 0 };
      const h = readHeader(c, 0, v.length);
      if (h.end !== v.length) throw new Asn1Error('ENCODE', 'ANY value is not exactly one element', h.end);
      return Uint8Array.from(v);
    },
    read: (c, h) => Uint8Array.from(c.buf.subarray(h.start, h.end)),
  };
}

/** A decoded value together with the exact DER bytes it came from (absent on values built to encode). */
export interface WithDer<T> {
  value: T;
  der?: Uint8Array;
}

/**
 * t, plus the element's bytes as received. Encoding writes `value` afresh (DER is canonical, so a
 * decoded value re-encodes to `der`); checksums and MICs should use `der` when verifying.
 */
export function withDer<T>(t: Asn1Type<T>): Asn1Type<WithDer<T>> {
  const out: Asn1Type<WithDer<T>> = {
    name: t.name,
    accepts: (tag) => t.accepts(tag),
    write: (v) => t.write(v.value),
    read: (c, h) => ({ value: t.read(c, h), der: Uint8Array.from(c.buf.subarray(h.start, h.end)) }),
  };
  return t.tag ? { ...out, tag: t.tag } : out;
}


