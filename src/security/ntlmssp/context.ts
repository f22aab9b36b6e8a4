/**
 * The established half of an NTLMSSP context, shared by acceptor and initiator: session key,
 * GSS MIC, and DCE/RPC packet protection (MS-RPCE 2.2.2.11, MS-NLMP 3.4). For NTLMSSP the
 * signature always covers the whole PDU from the header to the end of the sec_trailer, whether
 * or not header signing was negotiated; at privacy the stub and auth pad are sealed in place.
 */
import type { PacketProtection } from '../../dcerpc/auth.js';
import { AUTH_LEVEL } from '../../dcerpc/constants.js';
import type { GssContext, GssStep } from '../gss.js';
import { MECH_OID } from '../gss.js';
import type { SpnegoInnerHooks } from '../spnego/mech.js';
import { NTLM_FLAGS, hasFlag } from './constants.js';
import { NtlmError } from './errors.js';
import { NtlmSessionSecurity, SIGNATURE_SIZE } from './seal.js';
import type { Side } from './keys.js';

export abstract class NtlmContextBase implements GssContext, SpnegoInnerHooks {
  readonly mechOid: string = MECH_OID.ntlmssp;
  protected security: NtlmSessionSecurity | undefined;
  protected exportedKey: Uint8Array | undefined;
  protected negotiated = 0;
  protected micSent = false;

  abstract step(token: Uint8Array): Promise<GssStep>;

  get established(): boolean {
    return this.security !== undefined;
  }

  /** The flags both sides settled on (after established). */
  get flags(): number {
    return this.negotiated;
  }

  protected establish(exportedSessionKey: Uint8Array, flags: number, side: Side): void {
    this.exportedKey = exportedSessionKey;
    this.negotiated = flags;
    this.security = new NtlmSessionSecurity(exportedSessionKey, flags, side);
  }

  private need(): NtlmSessionSecurity {
    if (this.security === undefined) throw new NtlmError('context not established');
    return this.security;
  }

  sessionKey(): Uint8Array {
    if (this.exportedKey === undefined) throw new NtlmError('context not established');
    return this.exportedKey;
  }

  getMic(data: Uint8Array): Uint8Array {
    return this.need().sign(data);
  }

  verifyMic(data: Uint8Array, mic: Uint8Array): boolean {
    return this.security !== undefined && this.security.verify(mic, data);
  }

  signatureSize(): number {
    return SIGNATURE_SIZE;
  }

  wrapPdu(p: PacketProtection): Uint8Array {
    const s = this.need();
    const signed = (): Uint8Array[] => [p.pdu.subarray(0, p.signedLength)];
    if (p.authLevel === AUTH_LEVEL.privacy) return s.sealInPlace(p.pdu, p.payloadOffset, p.payloadLength, signed);
    return s.sign(...signed());
  }

  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    const s = this.security;
    if (s === undefined || p.signedLength > p.pdu.length || p.payloadOffset + p.payloadLength > p.pdu.length) return false;
    const signed = (): Uint8Array[] => [p.pdu.subarray(0, p.signedLength)];
    if (p.authLevel === AUTH_LEVEL.privacy) return s.unsealInPlace(p.pdu, p.payloadOffset, p.payloadLength, p.signature, signed);
    return s.verify(p.signature, ...signed());
  }

  // ---- SPNEGO hooks -----------------------------------------------------------------------

  hasIntegrity(): boolean {
    return hasFlag(this.negotiated, NTLM_FLAGS.sign);
  }

  /** The AUTHENTICATE carried a MIC (MsvAvFlags 0x2): the "new SPNEGO" mechListMIC exchange. */
  expectsMechListMic(): boolean {
    return this.micSent;
  }

  resetCrypto(fullReset: boolean): void {
    this.security?.reset(fullReset);
  }
}

/** A step that refuses for good; acceptors and initiators never throw out of step(). */
export const refuse = (reason: string): GssStep => ({ status: 'rejected', reason });
