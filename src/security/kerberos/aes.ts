/**
 * aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18), RFC 3962, in the RFC 3961
 * simplified profile: PBKDF2-HMAC-SHA1 string-to-key, DK key derivation, AES in CBC mode with
 * ciphertext stealing (IV zero), a 16-byte confounder and an HMAC-SHA1-96 integrity tag over
 * confounder | plaintext with Ki; checksum types hmac-sha1-96-aes128 (15) and -aes256 (16).
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { allocBytes } from '../../ndr/index.js';
import { aesCbcDecrypt as cbcDecrypt, aesCbcEncryptOwned as cbcEncryptOwned, aesEcbDecrypt as ecbDecrypt } from '../crypto/aes-keyed.js';
import { keyMemo } from '../crypto/key-memo.js';
import { pooledRandom } from '../crypto/random-pool.js';
import { KerberosCryptoError } from './errors.js';
import { CKSUMTYPE, ETYPE, type Enctype } from './enctype.js';
import { DERIVE, bytes, bytesEqual, concat, deriveRandom, usageConstant } from './rfc3961.js';

const BLOCK = 16;
const MAC = 12;
const DEFAULT_ITERATIONS = 4096;

/** Refuses a key that is not an AES-128 or AES-256 key, in Kerberos' terms. */
const checkAesKey = (key: Uint8Array): void => {
  if (key.length !== 16 && key.length !== 32) throw new KerberosCryptoError('key-size', `AES key of ${key.length} bytes`);
};

/** One AES block encryption (key derivation): CBC under a zero IV of a single block is ECB. */
export const aesEncryptBlock = (key: Uint8Array, block: Uint8Array): Uint8Array => {
  checkAesKey(key);
  if (block.length !== BLOCK) throw new KerberosCryptoError('short', `an AES block of ${block.length} bytes`);
  return bytes(cbcEncryptOwned(key, new Uint8Array(BLOCK), new Uint8Array(block)));
};

/**
 * CBC with ciphertext stealing as RFC 3962 §5 uses it: one block is plain CBC; longer inputs
 * are CBC over the zero-padded text with the last two cipher blocks swapped and the (now last)
 * one cut to the length of the final partial block — swapped even when that block is whole.
 */
export function ctsEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkAesKey(key);
  if (data.length < BLOCK) throw new KerberosCryptoError('short', `CTS of ${data.length} bytes`);
  const blocks = Math.ceil(data.length / BLOCK);
  const padded = allocBytes(blocks * BLOCK);
  padded.set(data);
  const c = cbcEncryptOwned(key, iv, padded);
  if (data.length === BLOCK) return c;
  const tail = data.length - (blocks - 1) * BLOCK;
  const out = allocBytes(data.length);
  out.set(c.subarray(0, (blocks - 2) * BLOCK));
  out.set(c.subarray((blocks - 1) * BLOCK), (blocks - 2) * BLOCK);
  out.set(c.subarray((blocks - 2) * BLOCK, (blocks - 2) * BLOCK + tail), (blocks - 1) * BLOCK);
  return out;
}

export function ctsDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkAesKey(key);
  if (data.length < BLOCK) throw new KerberosCryptoError('short', `CTS of ${data.length} bytes`);
  if (data.length === BLOCK) return cbcDecrypt(key, iv, data);
  const blocks = Math.ceil(data.length / BLOCK);
  const tail = data.length - (blocks - 1) * BLOCK;
  const headLength = (blocks - 2) * BLOCK;
  const last = data.subarray(headLength, headLength + BLOCK); // C(n), sent first
  const partial = data.subarray(headLength + BLOCK); // the head of C(n-1)
  const d = bytes(ecbDecrypt(key, last)); // P(n) zero-padded, XOR C(n-1)
  // The CBC chain with C(n-1) completed from d: head blocks, then C(n-1), decrypted in one pass.
  const chain = allocBytes(headLength + BLOCK);
  chain.set(data.subarray(0, headLength));
  chain.set(partial, headLength);
  chain.set(d.subarray(tail), headLength + tail);
  const out = allocBytes(data.length);
  out.set(cbcDecrypt(key, iv, chain));
  for (let i = 0; i < tail; i++) out[headLength + BLOCK + i] = d[i]! ^ chain[headLength + i]!;
  return out;
}

/** DK(Key, Constant) for AES: random-to-key is the identity. */
export function aesDeriveKey(key: Uint8Array, constant: Uint8Array): Uint8Array {
  checkAesKey(key);
  return deriveRandom(aesEncryptBlock, BLOCK, key, constant, key.length);
}

/**
 * The usage keys (Ke, Ki, Kc) derived from one base key, kept with that key object: a GSS
 * context wraps every PDU with the same session key and usages, and each DK costs AES block
 * encryptions. keyMemo keeps them only while the key's bytes are still the ones they were
 * derived from, so a key changed in place is derived again.
 */
const derivedKeys = keyMemo(() => new Map<number, Uint8Array>());
const MAX_DERIVED_PER_KEY = 64;

/** DK(key, usage | purpose), remembered with the key (see derivedKeys). */
export function aesUsageKey(key: Uint8Array, usage: number, purpose: number): Uint8Array {
  const byUsage = derivedKeys.get(key);
  const id = usage * 256 + purpose;
  let k = byUsage.get(id);
  if (k === undefined) {
    k = aesDeriveKey(key, usageConstant(usage, purpose));
    if (byUsage.size < MAX_DERIVED_PER_KEY) byUsage.set(id, k);
  }
  return k;
}

const hmacSha1 = (key: Uint8Array, data: Uint8Array): Uint8Array => bytes(createHmac('sha1', key).update(data).digest());
const utf8 = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? new Uint8Array(Buffer.from(s, 'utf8')) : s);

function makeAes(etype: number, keySize: number, checksumType: number): Enctype {
  const checkKey = (key: Uint8Array): void => {
    if (key.length !== keySize) throw new KerberosCryptoError('key-size', `etype ${etype} key of ${key.length} bytes`);
  };
  const checksum = (key: Uint8Array, usage: number, data: Uint8Array): Uint8Array => {
    checkKey(key);
    return hmacSha1(aesUsageKey(key, usage, DERIVE.checksum), data).subarray(0, MAC);
  };
  return {
    etype,
    name: `aes${keySize * 8}-cts-hmac-sha1-96`,
    keySize,
    checksumType,
    checksumSize: MAC,
    overhead: BLOCK + MAC,
    confounderSize: BLOCK,
    stringToKey(password, salt, params) {
      let iterations = DEFAULT_ITERATIONS;
      if (params !== undefined) {
        if (params.length !== 4) throw new KerberosCryptoError('unsupported', `AES s2kparams of ${params.length} bytes`);
        iterations = new DataView(params.buffer, params.byteOffset, 4).getUint32(0, false);
        if (iterations === 0) throw new KerberosCryptoError('unsupported', 'an iteration count of 2^32');
      }
      const tkey = bytes(pbkdf2Sync(utf8(password), utf8(salt), iterations, keySize, 'sha1'));
      return aesDeriveKey(tkey, new Uint8Array(Buffer.from('kerberos', 'latin1')));
    },
    randomToKey(random) {
      checkKey(random);
      return bytes(random);
    },
    encrypt(key, usage, plaintext, confounder) {
      checkKey(key);
      const conf = confounder ?? pooledRandom(BLOCK);
      if (conf.length !== BLOCK) throw new KerberosCryptoError('short', `confounder of ${conf.length} bytes`);
      const ke = aesUsageKey(key, usage, DERIVE.encryption);
      const ki = aesUsageKey(key, usage, DERIVE.integrity);
      const basic = concat(conf, plaintext);
      return concat(ctsEncrypt(ke, new Uint8Array(BLOCK), basic), hmacSha1(ki, basic).subarray(0, MAC));
    },
    decrypt(key, usage, ciphertext) {
      if (key.length !== keySize) return new KerberosCryptoError('key-size', `etype ${etype} key of ${key.length} bytes`);
      if (ciphertext.length < BLOCK + MAC) return new KerberosCryptoError('short', `ciphertext of ${ciphertext.length} bytes`);
      const ke = aesUsageKey(key, usage, DERIVE.encryption);
      const ki = aesUsageKey(key, usage, DERIVE.integrity);
      const body = ciphertext.subarray(0, ciphertext.length - MAC);
      const basic = ctsDecrypt(ke, new Uint8Array(BLOCK), body);
      if (!bytesEqual(hmacSha1(ki, basic).subarray(0, MAC), ciphertext.subarray(body.length))) {
        return new KerberosCryptoError('integrity', `etype ${etype} usage ${usage}: HMAC mismatch`);
      }
      return basic.subarray(BLOCK);
    },
    checksum,
    verifyChecksum(key, usage, data, mac) {
      if (key.length !== keySize) return false;
      return bytesEqual(checksum(key, usage, data), mac);
    },
  };
}

export const aes128CtsHmacSha196 = makeAes(ETYPE.aes128CtsHmacSha196, 16, CKSUMTYPE.hmacSha196Aes128);
export const aes256CtsHmacSha196 = makeAes(ETYPE.aes256CtsHmacSha196, 32, CKSUMTYPE.hmacSha196Aes256);
