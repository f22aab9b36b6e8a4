/**
 * Byte arrays for the per-PDU paths. `new Uint8Array(n)` above 64 bytes gets a backing store of
 * its own, which cost about 2.5 µs here, longer than encoding a small PDU; `Buffer.allocUnsafe`
 * takes arrays under 4 KiB from Node's shared pool (0.12 µs). These return plain Uint8Array views
 * (not Buffers) onto that memory: their `.buffer` is shared, so a DataView over one must be given
 * its byteOffset and byteLength. Small arrays stay ordinary ones.
 */

/** Arrays up to this size are ordinary ones: V8 keeps them on its heap, which is cheap. */
const ON_HEAP = 64;

/** A zero-filled array of `n` bytes. */
export function allocBytes(n: number): Uint8Array {
  if (n <= ON_HEAP) return new Uint8Array(n);
  const b = Buffer.allocUnsafe(n).fill(0);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** A copy of `src` that shares no memory with it. */
export function copyBytes(src: Uint8Array): Uint8Array {
  if (src.length <= ON_HEAP) return new Uint8Array(src);
  const b = Buffer.allocUnsafe(src.length);
  b.set(src);
  return new Uint8Array(b.buffer, b.byteOffset, src.length);
}

/** `parts` joined into one new array. */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  let out: Uint8Array;
  if (total <= ON_HEAP) {
    out = new Uint8Array(total);
  } else {
    const b = Buffer.allocUnsafe(total);
    out = new Uint8Array(b.buffer, b.byteOffset, total);
  }
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A DataView over exactly the bytes of `b`. */
export const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
