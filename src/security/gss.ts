/**
 * The mechanism contract of src/security: what NTLMSSP, Kerberos and SPNEGO (which wraps either)
 * offer to the DCE/RPC runtime and to our clients. One `GssContext` is one security context, on
 * the accepting (server) or initiating (client) side. The DCE/RPC adapter (an AuthProvider per
 * auth_type) turns a context into dcerpc's AuthSession; SPNEGO delegates to the inner one.
 */
import type { CallerIdentity } from '../dcerpc/interface.js';
import type { PacketProtection } from '../dcerpc/auth.js';

export type GssStep =
  /** More legs follow: send `token` to the peer. */
  | { readonly status: 'continue'; readonly token: Uint8Array }
  /** Established. `token` (maybe empty) still goes to the peer. Acceptors report the identity. */
  | { readonly status: 'done'; readonly token: Uint8Array; readonly identity?: CallerIdentity }
  /** Refused for good; `reason` is for the log (never sent). */
  | { readonly status: 'rejected'; readonly reason: string };

/** Features a context is asked for; mechanisms that cannot give one refuse to start. */
export interface GssFlags {
  readonly integrity: boolean;
  readonly confidentiality: boolean;
  /** DCE/RPC header signing (PFC_SUPPORT_HEADER_SIGN): signatures cover the whole PDU. */
  readonly headerSigning: boolean;
  /** DCE-style Kerberos (three legs, AP-REP answered by the initiator). */
  readonly dceStyle: boolean;
}

export interface GssContext {
  /** Mechanism OID, dotted text (NTLMSSP 1.3.6.1.4.1.311.2.2.10, Kerberos 1.2.840.113554.1.2.2). */
  readonly mechOid: string;
  /**
   * One leg. An initiator's first call gets an empty token. Never throws: a malformed token is a
   * 'rejected' step.
   */
  step(token: Uint8Array): Promise<GssStep>;
  readonly established: boolean;
  /** The session key (after established): NTLM's exported session key, Kerberos' subkey. */
  sessionKey(): Uint8Array;
  /** Detached MIC over `data` (SPNEGO mechListMIC); consumes a sequence number where the mechanism has one. */
  getMic(data: Uint8Array): Uint8Array;
  verifyMic(data: Uint8Array, mic: Uint8Array): boolean;
  /** Signature bytes on a protected DCE/RPC PDU (NTLMSSP 16). */
  signatureSize(): number;
  /** DCE/RPC packet protection, exactly dcerpc's AuthSession.wrap / unwrap. */
  wrapPdu(p: PacketProtection): Uint8Array;
  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean;
  /** Initiators: the bind_ack settled DCE/RPC header signing (mechanisms whose tokens depend on it). */
  setHeaderSigning?(on: boolean): void;
}

export const MECH_OID = {
  ntlmssp: '1.3.6.1.4.1.311.2.2.10',
  kerberos: '1.2.840.113554.1.2.2',
  /** The Microsoft variant Windows lists first. */
  kerberosMs: '1.2.840.48018.1.2.2',
  spnego: '1.3.6.1.5.5.2',
} as const;
