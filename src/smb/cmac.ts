/**
 * AES-CMAC (RFC 4493): subkeys K1/K2 from L = AES(K, 0^128), CBC-MAC over the blocks with the
 * last one XORed with K1 (complete) or padded and XORed with K2. A session signs every message
 * with one key, so the subkeys are kept with the key object and the CBC runs on the key's
 * long-lived cipher (security/crypto/aes-keyed.ts): no cipher is created per message.
 */
import { allocBytes } from '../ndr/index.js';
import { AES_BLOCK as BLOCK, aesCbcEncryptOwned } from '../security/crypto/aes-keyed.js';
import { keyMemo } from '../security/crypto/key-memo.js';

const RB = 0x87;
const ZERO = new Uint8Array(BLOCK);

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

const subkeys = keyMemo((key) => {
  const l = aesCbcEncryptOwned(key, ZERO, new Uint8Array(BLOCK));
  const k1 = shiftLeft(l);
  if (((l[0] as number) & 0x80) !== 0) k1[BLOCK - 1] = (k1[BLOCK - 1] as number) ^ RB;
  const k2 = shiftLeft(k1);
  if (((k1[0] as number) & 0x80) !== 0) k2[BLOCK - 1] = (k2[BLOCK - 1] as number) ^ RB;
  return { k1, k2 };
});

/** K1 and K2 of RFC 4493 2.3, remembered with the key while its bytes are unchanged. */
export function cmacSubkeys(key: Uint8Array): { k1: Uint8Array; k2: Uint8Array } {
  return subkeys.get(key);
}

/** The 16-byte AES-CMAC of `msg` under a 16-byte key. */
export function aesCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (key.length !== 16) throw new RangeError(`AES-CMAC key must be 16 bytes, got ${key.length}`);
  const { k1, k2 } = cmacSubkeys(key);
  const n = Math.max(1, Math.ceil(msg.length / BLOCK));
  const complete = msg.length > 0 && msg.length % BLOCK === 0;
  // The message's blocks with the prepared last block, in a buffer the CBC may overwrite.
  const work = allocBytes(n * BLOCK);
  work.set(msg);
  const last = work.subarray((n - 1) * BLOCK);
  if (complete) {
    for (let i = 0; i < BLOCK; i++) last[i] = (last[i] as number) ^ (k1[i] as number);
  } else {
    last[msg.length - (n - 1) * BLOCK] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i] = (last[i] as number) ^ (k2[i] as number);
  }
  // CBC with a zero IV; the MAC is the last cipher block.
  const out = aesCbcEncryptOwned(key, ZERO, work);
  return new Uint8Array(out.subarray(out.length - BLOCK));
}
