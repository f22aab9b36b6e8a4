/**
 * The per-message state of an established Kerberos GSS context, what RFC 4121 and RFC 4757
 * tokens need: the key in force, which side we are, the flags negotiated, and both sequence
 * counters. The Kerberos acceptor fills it from the AP-REQ/AP-REP (subkeys, seq-number fields);
 * the token functions advance the counters.
 */
import { KerberosCryptoError } from './errors.js';
import { ETYPE } from './enctype.js';

export interface KrbMessageContext {
  /** Enctype of `key`: 17 or 18 (RFC 4121 tokens) or 23 (RFC 4757 tokens). */
  readonly etype: number;
  /** The per-message key: the acceptor subkey when `acceptorSubkey`, else the initiator subkey or session key. */
  readonly key: Uint8Array;
  /** True on the accepting (server) side. */
  readonly isAcceptor: boolean;
  /** RFC 4121 AcceptorSubkey flag (set once the acceptor asserted a subkey in the AP-REP). */
  readonly acceptorSubkey: boolean;
  /** DCE/RPC header signing negotiated (PFC_SUPPORT_HEADER_SIGN): DCE signatures cover header and sec_trailer. */
  headerSigning: boolean;
  /** The next sequence number we send, and the next one we accept (exact: DCE/RPC is in order). */
  sendSeq: number;
  recvSeq: number;
}

export function newMessageContext(o: {
  etype: number; key: Uint8Array; isAcceptor: boolean; acceptorSubkey?: boolean; headerSigning?: boolean; sendSeq: number; recvSeq: number;
}): KrbMessageContext {
  const size = o.etype === ETYPE.aes256CtsHmacSha196 ? 32 : o.etype === ETYPE.aes128CtsHmacSha196 || o.etype === ETYPE.rc4Hmac ? 16 : 0;
  if (size === 0) throw new KerberosCryptoError('unsupported', `per-message tokens for etype ${o.etype}`);
  if (o.key.length !== size) throw new KerberosCryptoError('key-size', `etype ${o.etype} key of ${o.key.length} bytes`);
  return {
    etype: o.etype, key: Uint8Array.from(o.key), isAcceptor: o.isAcceptor, acceptorSubkey: o.acceptorSubkey ?? false,
    headerSigning: o.headerSigning ?? false, sendSeq: o.sendSeq, recvSeq: o.recvSeq,
  };
}

export const isRc4 = (ctx: KrbMessageContext): boolean => ctx.etype === ETYPE.rc4Hmac;

/** The pieces of a DCE/RPC PDU a gss_wrap_iov call sees: sign-only before and after, sealed data between. */
export interface IovRegions {
  /** SIGN_ONLY: the PDU header (empty without header signing). */
  readonly before: Uint8Array;
  /** DATA: encrypted in place (the stub and auth padding). */
  readonly data: Uint8Array;
  /** SIGN_ONLY: the sec_trailer (empty without header signing). */
  readonly after: Uint8Array;
}
