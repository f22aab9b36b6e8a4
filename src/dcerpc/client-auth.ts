/**
 * The client side of DCE/RPC authentication (docs/DCERPC.md §8): what RpcClient needs from a
 * mechanism to bind with an auth verifier and to protect its calls, and the per-PDU work itself
 * (sealing request fragments, checking response fragments). The mechanisms live in src/security;
 * `gssClientAuth` there adapts a GSS initiator to `ClientAuth`.
 */
import { copyBytes, joinBytes } from '../ndr/index.js';
import type { PacketProtection } from './auth.js';
import { authPadFor, buildAuthVerifier, pullAuthTrailer } from './auth-trailer.js';
import { AUTH_LEVEL, AUTH_PAD_ALIGNMENT, SEC_TRAILER_LENGTH } from './constants.js';
import { PduError } from './errors.js';
import type { PduHeader } from './pdu-types.js';

export type ClientAuthStep =
  /** Send `token` in an alter_context; the server answers with another leg. */
  | { readonly status: 'continue'; readonly token: Uint8Array }
  /** Established; a non-empty `token` still goes to the server, in an auth3. */
  | { readonly status: 'done'; readonly token: Uint8Array }
  | { readonly status: 'rejected'; readonly reason: string };

/** One client security context, from the first bind leg to the last protected call. */
export interface ClientAuth {
  readonly authType: number;
  /** connect (2), integrity (5) or privacy (6). */
  readonly authLevel: number;
  readonly authContextId: number;
  /** Ask for PFC_SUPPORT_HEADER_SIGN on the bind. */
  readonly headerSigning: boolean;
  /** One leg: the server's token in (empty on the first call), ours out. */
  step(token: Uint8Array): Promise<ClientAuthStep>;
  /** Told once the bind_ack says whether the server signs headers too. */
  setHeaderSigning(on: boolean): void;
  /** Signature length on protected PDUs; 0 at connect level. */
  signatureSize(): number;
  wrap(p: PacketProtection): Uint8Array;
  unwrap(p: PacketProtection & { readonly signature: Uint8Array }): boolean;
}

/** A refusal on the client side: the server's token failed our checks, or a signature did not verify. */
export class RpcAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcAuthError';
  }
}

/** The trailing blob of a bind, alter_context or auth3 carrying `token`. */
export function handshakeAuthInfo(auth: ClientAuth, token: Uint8Array): Uint8Array {
  return buildAuthVerifier({ authType: auth.authType, authLevel: auth.authLevel, authContextId: auth.authContextId, credentials: token });
}

/** The token in a bind_ack / alter_context_resp trailing blob; RpcAuthError when it does not belong to `auth`. */
export function handshakeToken(auth: ClientAuth, header: PduHeader, authInfo: Uint8Array): Uint8Array {
  if (header.authLength === 0) return new Uint8Array(0);
  let t;
  try {
    t = pullAuthTrailer(header, authInfo, true);
  } catch (e) {
    if (e instanceof PduError) throw new RpcAuthError(`malformed auth verifier from the server: ${e.message}`);
    throw e;
  }
  if (t.auth.authType !== auth.authType || t.auth.authContextId !== auth.authContextId) {
    throw new RpcAuthError(`the server answered for auth type ${t.auth.authType} context ${t.auth.authContextId}`);
  }
  return t.auth.credentials;
}

/** True when PDUs of this context carry a signature (integrity, privacy; packet too). */
export const protectsPackets = (auth: ClientAuth): boolean => auth.authLevel >= AUTH_LEVEL.packet;

/** Stub bytes per request fragment of `fragSize` bytes, leaving room for pad, sec_trailer and signature. */
export function protectedChunk(fragSize: number, headerLength: number, sigSize: number): number {
  const room = fragSize - headerLength - SEC_TRAILER_LENGTH - sigSize;
  return room - (room % AUTH_PAD_ALIGNMENT);
}

/** The stub-and-verifier blob of one protected fragment with a zero signature (filled by `seal`). */
export function unsignedVerifier(auth: ClientAuth, stub: Uint8Array): { blob: Uint8Array; pad: number } {
  const pad = authPadFor(stub.length);
  const trailer = buildAuthVerifier({
    authType: auth.authType, authLevel: auth.authLevel, authContextId: auth.authContextId,
    credentials: new Uint8Array(auth.signatureSize()), padBytes: pad,
  });
  return { blob: joinBytes([stub, trailer]), pad };
}

/** Signs (and for privacy seals) an encoded fragment in place: `payloadLength` = stub + pad. */
export function sealFragment(auth: ClientAuth, pdu: Uint8Array, payloadOffset: number, payloadLength: number): void {
  const sigSize = auth.signatureSize();
  const signature = auth.wrap({
    authLevel: auth.authLevel, pdu, payloadOffset, payloadLength, signedLength: pdu.length - sigSize,
  });
  pdu.set(signature.subarray(0, sigSize), pdu.length - sigSize);
}

/**
 * The stub of a protected response fragment: trailer checked, signature verified, payload
 * unsealed. `raw` is the fragment as received; `stubAndVerifier` its decoded trailing blob.
 */
export function openResponseFragment(
  auth: ClientAuth, header: PduHeader, raw: Uint8Array, stubAndVerifier: Uint8Array, payloadOffset: number,
): Uint8Array {
  if (header.authLength === 0) throw new RpcAuthError('a response on a protected connection carries no verifier');
  let t;
  try {
    t = pullAuthTrailer(header, stubAndVerifier, false);
  } catch (e) {
    if (e instanceof PduError) throw new RpcAuthError(`malformed response verifier: ${e.message}`);
    throw e;
  }
  const a = t.auth;
  if (a.authType !== auth.authType || a.authLevel !== auth.authLevel || a.authContextId !== auth.authContextId) {
    throw new RpcAuthError(`response verifier for auth type ${a.authType} level ${a.authLevel} context ${a.authContextId}`);
  }
  const payloadLength = stubAndVerifier.length - t.trailerLength;
  const copy = copyBytes(raw);
  const ok = auth.unwrap({
    authLevel: auth.authLevel, pdu: copy, payloadOffset, payloadLength,
    signedLength: copy.length - a.credentials.length, signature: a.credentials,
  });
  if (!ok) throw new RpcAuthError('the response signature does not verify');
  return copy.subarray(payloadOffset, payloadOffset + payloadLength - a.authPadLength);
}
