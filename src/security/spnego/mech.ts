/**
 * What SPNEGO needs from an inner mechanism beyond GssContext, and the delegation of the
 * per-message calls to it.
 *
 * The mechListMIC rule (RFC 4178 5, MS-SPNG 3.3.5.1, and what Samba's gensec SPNEGO does):
 * - A mechanism without integrity never exchanges MICs.
 * - With integrity, MICs are exchanged both ways when the negotiation was downgraded (the chosen
 *   mechanism is not the initiator's first), when the peer sent one, when the acceptor asked with
 *   negState request-mic, or when the mechanism says it expects the "new SPNEGO" exchange
 *   (NTLMSSP: the AUTHENTICATE message carried a MIC, MsvAvFlags 0x2; Kerberos: CFX / acceptor
 *   subkey). The acceptor verifies the initiator's MIC first, then signs its own; both cover the
 *   DER of mechTypes exactly as the initiator sent it.
 * - An initiator whose first choice was accepted on the first answer (accept-completed) need not
 *   send one unless asked (Samba: "the first exchange doesn't require verification").
 * - After the exchange the mechanism may reset its crypto: Windows' NTLMSSP quirk is that the
 *   MICs consume sequence number 0 in each direction and the RC4 handles are then re-initialised
 *   while the sequence numbers continue (Samba: may_reset_crypto(full = !mic_checked); a full
 *   reset, sequence numbers back to 0, only when no MIC was checked).
 */
import type { GssContext } from '../gss.js';
import type { PacketProtection } from '../../dcerpc/auth.js';
import { MECH_OID } from '../gss.js';

/** Optional hooks an inner context may implement (NTLMSSP and Kerberos should). */
export interface SpnegoInnerHooks {
  /** Whether the established context can sign (GENSEC_FEATURE_SIGN); default true. */
  hasIntegrity?(): boolean;
  /** Whether the mechanism expects the mechListMIC exchange on its own (GENSEC_FEATURE_NEW_SPNEGO); default false. */
  expectsMechListMic?(): boolean;
  /** Called once when SPNEGO completes; `fullReset` when no mechListMIC was checked. */
  resetCrypto?(fullReset: boolean): void;
}

export type InnerContext = GssContext & SpnegoInnerHooks;

export interface SpnegoMechanism {
  /** Dotted OID; either Kerberos OID matches both. */
  readonly oid: string;
  /** A fresh inner context, or undefined when unavailable (no keytab, say). */
  start(): InnerContext | undefined;
}

const KRB = new Set<string>([MECH_OID.kerberos, MECH_OID.kerberosMs]);
export const sameMech = (a: string, b: string): boolean => a === b || (KRB.has(a) && KRB.has(b));

/** The per-message half of a SPNEGO context: everything goes to the inner mechanism. */
export abstract class Delegating implements GssContext {
  readonly mechOid: string = MECH_OID.spnego;
  protected inner: InnerContext | undefined;
  protected done = false;
  abstract step(token: Uint8Array): Promise<import('../gss.js').GssStep>;

  get established(): boolean {
    return this.done;
  }
  /** The inner mechanism's OID once chosen (what SPNEGO negotiated). */
  get negotiatedMech(): string | undefined {
    return this.inner?.mechOid;
  }
  private need(): InnerContext {
    if (!this.inner || !this.done) throw new Error('SPNEGO context not established');
    return this.inner;
  }
  sessionKey(): Uint8Array {
    return this.need().sessionKey();
  }
  getMic(data: Uint8Array): Uint8Array {
    return this.need().getMic(data);
  }
  verifyMic(data: Uint8Array, mic: Uint8Array): boolean {
    return this.inner !== undefined && this.done && this.inner.verifyMic(data, mic);
  }
  signatureSize(): number {
    return this.need().signatureSize();
  }
  wrapPdu(p: PacketProtection): Uint8Array {
    return this.need().wrapPdu(p);
  }
  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    return this.inner !== undefined && this.done && this.inner.unwrapPdu(p);
  }
}

export const hasIntegrity = (c: InnerContext): boolean => c.hasIntegrity?.() ?? true;
export const expectsMic = (c: InnerContext): boolean => c.expectsMechListMic?.() ?? false;

/** Runs a hook that must not throw into the negotiation. */
export function safely<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
