/** NTLMSSP (MS-NLMP): acceptor and initiator contexts, the verifier seam, and the codecs. */
export { NtlmAcceptor, CHALLENGE_LIFETIME_MS, type NtlmAcceptorOptions, type NtlmServerNames } from './acceptor.js';
export { NtlmInitiator, type NtlmCredentials, type NtlmInitiatorOptions } from './initiator.js';
export { ntHashVerifier, MIN_NTLMV2_RESPONSE, type NtlmVerifier, type NtlmVerifyRequest, type NtlmVerdict } from './verifier.js';
export { NtlmError } from './errors.js';
export { NtlmContextBase } from './context.js';
export { ntHashOf } from './keys.js';
export { ChallengeRegistry, processChallenges } from './reflection.js';
