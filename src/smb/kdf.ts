/**
 * SMB 3.x keys (MS-SMB2 3.1.4.2): SP800-108 KDF in counter mode with HMAC-SHA256, i and L as
 * 32-bit big-endian, r = 32: K = PRF(Ki, [i] || Label || 0x00 || Context || [L]). Labels and
 * contexts per dialect (3.2.5.3.1): 3.0/3.0.2 fixed strings, 3.1.1 the preauth integrity hash.
 */
import { createHmac } from 'node:crypto';
import { DIALECT } from './header.js';

const ascii0 = (s: string): Uint8Array => new Uint8Array(Buffer.from(`${s}\0`, 'latin1'));

/** SP800-108 counter-mode KDF, HMAC-SHA256, output of `bits` bits (a multiple of 8). */
export function kdfCounterSha256(key: Uint8Array, label: Uint8Array, context: Uint8Array, bits: number): Uint8Array {
  const bytes = bits / 8;
  const out = new Uint8Array(bytes);
  const l = Buffer.alloc(4);
  l.writeUInt32BE(bits);
  for (let i = 1, off = 0; off < bytes; i++, off += 32) {
    const ib = Buffer.alloc(4);
    ib.writeUInt32BE(i);
    const block = createHmac('sha256', key).update(ib).update(label).update(new Uint8Array([0])).update(context).update(l).digest();
    out.set(block.subarray(0, Math.min(32, bytes - off)), off);
  }
  return out;
}

export interface SessionKeys {
  readonly signingKey: Uint8Array;
  /** Client to server (our encryption key). */
  readonly encryptionKey: Uint8Array;
  /** Server to client (our decryption key). */
  readonly decryptionKey: Uint8Array;
  readonly applicationKey: Uint8Array;
}

/** Session.SessionKey: the GSS key's first 16 bytes, right-padded with zeros. */
export function smbSessionKey(gssKey: Uint8Array): Uint8Array {
  const k = new Uint8Array(16);
  k.set(gssKey.subarray(0, 16));
  return k;
}

/**
 * The session's keys. `preauthHash` is the 3.1.1 session preauth integrity hash; `aes256` when
 * the cipher is AES-256-CCM/GCM (then the encryption keys are 32 bytes from the full GSS key).
 */
export function deriveSessionKeys(dialect: number, gssKey: Uint8Array, preauthHash?: Uint8Array, aes256 = false): SessionKeys {
  const sk = smbSessionKey(gssKey);
  if (dialect < DIALECT.SMB300) return { signingKey: sk, encryptionKey: sk, decryptionKey: sk, applicationKey: sk };
  const cipherKey = aes256 ? gssKey : sk;
  const cipherBits = aes256 ? 256 : 128;
  if (dialect === DIALECT.SMB311) {
    if (preauthHash === undefined || preauthHash.length !== 64) throw new RangeError('SMB 3.1.1 keys need the 64-byte preauth integrity hash');
    return {
      signingKey: kdfCounterSha256(sk, ascii0('SMBSigningKey'), preauthHash, 128),
      encryptionKey: kdfCounterSha256(cipherKey, ascii0('SMBC2SCipherKey'), preauthHash, cipherBits),
      decryptionKey: kdfCounterSha256(cipherKey, ascii0('SMBS2CCipherKey'), preauthHash, cipherBits),
      applicationKey: kdfCounterSha256(sk, ascii0('SMBAppKey'), preauthHash, 128),
    };
  }
  return {
    signingKey: kdfCounterSha256(sk, ascii0('SMB2AESCMAC'), ascii0('SmbSign'), 128),
    encryptionKey: kdfCounterSha256(cipherKey, ascii0('SMB2AESCCM'), ascii0('ServerIn '), cipherBits),
    decryptionKey: kdfCounterSha256(cipherKey, ascii0('SMB2AESCCM'), ascii0('ServerOut'), cipherBits),
    applicationKey: kdfCounterSha256(sk, ascii0('SMB2APP'), ascii0('SmbRpc'), 128),
  };
}
