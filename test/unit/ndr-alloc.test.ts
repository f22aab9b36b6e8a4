/**
 * Pooled byte arrays (src/ndr/alloc.ts): zero-filled whatever the pool held before, never aliasing
 * their source, plain Uint8Arrays, and DataViews over exactly their bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocBytes, copyBytes, joinBytes, viewOf } from '../../src/ndr/index.js';

describe('pooled byte arrays', () => {
  it('allocBytes is zero-filled even where the pool held other bytes', () => {
    for (let i = 0; i < 200; i++) Buffer.allocUnsafe(300).fill(0xee); // dirty the pool
    for (const n of [0, 1, 64, 65, 300, 4095, 5000]) {
      const b = allocBytes(n);
      expect(b.length).toBe(n);
      expect(b.every((x) => x === 0)).toBe(true);
      expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype);
    }
  });
  it('copyBytes and joinBytes share no memory with their sources', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (parts) => {
      const joined = joinBytes(parts);
      expect([...joined]).toEqual(parts.flatMap((p) => [...p]));
      for (const p of parts) {
        const c = copyBytes(p);
        expect([...c]).toEqual([...p]);
        if (p.length > 0) {
          const before = p[0]!;
          c[0] = (before + 1) & 0xff;
          joined.fill(0);
          expect(p[0]).toBe(before);
        }
      }
    }), { numRuns: 200 });
  });
  it('viewOf covers exactly the bytes of a pooled array', () => {
    const a = allocBytes(100);
    const b = allocBytes(100);
    viewOf(a).setUint32(96, 0xffffffff);
    expect(viewOf(a).byteLength).toBe(100);
    expect(b.every((x) => x === 0)).toBe(true);
    expect([...a.subarray(96)]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });
});
