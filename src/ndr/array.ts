import type { NdrReader, NdrWriter } from './cursor.js';
import type { NdrType } from './type.js';

function printList<T>(elem: NdrType<T>, v: readonly T[], indent: string): string {
  if (v.length === 0) return '[]';
  return `[${v.length}]\n${v.map((e, i) => `${indent}[${i}] ${elem.print(e, indent + '  ')}`).join('\n')}`;
}

function readElems<T>(r: NdrReader, elem: NdrType<T>, count: number): unknown[] {
  r.checkCount(count, Math.max(1, elem.align));
  const out: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = elem.readScalars(r);
  return out;
}

function finishElems<T>(r: NdrReader, elem: NdrType<T>, scalars: unknown): T[] {
  const parts = scalars as unknown[];
  if (!elem.hasBuffers) return parts as T[];
  return parts.map((s, i) => r.within(`[${i}]`, () => elem.readBuffers(r, s)));
}

function arrayType<T>(
  name: string,
  elem: NdrType<T>,
  head: { write(w: NdrWriter, v: readonly T[]): void; read(r: NdrReader): number },
  extra: Partial<NdrType<T[]>> = {},
  maxGen = 8,
): NdrType<T[]> {
  return {
    name,
    align: Math.max(4, elem.align),
    hasBuffers: elem.hasBuffers,
    writeScalars(w, v) {
      head.write(w, v);
      for (const e of v) elem.writeScalars(w, e);
    },
    writeBuffers(w, v) {
      for (const e of v) elem.writeBuffers(w, e);
    },
    readScalars: (r) => readElems(r, elem, head.read(r)),
    readBuffers: (r, s) => finishElems(r, elem, s),
    print: (v, indent) => printList(elem, v, indent),
    generate: (g, depth) => Array.from({ length: depth > 6 ? 0 : g.below(maxGen + 1) }, () => elem.generate(g, depth + 1)),
    ...extra,
  };
}

/** A fixed-size array `T x[n]`: elements only. */
export function fixedArray<T>(elem: NdrType<T>, n: number): NdrType<T[]> {
  return {
    ...arrayType(`${elem.name}[${n}]`, elem, {
      write(_w, v) {
        if (v.length !== n) throw new RangeError(`${elem.name}[${n}] given ${v.length} elements`);
      },
      read: () => n,
    }),
    align: elem.align,
    generate: (g, depth) => Array.from({ length: n }, () => elem.generate(g, depth + 1)),
  };
}

/**
 * A conformant array `[size_is(n)] T x[]`: u32 max_count, then the elements. As the last member
 * of a struct the struct writes max_count at its front (hoisting). `inline` keeps max_count in
 * place even inside a struct, as pidl does for a [size_is] array that is not the last member.
 */
export function conformantArray<T>(elem: NdrType<T>, opts: { inline?: boolean } = {}): NdrType<T[]> {
  const hoistable = opts.inline !== true;
  return arrayType(`${elem.name}[*]`, elem, {
    write(w, v) {
      if (!(hoistable && w.takeHoisted())) w.u32(v.length);
    },
    read(r) {
      const hoisted = hoistable ? r.takeConformance() : undefined;
      return hoisted ?? r.u32();
    },
  }, { conformant: hoistable, conformanceOf: (v) => v.length });
}

function readVarying(r: NdrReader, max: number | undefined): number {
  const at = r.pos;
  const offset = r.u32();
  const actual = r.u32();
  if (offset !== 0) r.fail('ARRAY_SIZE', `non-zero array offset ${offset}`, at);
  if (max !== undefined && actual > max) r.fail('ARRAY_SIZE', `actual_count ${actual} exceeds max_count ${max}`, at + 4);
  return actual;
}

/** A varying array `[length_is(n)] T x[max]`: u32 offset (0), u32 actual_count, elements. */
export function varyingArray<T>(elem: NdrType<T>, max: number): NdrType<T[]> {
  return arrayType(`${elem.name}[${max}]`, elem, {
    write(w, v) {
      if (v.length > max) throw new RangeError(`${elem.name}: ${v.length} elements, varying maximum ${max}`);
      w.u32(0);
      w.u32(v.length);
    },
    read: (r) => readVarying(r, max),
  });
}

/** A conformant-varying array: u32 max_count, u32 offset (0), u32 actual_count, elements. */
export function conformantVaryingArray<T>(elem: NdrType<T>): NdrType<T[]> {
  return arrayType(`${elem.name}[*]`, elem, {
    write(w, v) {
      w.u32(v.length);
      w.u32(0);
      w.u32(v.length);
    },
    read(r) {
      const max = r.u32();
      return readVarying(r, max);
    },
  });
}

/** `[size_is(n)] uint8 x[]` as a byte blob: u32 max_count, then the bytes. */
export const conformantBytes: NdrType<Uint8Array> = {
  name: 'uint8[*]',
  align: 4,
  hasBuffers: false,
  writeScalars(w, v) {
    w.u32(v.length);
    w.bytes(v);
  },
  writeBuffers() {},
  readScalars(r) {
    const n = r.u32();
    r.checkCount(n, 1);
    return r.bytes(n).slice();
  },
  readBuffers: (_r, s) => s as Uint8Array,
  print: (v) => `${v.length} bytes ${Buffer.from(v.subarray(0, 32)).toString('hex')}${v.length > 32 ? '…' : ''}`,
  generate: (g) => g.bytes(g.below(24)),
};

/** `uint8 x[n]`: exactly n bytes inline. */
export function fixedBytes(n: number): NdrType<Uint8Array> {
  return {
    name: `uint8[${n}]`,
    align: 1,
    hasBuffers: false,
    writeScalars(w, v) {
      if (v.length !== n) throw new RangeError(`uint8[${n}] given ${v.length} bytes`);
      w.bytes(v);
    },
    writeBuffers() {},
    readScalars: (r) => r.bytes(n).slice(),
    readBuffers: (_r, s) => s as Uint8Array,
    print: (v) => Buffer.from(v).toString('hex'),
    generate: (g) => g.bytes(n),
  };
}
