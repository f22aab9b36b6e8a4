/**
 * SMB2 message signing (MS-SMB2 3.1.4.1): HMAC-SHA256 truncated to 16 bytes (2.0.2, 2.1),
 * AES-128-CMAC (3.x), AES-128-GMAC (3.1.1 when SIGNING_CAPABILITIES chose it; the nonce is the
 * MessageId and a 32-bit word with bit 0 = sent by the server, bit 1 = CANCEL request). The
 * signature field is zero while the signature is computed.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { aesCmac } from './cmac.js';
import { COMMAND, HDR_FLAGS, HEADER_SIZE, SIGNATURE_OFFSET } from './header.js';
import { SmbError } from './errors.js';
import { equalBytes } from './wire.js';

export const SIGNING_ALG = { HMAC_SHA256: 0x0000, AES_CMAC: 0x0001, AES_GMAC: 0x0002 } as const;
export type SigningAlgorithm = (typeof SIGNING_ALG)[keyof typeof SIGNING_ALG];
export const signingAlgorithmName = (a: number): string =>
  a === 0 ? 'HMAC-SHA256' : a === 1 ? 'AES-128-CMAC' : a === 2 ? 'AES-128-GMAC' : `signing algorithm ${a}`;

function signatureIsZero(msg: Uint8Array): boolean {
  for (let i = SIGNATURE_OFFSET; i < SIGNATURE_OFFSET + 16; i++) if (msg[i] !== 0) return false;
  return true;
}

/** The message with its signature field zeroed: itself when the field is zero already (a request being signed). */
function withZeroSignature(msg: Uint8Array): Uint8Array {
  if (signatureIsZero(msg)) return msg;
  const copy = new Uint8Array(msg);
  copy.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + 16);
  return copy;
}

/** The 16-byte signature of a whole SMB2 message (header and body, signature field ignored). */
export function computeSignature(alg: SigningAlgorithm, key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (msg.length < HEADER_SIZE) throw new SmbError('cannot sign a message shorter than the header');
  const m = withZeroSignature(msg);
  switch (alg) {
    case SIGNING_ALG.HMAC_SHA256:
      return new Uint8Array(createHmac('sha256', key).update(m).digest().subarray(0, 16));
    case SIGNING_ALG.AES_CMAC:
      return aesCmac(key, m);
    case SIGNING_ALG.AES_GMAC: {
      const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
      const nonce = new Uint8Array(12);
      nonce.set(m.subarray(24, 32)); // MessageId
      const flags = dv.getUint32(16, true);
      let word = (flags & HDR_FLAGS.SERVER_TO_REDIR) !== 0 ? 1 : 0;
      if (dv.getUint16(12, true) === COMMAND.CANCEL) word |= 2;
      new DataView(nonce.buffer).setUint32(8, word, true);
      const g = createCipheriv('aes-128-gcm', key, nonce);
      g.setAAD(m);
      g.final();
      return new Uint8Array(g.getAuthTag());
    }
    default:
      throw new SmbError(`unknown signing algorithm ${String(alg)}`);
  }
}

/** Sets SMB2_FLAGS_SIGNED and writes the signature, in place. */
export function signMessage(alg: SigningAlgorithm, key: Uint8Array, msg: Uint8Array): void {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  dv.setUint32(16, dv.getUint32(16, true) | HDR_FLAGS.SIGNED, true);
  msg.set(computeSignature(alg, key, msg), SIGNATURE_OFFSET);
}

export function verifySignature(alg: SigningAlgorithm, key: Uint8Array, msg: Uint8Array): boolean {
  if (msg.length < HEADER_SIZE) return false;
  // The field is zeroed in place while the signature is computed (no copy of the message), then put back.
  const sent = msg.slice(SIGNATURE_OFFSET, SIGNATURE_OFFSET + 16);
  msg.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + 16);
  try {
    return equalBytes(computeSignature(alg, key, msg), sent);
  } finally {
    msg.set(sent, SIGNATURE_OFFSET);
  }
}
