/**
 * Per-PDU protection of calls (docs/DCERPC.md §7, §8): checking the auth verifier of a request
 * fragment against its security context (Samba's `dcesrv_auth_pkt_pull`), and building the
 * response fragments, signed or sealed at levels packet..privacy (`dcesrv_reply`).
 */
import { copyBytes, joinBytes } from '../ndr/index.js';
import type { AuthState } from './auth.js';
import { authPadFor, buildAuthVerifier, pullAuthTrailer } from './auth-trailer.js';
import { AUTH_LEVEL, FAULT, PFC, REQUEST_HEADER_LENGTH } from './constants.js';
import { PduError } from './errors.js';
import { responseChunkSize, splitStub } from './fragment.js';
import { encodePdu } from './pdu.js';
import type { RequestPdu } from './pdu-types.js';

/**
 * The stub of a request fragment (verifier and auth pad removed, unsealed), or the fault status
 * the connection closes with: 5 (no such context / verifier where none belongs / fields differ),
 * proto_error (handshake unfinished, verifier missing or malformed), 0x721 (bad signature),
 * 0x1c00001d (level call).
 */
export function openRequestFragment(auth: AuthState, pdu: RequestPdu, raw: Uint8Array, payloadOffset: number): Uint8Array | number {
  const h = pdu.header;
  if (!auth.started) return FAULT.access_denied;
  if (!auth.finished) return FAULT.nca_s_proto_error;
  if (auth.invalid) return FAULT.access_denied;
  switch (auth.authLevel) {
    case AUTH_LEVEL.packet:
    case AUTH_LEVEL.integrity:
    case AUTH_LEVEL.privacy:
      break;
    case AUTH_LEVEL.connect:
      if (h.authLength === 0) return pdu.stubAndVerifier;
      break;
    case AUTH_LEVEL.none:
      // A verifier on a connection without auth: access denied (§9).
      return h.authLength !== 0 ? FAULT.access_denied : pdu.stubAndVerifier;
    default:
      return FAULT.nca_s_unsupported_authn_level;
  }
  if (h.authLength === 0) return FAULT.nca_s_proto_error; // protected level, verifier missing
  if (auth.session === undefined) return FAULT.access_denied;
  let trailer;
  try {
    trailer = pullAuthTrailer(h, pdu.stubAndVerifier, false);
  } catch (e) {
    if (!(e instanceof PduError)) throw e;
    return FAULT.nca_s_proto_error;
  }
  const payloadLength = pdu.stubAndVerifier.length - trailer.trailerLength;
  const a = trailer.auth;
  // Later fragments follow the first fragment's settings.
  if (h.pfcFlags & PFC.FIRST_FRAG) {
    if (a.authType !== auth.authType || a.authLevel !== auth.authLevel || a.authContextId !== auth.authContextId) {
      return FAULT.access_denied;
    }
  }
  if (auth.authLevel === AUTH_LEVEL.connect) {
    return pdu.stubAndVerifier.subarray(0, payloadLength - a.authPadLength); // signature ignored
  }
  // Work on a copy: unsealing writes the plaintext into the PDU bytes.
  const copy = copyBytes(raw);
  const ok = auth.session.unwrap({
    authLevel: auth.authLevel,
    pdu: copy,
    payloadOffset,
    payloadLength,
    signedLength: copy.length - a.credentials.length,
    signature: a.credentials,
  });
  if (!ok) return FAULT.sec_pkg_error;
  return copy.subarray(payloadOffset, payloadOffset + payloadLength - a.authPadLength);
}

/** The response fragments of a call: §7 sizes, signed/sealed when the context protects packets. */
export function responsePdus(args: {
  readonly auth: AuthState;
  readonly callId: number;
  readonly contextId: number;
  readonly stub: Uint8Array;
  readonly maxXmitFrag: number;
}): Uint8Array[] {
  const { auth, callId, stub, maxXmitFrag } = args;
  const session = auth.finished && auth.authLevel >= AUTH_LEVEL.packet ? auth.session : undefined;
  const sigSize = session?.signatureSize() ?? 0;
  const contextId = args.contextId & 0xff; // Windows truncates it; Samba copies that
  return splitStub(stub, responseChunkSize(maxXmitFrag, sigSize)).map((f) => {
    const fields = { allocHint: f.allocHint, contextId, cancelCount: 0, reserved: 0 };
    if (session === undefined || sigSize === 0) {
      return encodePdu({ kind: 'response', header: { callId, pfcFlags: f.pfcFlags }, ...fields, stubAndVerifier: f.stub });
    }
    const pad = authPadFor(f.stub.length);
    const trailer = buildAuthVerifier({
      authType: auth.authType, authLevel: auth.authLevel, authContextId: auth.authContextId,
      credentials: new Uint8Array(sigSize), padBytes: pad,
    });
    const pdu = encodePdu({
      kind: 'response',
      header: { callId, pfcFlags: f.pfcFlags, authLength: sigSize },
      ...fields,
      stubAndVerifier: joinBytes([f.stub, trailer]),
    });
    const signature = session.wrap({
      authLevel: auth.authLevel, pdu, payloadOffset: REQUEST_HEADER_LENGTH,
      payloadLength: f.stub.length + pad, signedLength: pdu.length - sigSize,
    });
    pdu.set(signature.subarray(0, sigSize), pdu.length - sigSize);
    return pdu;
  });
}
