/**
 * The typed failures of the Kerberos layer. Decryption and token checks report what went wrong
 * with one of these and never anything else; the keytab decoder adds the offset it stopped at.
 */

export type KerberosCryptoCode =
  /** The integrity check (HMAC) of a ciphertext, checksum or token does not match. */
  | 'integrity'
  /** The input is shorter than the enctype's fixed overhead (or otherwise malformed in length). */
  | 'short'
  /** A key of the wrong length for its enctype. */
  | 'key-size'
  /** An enctype or checksum type we do not implement. */
  | 'unsupported'
  /** A per-message token whose fixed fields are wrong (TOK_ID, filler, flags, direction). */
  | 'token'
  /** A per-message token out of sequence (replayed, lost or reordered). */
  | 'sequence';

export class KerberosCryptoError extends Error {
  override readonly name = 'KerberosCryptoError';
  constructor(readonly code: KerberosCryptoCode, readonly reason: string) {
    super(`${code}: ${reason}`);
  }
}

/** A keytab file that does not decode: where (byte offset) and why. */
export class KeytabError extends Error {
  override readonly name = 'KeytabError';
  constructor(readonly offset: number, readonly reason: string) {
    super(`keytab at offset ${offset}: ${reason}`);
  }
}
