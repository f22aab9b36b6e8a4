/** Connection-oriented DCE/RPC: PDU codec, server state machine, client, interface registry. */
export * from './interface.js';
export * from './constants.js';
export * from './syntax.js';
export { PduError, type PduErrorCode } from './errors.js';
export type * from './pdu-types.js';
export { decodePdu, decodeHeader, encodePdu, verifyHeader, peekFragLength, isLittleEndian } from './pdu.js';
export { pullAuthTrailer, buildAuthVerifier, authPadFor, type AuthVerifier, type PulledAuthTrailer } from './auth-trailer.js';
export {
  popVerificationTrailer, checkVerificationTrailer, buildVerificationTrailer, VT_MAGIC, VT_COMMAND,
  type VtCommand, type VtHeader2, type VtExpectation, type PoppedTrailer,
} from './verification-trailer.js';
export { PduFramer } from './framing.js';
export { AssocGroupTable } from './assoc-group.js';
export { negotiateContexts, interfaceSyntax, GRANTABLE_FEATURES, type BoundContext, type Negotiation, type NegotiationRefusal } from './negotiate.js';
export { responseChunkSize, splitStub, type StubFragment } from './fragment.js';
export {
  newAuthState, isValidBindAuthLevel,
  type AuthProvider, type AuthSession, type AuthStart, type AuthStep, type AuthState, type PacketProtection,
} from './auth.js';
export { RpcConnection, isValidSecondaryAddress, type ConnectionOptions, type ConnectionSecurity, type PduOutcome, type AfterPdu } from './connection.js';
export { RpcClient, RpcClientError, type BindOptions, type CallOptions, type CallResult } from './client.js';
export { RpcAuthError, type ClientAuth, type ClientAuthStep } from './client-auth.js';
