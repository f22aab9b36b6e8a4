/**
 * Byte helpers shared by the NTLMSSP and Kerberos code: fixed-width integers and a constant-time
 * comparison. The integers are built byte by byte: a DataView per call cost about 1 µs, and
 * NTLM signing encodes a sequence number twice per PDU.
 */
import { timingSafeEqual } from 'node:crypto';

/** Constant-time comparison; false for different lengths. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export const u32le = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);

export const u32be = (n: number): Uint8Array => Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
