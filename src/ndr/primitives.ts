import { scalarOnly, type NdrType } from './type.js';
import type { Rng } from './rng.js';

const hex = (v: number, width = 8): string => `0x${(v >>> 0).toString(16).padStart(width, '0')}`;

function edgeOr(g: Rng, edges: readonly number[], random: () => number): number {
  return g.chance(0.3) ? g.pick(edges) : random();
}

export const u8: NdrType<number> = scalarOnly(
  'uint8', 1, (w, v) => w.u8(v), (r) => r.u8(), String, (g) => g.below(256),
);
export const u16: NdrType<number> = scalarOnly(
  'uint16', 2, (w, v) => w.u16(v), (r) => r.u16(), String, (g) => edgeOr(g, [0, 1, 0xffff], () => g.below(0x10000)),
);
export const u32: NdrType<number> = scalarOnly(
  'uint32', 4, (w, v) => w.u32(v), (r) => r.u32(), String,
  (g) => edgeOr(g, [0, 1, 0x7fffffff, 0xffffffff], () => g.u32()),
);
export const i32: NdrType<number> = scalarOnly(
  'int32', 4, (w, v) => w.i32(v), (r) => r.i32(), String, (g) => g.u32() | 0,
);
/** hyper / LONGLONG / uint64: 8 bytes, 8-aligned. */
export const hyper: NdrType<bigint> = scalarOnly(
  'hyper', 8, (w, v) => w.u64(v), (r) => r.u64(), (v) => `0x${v.toString(16)}`, (g) => g.u64(),
);
/** Samba's udlong/NTTIME: 8 bytes, only 4-aligned. */
export const udlong: NdrType<bigint> = scalarOnly(
  'udlong', 4, (w, v) => w.u64(v, 4), (r) => r.u64(4), (v) => `0x${v.toString(16)}`, (g) => g.u64(),
);

/** BOOL / boolean32: a 4-byte integer; any non-zero value decodes as true, true encodes as 1. */
export const boolean32: NdrType<boolean> = scalarOnly(
  'boolean32', 4, (w, v) => w.u32(v ? 1 : 0), (r) => r.u32() !== 0, (v) => (v ? 'TRUE' : 'FALSE'),
  (g) => g.chance(0.5),
);

/** FILETIME as LONGLONG (100 ns units since 1601-01-01 UTC), 8-aligned; printed as a date too. */
export const filetime: NdrType<bigint> = scalarOnly(
  'FILETIME', 8, (w, v) => w.u64(v), (r) => r.u64(),
  (v) => {
    const ms = Number(v / 10000n) - 11644473600000;
    const d = new Date(ms);
    return Number.isFinite(d.getTime()) && ms > -8.64e15 && ms < 8.64e15
      ? `0x${v.toString(16)} (${d.toISOString()})`
      : `0x${v.toString(16)}`;
  },
  (g) => (g.chance(0.2) ? 0n : g.u64()),
);

/**
 * A 32-bit constant with names (HRESULTs, context values): encodes as uint32, prints the name
 * when it has one. Unknown values decode fine; the name table is for humans and generation.
 */
export function named32(name: string, names: Readonly<Record<string, number>>): NdrType<number> {
  const byValue = new Map<number, string>();
  for (const [k, v] of Object.entries(names)) if (!byValue.has(v >>> 0)) byValue.set(v >>> 0, k);
  const values = [...byValue.keys()];
  return scalarOnly(
    name, 4, (w, v) => w.u32(v), (r) => r.u32(),
    (v) => {
      const n = byValue.get(v >>> 0);
      return n ? `${hex(v)} (${n})` : hex(v);
    },
    (g) => (values.length > 0 && g.chance(0.7) ? g.pick(values) : g.u32()),
  );
}

/** A 16-bit NDR enum (the default size for IDL enums without [v1_enum]). */
export function enum16(name: string, names: Readonly<Record<string, number>>): NdrType<number> {
  const byValue = new Map<number, string>(Object.entries(names).map(([k, v]) => [v, k]));
  const values = [...byValue.keys()];
  return scalarOnly(
    name, 2, (w, v) => w.u16(v), (r) => r.u16(),
    (v) => (byValue.has(v) ? `${v} (${byValue.get(v)})` : String(v)),
    (g) => (values.length > 0 && g.chance(0.8) ? g.pick(values) : g.below(0x10000)),
  );
}
