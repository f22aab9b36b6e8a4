/**
 * The RFC 3961 framework pieces the simplified profile builds on: n-fold (§5.1), the key
 * derivation functions DR and DK (§5.1), the usage constants Kc/Ke/Ki (§5.3), and the byte
 * helpers the enctypes share. Everything works on Uint8Array and never keeps a key.
 */
import { copyBytes, joinBytes } from '../../ndr/index.js';

/** The derived-key purposes of the simplified profile: checksum, encryption, integrity. */
export const DERIVE = { checksum: 0x99, encryption: 0xaa, integrity: 0x55 } as const;

/** The 5-byte DK constant for a key usage: usage as 32-bit big-endian, then the purpose octet. */
export function usageConstant(usage: number, purpose: number): Uint8Array {
  const c = new Uint8Array(5);
  new DataView(c.buffer).setUint32(0, usage >>> 0, false);
  c[4] = purpose;
  return c;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * n-fold(input) to `outBytes` octets (RFC 3961 §5.1): replicate the input up to the least common
 * multiple of both lengths, each copy rotated 13 more bits to the right, and add the
 * `outBytes`-sized chunks with one's-complement (end-around carry) addition.
 */
export function nfold(input: Uint8Array, outBytes: number): Uint8Array {
  const inBytes = input.length;
  if (inBytes === 0 || outBytes <= 0) throw new RangeError('n-fold of an empty input or to zero bytes');
  const lcm = (inBytes * outBytes) / gcd(inBytes, outBytes);
  const inBits = inBytes * 8;
  const sums = new Array<number>(outBytes).fill(0);
  for (let copy = 0; copy < lcm / inBytes; copy++) {
    const rot = (13 * copy) % inBits;
    for (let b = 0; b < inBytes; b++) {
      // Output byte b of this copy: bits b*8 .. b*8+7 of the input rotated right by `rot`.
      let v = 0;
      for (let bit = 0; bit < 8; bit++) {
        const src = (b * 8 + bit - rot + inBits) % inBits;
        v = (v << 1) | ((input[src >>> 3]! >>> (7 - (src & 7))) & 1);
      }
      sums[(copy * inBytes + b) % outBytes]! += v;
    }
  }
  // Propagate carries from the last byte to the first, wrapping around until none remain.
  let carry = 0;
  do {
    for (let i = outBytes - 1; i >= 0; i--) {
      const v = sums[i]! + carry;
      sums[i] = v & 0xff;
      carry = v >>> 8;
    }
  } while (carry !== 0);
  return Uint8Array.from(sums);
}

/** One block (16 bytes) of a block cipher under a key, as DR needs it. */
export type BlockEncrypt = (key: Uint8Array, block: Uint8Array) => Uint8Array;

/**
 * DR(Key, Constant) (RFC 3961 §5.1): n-fold the constant to the block size unless it already is
 * one, then chain encryptions of it until `outBytes` octets are produced.
 */
export function deriveRandom(encrypt: BlockEncrypt, blockSize: number, key: Uint8Array, constant: Uint8Array, outBytes: number): Uint8Array {
  let block = constant.length === blockSize ? constant : nfold(constant, blockSize);
  const out = new Uint8Array(outBytes);
  for (let off = 0; off < outBytes; off += blockSize) {
    block = encrypt(key, block);
    out.set(block.subarray(0, Math.min(blockSize, outBytes - off)), off);
  }
  return out;
}

/** Joins byte arrays: the DCE/RPC layer's helper, variadic. */
export const concat = (...parts: readonly Uint8Array[]): Uint8Array => joinBytes(parts);

/** bytesEqual: constant-time equality (false at once when the lengths differ); u32be/u32le: 4-byte integers. */
export { bytesEqual, u32be, u32le } from '../crypto/bytes.js';

/** A copy as a plain Uint8Array (not a Buffer), so results compare equal in tests and never alias. */
export const bytes = (b: Uint8Array): Uint8Array => copyBytes(b);
