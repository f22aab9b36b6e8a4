/**
 * Random bytes for per-message values (Kerberos confounders): served from a pool filled by the
 * CSPRNG 4 KiB at a time, since one randomBytes call costs a system call (measured here: about
 * 18 µs for 16 bytes, half of an AES Wrap). Each byte is handed out once, then zeroed in the pool.
 * Large requests go to the CSPRNG directly.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const DIRECT_FROM = 256;
let pool = new Uint8Array(0);
let offset = 0;

export function pooledRandom(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`pooledRandom: ${n} bytes`);
  if (n >= DIRECT_FROM) return randomFillSync(new Uint8Array(n));
  if (offset + n > pool.length) {
    pool = randomFillSync(new Uint8Array(POOL_SIZE));
    offset = 0;
  }
  const out = pool.slice(offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
