/** SPNEGO (RFC 4178, MS-SPNG) as a GssContext over inner mechanisms. */
export { createSpnegoAcceptor, REJECT_TOKEN, type SpnegoAcceptorOptions, type SpnegoRejected } from './acceptor.js';
export { createSpnegoInitiator, type SpnegoInitiatorOptions } from './initiator.js';
export { Delegating as SpnegoContext, sameMech, type SpnegoMechanism, type SpnegoInnerHooks, type InnerContext } from './mech.js';
export { identifyFirstToken, authTypeOfFirstToken, type FirstToken } from './detect.js';
export {
  NEG_STATE, encodeInit, encodeResp, parseSpnego, frameInitialToken, unframeInitialToken,
  negotiationToken, negTokenInit, negTokenResp, negHints, mechTypeList,
  type NegState, type InitToken, type RespToken, type ParsedToken,
} from './tokens.js';
