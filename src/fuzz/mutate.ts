/**
 * Byte-level mutators for structure-aware fuzzing: applied to valid encodings so most inputs get
 * past the first checks and probe the interesting edges (counts, offsets, terminators, lengths).
 */
import type { Rng } from '../ndr/index.js';

const INTERESTING32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

export type MutationKind = 'flip' | 'byte' | 'u32' | 'u16' | 'cut' | 'dup' | 'insert' | 'zero';

export interface Mutation {
  kind: MutationKind;
  at: number;
}

function setU32(b: Uint8Array, at: number, v: number): void {
  if (at + 4 > b.length) return;
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);
}

/** Applies 1..max random mutations; returns the new bytes and what was done (for reports). */
export function mutate(input: Uint8Array, g: Rng, max = 4): { bytes: Uint8Array; mutations: Mutation[] } {
  let b = Uint8Array.from(input);
  const mutations: Mutation[] = [];
  const count = 1 + g.below(max);
  for (let m = 0; m < count; m++) {
    const kind = g.pick<MutationKind>(['flip', 'byte', 'u32', 'u32', 'u16', 'cut', 'dup', 'insert', 'zero']);
    const at = b.length === 0 ? 0 : g.below(b.length);
    mutations.push({ kind, at });
    switch (kind) {
      case 'flip':
        if (b.length) b[at] = (b[at] as number) ^ (1 << g.below(8));
        break;
      case 'byte':
        if (b.length) b[at] = g.pick([0, 1, 0x7f, 0x80, 0xff, g.below(256)]);
        break;
      case 'u32': {
        // Length-like fields are 4-aligned in NDR: hit them on their boundary.
        const aligned = at - (at % 4);
        const old = aligned + 4 <= b.length ? new DataView(b.buffer).getUint32(aligned, true) : 0;
        setU32(b, aligned, g.pick([...INTERESTING32, old + 1, old - 1, old * 2]));
        break;
      }
      case 'u16':
        if (at + 2 <= b.length) new DataView(b.buffer).setUint16(at - (at % 2), g.pick([0, 1, 0xffff, 0x8000, 0xd800, 0xdc00]), true);
        break;
      case 'cut':
        b = b.slice(0, at);
        break;
      case 'dup': {
        const len = 1 + g.below(16);
        b = Uint8Array.from([...b.slice(0, at), ...b.slice(at, at + len), ...b.slice(at)]);
        break;
      }
      case 'insert':
        b = Uint8Array.from([...b.slice(0, at), ...g.bytes(1 + g.below(8)), ...b.slice(at)]);
        break;
      case 'zero':
        b.fill(0, at, at + 1 + g.below(8));
        break;
    }
  }
  return { bytes: b, mutations };
}
