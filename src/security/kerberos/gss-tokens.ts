/**
 * GSS per-message tokens of an established Kerberos context, by enctype — RFC 4121 for AES,
 * RFC 4757 for rc4-hmac — and their DCE/RPC form (MS-RPCE 2.2.2.11, MS-KILE 3.4.5.4) behind
 * dcerpc's PacketProtection arguments, as Samba's gensec_gse does it:
 *
 * - privacy: gss_wrap_iov with a HEADER buffer (the signature), the stub + auth pad sealed in
 *   place as DATA and, with header signing, the PDU header (bytes 0 .. payload) and the
 *   sec_trailer (payload end .. signedLength) as SIGN_ONLY. Signature: 76 bytes for AES
 *   (16 header + 16 EC filler + 16 header copy + 12 HMAC + 16 confounder), 45 for rc4-hmac
 *   (13 mechanism header + 32).
 * - packet / integrity: a MIC over bytes 0 .. signedLength with header signing, else over the
 *   payload alone. Signature: 28 bytes for AES (16 + 12), 37 for rc4-hmac (13 + 24).
 */
import type { PacketProtection } from '../../dcerpc/auth.js';
import { KerberosCryptoError } from './errors.js';
import { cfxGetMic, cfxUnwrap, cfxUnwrapIov, cfxVerifyMic, cfxWrap, cfxWrapIov, CFX_DCE_WRAP_SIZE, CFX_MIC_SIZE, type Unwrapped } from './gss-cfx.js';
import { isRc4, type IovRegions, type KrbMessageContext } from './gss-context.js';
import { rc4GetMic, rc4Unwrap, rc4UnwrapIov, rc4VerifyMic, rc4Wrap, rc4WrapIov, RC4_DCE_WRAP_SIZE, RC4_MIC_SIZE } from './gss-rc4.js';

/** dcerpc's auth levels (MS-RPCE 2.2.1.1.8), restated: security may not import dcerpc values. */
const LEVEL_PACKET = 4;
const LEVEL_PRIVACY = 6;

export function getMic(ctx: KrbMessageContext, data: Uint8Array): Uint8Array {
  return isRc4(ctx) ? rc4GetMic(ctx, data) : cfxGetMic(ctx, data);
}
/** Undefined when good (the receive sequence advanced), else why not. */
export function verifyMic(ctx: KrbMessageContext, data: Uint8Array, mic: Uint8Array): KerberosCryptoError | undefined {
  return isRc4(ctx) ? rc4VerifyMic(ctx, data, mic) : cfxVerifyMic(ctx, data, mic);
}
export function wrap(ctx: KrbMessageContext, data: Uint8Array, confidential: boolean): Uint8Array {
  return isRc4(ctx) ? rc4Wrap(ctx, data, confidential) : cfxWrap(ctx, data, confidential);
}
export function unwrap(ctx: KrbMessageContext, token: Uint8Array): Unwrapped | KerberosCryptoError {
  return isRc4(ctx) ? rc4Unwrap(ctx, token) : cfxUnwrap(ctx, token);
}

/** Signature bytes on a DCE/RPC PDU at `authLevel` (0 below packet). */
export function dceSignatureSize(ctx: KrbMessageContext, authLevel: number): number {
  if (authLevel < LEVEL_PACKET) return 0;
  if (authLevel === LEVEL_PRIVACY) return isRc4(ctx) ? RC4_DCE_WRAP_SIZE : CFX_DCE_WRAP_SIZE;
  return isRc4(ctx) ? RC4_MIC_SIZE : CFX_MIC_SIZE;
}

function regions(ctx: KrbMessageContext, p: PacketProtection): IovRegions | KerberosCryptoError {
  const end = p.payloadOffset + p.payloadLength;
  const ok = [p.payloadOffset, p.payloadLength, p.signedLength].every((n) => Number.isInteger(n) && n >= 0) && end <= p.signedLength && p.signedLength <= p.pdu.length;
  if (!ok) return new KerberosCryptoError('short', `payload ${p.payloadOffset}+${p.payloadLength}, signed ${p.signedLength} in a PDU of ${p.pdu.length}`);
  const none = new Uint8Array(0);
  return {
    before: ctx.headerSigning ? p.pdu.subarray(0, p.payloadOffset) : none,
    data: p.pdu.subarray(p.payloadOffset, end),
    after: ctx.headerSigning ? p.pdu.subarray(end, p.signedLength) : none,
  };
}
const micInput = (ctx: KrbMessageContext, p: PacketProtection, r: IovRegions): Uint8Array => (ctx.headerSigning ? p.pdu.subarray(0, p.signedLength) : r.data);

/** Signs an outgoing PDU; for privacy, seals the payload in place first. Returns the signature. */
export function wrapDce(ctx: KrbMessageContext, p: PacketProtection): Uint8Array {
  if (p.authLevel < LEVEL_PACKET) return new Uint8Array(0);
  const r = regions(ctx, p);
  if (r instanceof KerberosCryptoError) throw r;
  if (p.authLevel !== LEVEL_PRIVACY) return getMic(ctx, micInput(ctx, p, r));
  const { header, sealed } = isRc4(ctx) ? rc4WrapIov(ctx, r) : cfxWrapIov(ctx, r);
  p.pdu.set(sealed, p.payloadOffset);
  return header;
}

/** Checks a received PDU (for privacy, unseals its payload in place — only when it checks out); undefined when good. */
export function unwrapDceChecked(ctx: KrbMessageContext, p: PacketProtection & { readonly signature: Uint8Array }): KerberosCryptoError | undefined {
  if (p.authLevel < LEVEL_PACKET) return undefined;
  const r = regions(ctx, p);
  if (r instanceof KerberosCryptoError) return r;
  if (p.authLevel !== LEVEL_PRIVACY) return verifyMic(ctx, micInput(ctx, p, r), p.signature);
  const plain = isRc4(ctx) ? rc4UnwrapIov(ctx, p.signature, r) : cfxUnwrapIov(ctx, p.signature, r);
  if (plain instanceof KerberosCryptoError) return plain;
  p.pdu.set(plain, p.payloadOffset);
  return undefined;
}

/** dcerpc's AuthSession.unwrap: false when the signature (or sealing) does not check out. */
export function unwrapDce(ctx: KrbMessageContext, p: PacketProtection & { readonly signature: Uint8Array }): boolean {
  return unwrapDceChecked(ctx, p) === undefined;
}

/**
 * What an initiator and an acceptor answer through GssContext once established (`ctx` undefined:
 * not established): a failed check is false, never a throw.
 */
export function micVerifies(ctx: KrbMessageContext | undefined, data: Uint8Array, mic: Uint8Array): boolean {
  if (ctx === undefined) return false;
  try {
    return verifyMic(ctx, data, mic) === undefined;
  } catch {
    return false;
  }
}

export function pduUnwraps(ctx: KrbMessageContext | undefined, p: PacketProtection & { readonly signature: Uint8Array }): boolean {
  if (ctx === undefined) return false;
  try {
    return unwrapDce(ctx, p);
  } catch {
    return false;
  }
}

/** The DCE signature size for a context negotiated with these flags (privacy: level 6, integrity: 5). */
export function signatureSizeFor(ctx: KrbMessageContext | undefined, flags: { readonly confidentiality?: boolean; readonly integrity?: boolean } | undefined): number {
  const level = flags?.confidentiality === true ? 6 : flags?.integrity === true ? 5 : 0;
  return ctx === undefined ? 0 : dceSignatureSize(ctx, level);
}

/**
 * What the Kerberos initiator and acceptor share once their context is established: the
 * message context and the per-message calls on it. Each subclass runs its own legs and says,
 * through `isDone` and `contextFlags`, when the context is usable and what was asked of it.
 */
export abstract class EstablishedKerberosContext {
  protected ctx: KrbMessageContext | undefined;
  protected abstract isDone(): boolean;
  protected abstract contextFlags(): { readonly confidentiality?: boolean; readonly integrity?: boolean } | undefined;

  get established(): boolean {
    return this.isDone();
  }

  protected need(): KrbMessageContext {
    if (!this.isDone() || this.ctx === undefined) throw new KerberosCryptoError('token', 'Kerberos context not established');
    return this.ctx;
  }

  /** The per-message key (acceptor subkey, else initiator subkey, else session key), as Samba's gensec reports it. */
  sessionKey(): Uint8Array {
    return Uint8Array.from(this.need().key);
  }

  getMic(data: Uint8Array): Uint8Array {
    return getMic(this.need(), data);
  }

  verifyMic(data: Uint8Array, mic: Uint8Array): boolean {
    return micVerifies(this.isDone() ? this.ctx : undefined, data, mic);
  }

  signatureSize(): number {
    return signatureSizeFor(this.ctx, this.contextFlags());
  }

  wrapPdu(p: PacketProtection): Uint8Array {
    return wrapDce(this.need(), p);
  }

  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    return pduUnwraps(this.isDone() ? this.ctx : undefined, p);
  }
}
