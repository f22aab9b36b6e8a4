/**
 * AES-CMAC (RFC 4493) on Node's AES-128-ECB: subkeys K1/K2 from L = AES(K, 0^128), CBC-MAC over
 * the blocks with the last one XORed with K1 (complete) or padded and XORed with K2.
 */
import { createCipheriv } from 'node:crypto';

const BLOCK = 16;
const RB = 0x87;

function aesBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createCipheriv(key.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

function shiftLeft(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const v = b[i] as number;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >>> 7;
  }
  return out;
}

/** K1 and K2 of RFC 4493 2.3. */
export function cmacSubkeys(key: Uint8Array): { k1: Uint8Array; k2: Uint8Array } {
  const l = aesBlock(key, new Uint8Array(BLOCK));
  const k1 = shiftLeft(l);
  if (((l[0] as number) & 0x80) !== 0) k1[BLOCK - 1] = (k1[BLOCK - 1] as number) ^ RB;
  const k2 = shiftLeft(k1);
  if (((k1[0] as number) & 0x80) !== 0) k2[BLOCK - 1] = (k2[BLOCK - 1] as number) ^ RB;
  return { k1, k2 };
}

/** The 16-byte AES-CMAC of `msg` under a 16-byte key. */
export function aesCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (key.length !== 16) throw new RangeError(`AES-CMAC key must be 16 bytes, got ${key.length}`);
  const { k1, k2 } = cmacSubkeys(key);
  const n = Math.max(1, Math.ceil(msg.length / BLOCK));
  const complete = msg.length > 0 && msg.length % BLOCK === 0;
  const last = new Uint8Array(BLOCK);
  const tail = msg.subarray((n - 1) * BLOCK);
  last.set(tail);
  if (complete) {
    for (let i = 0; i < BLOCK; i++) last[i] = (last[i] as number) ^ (k1[i] as number);
  } else {
    last[tail.length] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i] = (last[i] as number) ^ (k2[i] as number);
  }
  // CBC with a zero IV over the first n-1 blocks and the prepared last block; the MAC is the
  // last cipher block.
  const c = createCipheriv('aes-128-cbc', key, new Uint8Array(BLOCK));
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(msg.subarray(0, (n - 1) * BLOCK)), c.update(last), c.final()]);
  return new Uint8Array(out.subarray(out.length - BLOCK));
}
