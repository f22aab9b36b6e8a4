/**
 * SMB 3.x encryption (MS-SMB2 2.2.41, 3.1.4.3): the 52-byte TRANSFORM_HEADER, AES-128/256 in
 * CCM (11-byte nonce) or GCM (12-byte nonce); the associated data is the header from the Nonce
 * on (32 bytes) and the tag goes into Signature. Nonces come from a per-session counter plus a
 * random prefix, so none repeats within a session.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PROTOCOL_TRANSFORM } from './header.js';
import { SmbError } from './errors.js';
import { Reader, Writer } from './wire.js';

export const TRANSFORM_HEADER_SIZE = 52;
export const CIPHER = { AES_128_CCM: 0x0001, AES_128_GCM: 0x0002, AES_256_CCM: 0x0003, AES_256_GCM: 0x0004 } as const;
export type CipherId = (typeof CIPHER)[keyof typeof CIPHER];
export const cipherName = (c: number): string =>
  ({ 1: 'AES-128-CCM', 2: 'AES-128-GCM', 3: 'AES-256-CCM', 4: 'AES-256-GCM' } as Record<number, string>)[c] ?? `cipher ${c}`;
export const isAes256 = (c: number): boolean => c === CIPHER.AES_256_CCM || c === CIPHER.AES_256_GCM;
const isGcm = (c: number): boolean => c === CIPHER.AES_128_GCM || c === CIPHER.AES_256_GCM;

type Aead = 'aes-128-ccm' | 'aes-256-ccm' | 'aes-128-gcm' | 'aes-256-gcm';
function algorithm(c: CipherId): Aead {
  switch (c) {
    case CIPHER.AES_128_CCM: return 'aes-128-ccm';
    case CIPHER.AES_256_CCM: return 'aes-256-ccm';
    case CIPHER.AES_128_GCM: return 'aes-128-gcm';
    case CIPHER.AES_256_GCM: return 'aes-256-gcm';
    default: throw new SmbError(`unknown cipher ${String(c)}`);
  }
}
const nonceLength = (c: CipherId): number => (isGcm(c) ? 12 : 11);

export interface TransformHeader {
  readonly signature: Uint8Array;
  readonly nonce: Uint8Array;
  readonly originalSize: number;
  readonly flags: number;
  readonly sessionId: bigint;
}

export function decodeTransformHeader(msg: Uint8Array): TransformHeader {
  const r = new Reader(msg);
  if (msg.length < TRANSFORM_HEADER_SIZE) throw new SmbError(`encrypted message of ${msg.length} bytes is shorter than the transform header`, 0);
  if (r.u32(0) !== PROTOCOL_TRANSFORM) throw new SmbError('not a TRANSFORM_HEADER', 0);
  return {
    signature: r.bytesAt(4, 16),
    nonce: r.bytesAt(20, 16),
    originalSize: r.u32(36),
    flags: r.u16(42),
    sessionId: r.u64(44),
  };
}

/** Nonces for one session and direction: 3 random bytes then a 64-bit counter (CCM uses 11 bytes, GCM 12). */
export class NonceSource {
  private counter = 0n;
  private readonly prefix = new Uint8Array(randomBytes(3));
  next(len: number): Uint8Array {
    const n = new Uint8Array(16);
    n.set(this.prefix, 0);
    new DataView(n.buffer).setBigUint64(3, this.counter++, true);
    return n.fill(0, len);
  }
}

export function encryptMessage(cipher: CipherId, key: Uint8Array, sessionId: bigint, msg: Uint8Array, nonces: NonceSource): Uint8Array {
  const nlen = nonceLength(cipher);
  const nonce = nonces.next(nlen);
  const w = new Writer(TRANSFORM_HEADER_SIZE + msg.length);
  w.u32(PROTOCOL_TRANSFORM).zeros(16).bytes(nonce).u32(msg.length).u16(0).u16(0x0001).u64(sessionId);
  const header = w.finish();
  const aad = header.subarray(20, TRANSFORM_HEADER_SIZE);
  const c = createCipheriv(algorithm(cipher) as 'aes-128-gcm', key, nonce.subarray(0, nlen), { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: msg.length });
  const body = Buffer.concat([c.update(msg), c.final()]);
  header.set(c.getAuthTag(), 4);
  const out = new Uint8Array(TRANSFORM_HEADER_SIZE + body.length);
  out.set(header);
  out.set(body, TRANSFORM_HEADER_SIZE);
  return out;
}

/** The plaintext SMB2 message inside an encrypted one; SmbError when it does not authenticate. */
export function decryptMessage(cipher: CipherId, key: Uint8Array, msg: Uint8Array): Uint8Array {
  const th = decodeTransformHeader(msg);
  const data = msg.subarray(TRANSFORM_HEADER_SIZE);
  if (th.originalSize !== data.length) throw new SmbError(`transform header says ${th.originalSize} bytes, ${data.length} follow`, 36);
  const nlen = nonceLength(cipher);
  try {
    const d = createDecipheriv(algorithm(cipher) as 'aes-128-gcm', key, th.nonce.subarray(0, nlen), { authTagLength: 16 });
    d.setAuthTag(th.signature);
    d.setAAD(msg.subarray(20, TRANSFORM_HEADER_SIZE), { plaintextLength: data.length });
    return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
  } catch {
    throw new SmbError('an encrypted message from the server does not authenticate (wrong key or tampered)');
  }
}
