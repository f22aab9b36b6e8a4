/**
 * The one interface every Kerberos encryption type offers (RFC 3961 §3, §4), and the etype and
 * checksum-type numbers we implement: aes128/aes256-cts-hmac-sha1-96 (RFC 3962) and rc4-hmac
 * (RFC 4757).
 */
import type { KerberosCryptoError } from './errors.js';

export const ETYPE = {
  aes128CtsHmacSha196: 17,
  aes256CtsHmacSha196: 18,
  rc4Hmac: 23,
} as const;

export const CKSUMTYPE = {
  hmacSha196Aes128: 15,
  hmacSha196Aes256: 16,
  hmacMd5: -138,
} as const;

export interface Enctype {
  readonly etype: number;
  readonly name: string;
  /** Key length in bytes (16 or 32). */
  readonly keySize: number;
  /** The checksum type keyed with this enctype's keys, and its length in bytes. */
  readonly checksumType: number;
  readonly checksumSize: number;
  /** Bytes encrypt() adds to the plaintext (confounder and integrity tag). */
  readonly overhead: number;
  /** Confounder length encrypt() takes when given one. */
  readonly confounderSize: number;
  /**
   * The long-term key of a password (RFC 3961 §3). `salt` is ignored by rc4-hmac; `params` are
   * the etype's s2kparams (AES: 4-byte big-endian iteration count, default 4096).
   */
  stringToKey?(password: string | Uint8Array, salt: string | Uint8Array, params?: Uint8Array): Uint8Array;
  randomToKey(random: Uint8Array): Uint8Array;
  /** Encrypts under the key usage; `confounder` (for tests) replaces the random one. Throws KerberosCryptoError on a bad key. */
  encrypt(key: Uint8Array, usage: number, plaintext: Uint8Array, confounder?: Uint8Array): Uint8Array;
  /** The plaintext, or why not: never throws. */
  decrypt(key: Uint8Array, usage: number, ciphertext: Uint8Array): Uint8Array | KerberosCryptoError;
  /** The keyed checksum (checksumType) of `data` under the key usage. Throws KerberosCryptoError on a bad key. */
  checksum(key: Uint8Array, usage: number, data: Uint8Array): Uint8Array;
  /** Constant-time comparison against checksum(); false (never a throw) on any mismatch or bad key. */
  verifyChecksum(key: Uint8Array, usage: number, data: Uint8Array, checksum: Uint8Array): boolean;
}

/** The default salt (RFC 4120 §4): the realm followed by the principal's name components, no separators. */
export function defaultSalt(realm: string, components: readonly string[]): string {
  return realm + components.join('');
}
