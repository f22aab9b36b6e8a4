/**
 * Message integrity and confidentiality with extended session security (MS-NLMP 3.4.2–3.4.4):
 * a signature is Version(1) ‖ Checksum ‖ SeqNum, the checksum the first 8 bytes of
 * HMAC_MD5(SigningKey, SeqNum ‖ Message), RC4-encrypted with the sealing handle when KEY_EXCH
 * was negotiated. Each direction has its own signing key, sealing key, RC4 handle (one stream
 * for the whole session) and sequence number starting at 0.
 *
 * Sealing (3.4.3): the checksum is computed over the plaintext, then the message is encrypted
 * with the direction's RC4 stream, then the checksum continues that same stream — the order
 * Samba's ntlmssp_seal_packet uses (encrypt data, then the 8 checksum bytes).
 */
import { Rc4 } from '../crypto/rc4.js';
import { NTLM_FLAGS, hasFlag } from './constants.js';
import { u32le } from './av-pairs.js';
import { bytesEqual, hmacMd5, sealKey, signKey, type Side } from './keys.js';

export const SIGNATURE_SIZE = 16;

class Direction {
  seq = 0;
  rc4: Rc4;
  constructor(readonly signKey: Uint8Array, private readonly sealKey: Uint8Array) {
    this.rc4 = new Rc4(sealKey);
  }
  /** A fresh RC4 stream from the sealing key; with `full`, the sequence number back to 0 too. */
  reset(full: boolean): void {
    this.rc4 = new Rc4(this.sealKey);
    if (full) this.seq = 0;
  }
}

export class NtlmSessionSecurity {
  private readonly out: Direction;
  private readonly in: Direction;
  private readonly keyExch: boolean;

  constructor(exportedSessionKey: Uint8Array, readonly flags: number, side: Side) {
    const peer: Side = side === 'client' ? 'server' : 'client';
    this.keyExch = hasFlag(flags, NTLM_FLAGS.keyExch);
    this.out = new Direction(signKey(exportedSessionKey, side), sealKey(exportedSessionKey, flags, side));
    this.in = new Direction(signKey(exportedSessionKey, peer), sealKey(exportedSessionKey, flags, peer));
  }

  /** Next outgoing / expected incoming sequence numbers (for tests and logs). */
  get sequence(): { readonly send: number; readonly receive: number } {
    return { send: this.out.seq, receive: this.in.seq };
  }

  /**
   * Re-initialises both RC4 streams (Windows' behaviour after SPNEGO's mechListMIC exchange);
   * `full` also restarts the sequence numbers, as when no mechListMIC was checked.
   */
  reset(full: boolean): void {
    this.out.reset(full);
    this.in.reset(full);
  }

  private static checksum(d: Direction, signed: readonly Uint8Array[]): Uint8Array {
    return hmacMd5(d.signKey, u32le(d.seq), ...signed).subarray(0, 8);
  }

  private finish(d: Direction, checksum: Uint8Array): Uint8Array {
    const sig = new Uint8Array(SIGNATURE_SIZE);
    sig[0] = 1;
    sig.set(this.keyExch ? d.rc4.update(checksum) : checksum, 4);
    sig.set(u32le(d.seq), 12);
    d.seq = (d.seq + 1) >>> 0;
    return sig;
  }

  /** Signature of an outgoing message (GSS_GetMIC); `signed` parts are concatenated. */
  sign(...signed: Uint8Array[]): Uint8Array {
    return this.finish(this.out, NtlmSessionSecurity.checksum(this.out, signed));
  }

  /** Checks an incoming signature (GSS_VerifyMIC); consumes the incoming sequence number either way. */
  verify(signature: Uint8Array, ...signed: Uint8Array[]): boolean {
    const expected = this.finish(this.in, NtlmSessionSecurity.checksum(this.in, signed));
    return signature.length === SIGNATURE_SIZE && bytesEqual(expected, signature);
  }

  /**
   * Seals `buf[start, start+len)` in place and returns the signature over `signed()` (read
   * before encrypting: the plaintext). `signed` usually covers the sealed region itself.
   */
  sealInPlace(buf: Uint8Array, start: number, len: number, signed: () => Uint8Array[]): Uint8Array {
    const checksum = NtlmSessionSecurity.checksum(this.out, signed());
    buf.set(this.out.rc4.update(buf.subarray(start, start + len)), start);
    return this.finish(this.out, checksum);
  }

  /** Unseals `buf[start, start+len)` in place, then checks `signature` over `signed()` (now plaintext). */
  unsealInPlace(buf: Uint8Array, start: number, len: number, signature: Uint8Array, signed: () => Uint8Array[]): boolean {
    buf.set(this.in.rc4.update(buf.subarray(start, start + len)), start);
    const expected = this.finish(this.in, NtlmSessionSecurity.checksum(this.in, signed()));
    return signature.length === SIGNATURE_SIZE && bytesEqual(expected, signature);
  }

  /** GSS_WrapEx of a detached message: sealed copy and signature. */
  wrap(message: Uint8Array): { readonly sealed: Uint8Array; readonly signature: Uint8Array } {
    const sealed = new Uint8Array(message);
    const signature = this.sealInPlace(sealed, 0, sealed.length, () => [message]);
    return { sealed, signature };
  }

  /** GSS_UnwrapEx: the plaintext, or undefined when the signature does not match. */
  unwrap(sealed: Uint8Array, signature: Uint8Array): Uint8Array | undefined {
    const plain = new Uint8Array(sealed);
    return this.unsealInPlace(plain, 0, plain.length, signature, () => [plain]) ? plain : undefined;
  }
}
