/**
 * AES with one long-lived cipher pair per key (padding off, so update() returns every whole
 * block at once): creating a Node cipher costs several times the encryption of a PDU's blocks,
 * and Kerberos wraps and SMB CMAC signatures use one key for a whole session.
 *
 * Decryption is ECB, the CBC chain undone by XOR (aesCbcDecrypt). Encryption is CBC whose
 * chaining block is the last cipher block that cipher produced (`last`); aesCbcEncryptOwned
 * cancels it. The ciphers are kept per key by keyMemo (a key changed in place gets new ones).
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { keyMemo } from './key-memo.js';

export const AES_BLOCK = 16;

interface KeyCiphers {
  readonly ecbDecipher: Decipher;
  readonly cbcCipher: Cipher;
  readonly last: Uint8Array;
}
const keyCiphers = keyMemo<KeyCiphers>((key) => {
  if (key.length !== 16 && key.length !== 32) throw new RangeError(`AES key of ${key.length} bytes`);
  const bits = key.length * 8;
  const ecbDecipher = createDecipheriv(`aes-${bits}-ecb`, key, null);
  ecbDecipher.setAutoPadding(false);
  const last = new Uint8Array(AES_BLOCK);
  const cbcCipher = createCipheriv(`aes-${bits}-cbc`, key, last);
  cbcCipher.setAutoPadding(false);
  return { ecbDecipher, cbcCipher, last };
});
const ciphersOf = (key: Uint8Array): KeyCiphers => keyCiphers.get(key);

const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

function wholeBlocks(data: Uint8Array, what: string): void {
  if (data.length === 0 || data.length % AES_BLOCK !== 0) throw new RangeError(`${what} of ${data.length} bytes: not whole AES blocks`);
}

/** AES-ECB decryption of whole blocks. */
export function aesEcbDecrypt(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  wholeBlocks(blocks, 'AES-ECB input');
  const out = ciphersOf(key).ecbDecipher.update(blocks);
  if (out.length !== blocks.length) throw new RangeError(`AES-ECB returned ${out.length} of ${blocks.length} bytes`);
  return asBytes(out);
}

/**
 * AES-CBC encryption of whole blocks under `iv`. `data` is the caller's to lose: its first block
 * is XORed in place with `iv` and with the key cipher's chaining block `last`, so that
 * E(P1 ⊕ iv ⊕ last ⊕ last) comes out, the CBC of a fresh cipher.
 */
export function aesCbcEncryptOwned(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  wholeBlocks(data, 'AES-CBC input');
  const k = ciphersOf(key);
  for (let i = 0; i < AES_BLOCK; i++) data[i] = data[i]! ^ iv[i]! ^ k.last[i]!;
  let out: Buffer;
  try {
    out = k.cbcCipher.update(data);
  } catch (e) {
    keyCiphers.forget(key); // its chaining state is unknown now
    throw e;
  }
  if (out.length !== data.length) {
    keyCiphers.forget(key);
    throw new RangeError(`AES-CBC returned ${out.length} of ${data.length} bytes`);
  }
  k.last.set(out.subarray(out.length - AES_BLOCK));
  return asBytes(out);
}

/** AES-CBC decryption of whole blocks: every block through ECB at once, then XOR with the block before (the IV first). */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const out = aesEcbDecrypt(key, data);
  for (let i = 0; i < AES_BLOCK; i++) out[i] = out[i]! ^ iv[i]!;
  for (let i = AES_BLOCK; i < data.length; i++) out[i] = out[i]! ^ data[i - AES_BLOCK]!;
  return out;
}
