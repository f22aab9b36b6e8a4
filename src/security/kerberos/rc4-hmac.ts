/**
 * rc4-hmac (23), RFC 4757: the key is MD4 of the UTF-16LE password (no salt); a message is
 * checksum(16) | RC4(K3, confounder(8) | plaintext) with K1 = HMAC-MD5(key, T), checksum =
 * HMAC-MD5(K1, confounder | plaintext), K3 = HMAC-MD5(K1, checksum). T is the key usage after
 * RFC 4757's translation. The checksum type hmac-md5 (-138) signs MD5(T | data) with
 * HMAC-MD5(key, "signaturekey\0").
 *
 * Usage 9 (TGS-REP part under the authenticator subkey): RFC 4757 lists T = 8, but its errata
 * and both MIT krb5 and Heimdal send 9; like MIT we send 9 and accept either on decryption.
 */
import { createHash, createHmac } from 'node:crypto';
import { md4 } from '../crypto/md4.js';
import { pooledRandom } from '../crypto/random-pool.js';
import { rc4 } from '../crypto/rc4.js';
import { KerberosCryptoError } from './errors.js';
import { CKSUMTYPE, ETYPE, type Enctype } from './enctype.js';
import { bytes, bytesEqual, concat, u32le } from './rfc3961.js';

const CKSUM = 16;
const CONFOUNDER = 8;

export const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]): Uint8Array => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return bytes(h.digest());
};
export const md5 = (...data: Uint8Array[]): Uint8Array => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return bytes(h.digest());
};

/** RFC 4757 §3's message-type translation (AS-REP part 3 → 8; GSS Wrap usage 23 → 13). */
export function rc4Usage(usage: number): number {
  switch (usage) {
    case 3: return 8;
    case 23: return 13;
    default: return usage;
  }
}

const SIGNATURE_KEY = new Uint8Array(Buffer.from('signaturekey\0', 'latin1'));

/** HMAC-MD5 checksum (-138) with the message type T already translated. */
export function hmacMd5Checksum(key: Uint8Array, t: number, data: Uint8Array): Uint8Array {
  return hmacMd5(hmacMd5(key, SIGNATURE_KEY), md5(u32le(t), data));
}

const checkKey = (key: Uint8Array): void => {
  if (key.length !== 16) throw new KerberosCryptoError('key-size', `rc4-hmac key of ${key.length} bytes`);
};

function decryptWithT(key: Uint8Array, t: number, ciphertext: Uint8Array): Uint8Array | undefined {
  const k1 = hmacMd5(key, u32le(t));
  const cksum = ciphertext.subarray(0, CKSUM);
  const basic = rc4(hmacMd5(k1, cksum), ciphertext.subarray(CKSUM));
  return bytesEqual(hmacMd5(k1, basic), cksum) ? basic.subarray(CONFOUNDER) : undefined;
}

export const rc4Hmac: Enctype = {
  etype: ETYPE.rc4Hmac,
  name: 'rc4-hmac',
  keySize: 16,
  checksumType: CKSUMTYPE.hmacMd5,
  checksumSize: CKSUM,
  overhead: CKSUM + CONFOUNDER,
  confounderSize: CONFOUNDER,
  stringToKey(password) {
    const text = typeof password === 'string' ? password : Buffer.from(password).toString('utf8');
    return md4(new Uint8Array(Buffer.from(text, 'utf16le')));
  },
  randomToKey(random) {
    checkKey(random);
    return bytes(random);
  },
  encrypt(key, usage, plaintext, confounder) {
    checkKey(key);
    const conf = confounder ?? pooledRandom(CONFOUNDER);
    if (conf.length !== CONFOUNDER) throw new KerberosCryptoError('short', `confounder of ${conf.length} bytes`);
    const k1 = hmacMd5(key, u32le(rc4Usage(usage)));
    const basic = concat(conf, plaintext);
    const cksum = hmacMd5(k1, basic);
    return concat(cksum, rc4(hmacMd5(k1, cksum), basic));
  },
  decrypt(key, usage, ciphertext) {
    if (key.length !== 16) return new KerberosCryptoError('key-size', `rc4-hmac key of ${key.length} bytes`);
    if (ciphertext.length < CKSUM + CONFOUNDER) return new KerberosCryptoError('short', `ciphertext of ${ciphertext.length} bytes`);
    const plain = decryptWithT(key, rc4Usage(usage), ciphertext) ?? (usage === 9 ? decryptWithT(key, 8, ciphertext) : undefined);
    return plain ?? new KerberosCryptoError('integrity', `rc4-hmac usage ${usage}: checksum mismatch`);
  },
  checksum(key, usage, data) {
    checkKey(key);
    return hmacMd5Checksum(key, rc4Usage(usage), data);
  },
  verifyChecksum(key, usage, data, mac) {
    if (key.length !== 16) return false;
    return bytesEqual(hmacMd5Checksum(key, rc4Usage(usage), data), mac);
  },
};
