/** Kerberos: enctypes (RFC 3961/3962/4757), keytabs, GSS per-message tokens (RFC 4121/4757), the acceptor (RFC 4120/4121, MS-KILE) and the PAC (MS-PAC). */
export { KerberosCryptoError, KeytabError, type KerberosCryptoCode } from './errors.js';
export { DERIVE, nfold, usageConstant } from './rfc3961.js';
export { CKSUMTYPE, ETYPE, defaultSalt, type Enctype } from './enctype.js';
export { aes128CtsHmacSha196, aes256CtsHmacSha196, aesDeriveKey, ctsDecrypt, ctsEncrypt } from './aes.js';
export { rc4Hmac, rc4Usage } from './rc4-hmac.js';
export { SUPPORTED_ETYPES, enctypeForChecksum, getEnctype } from './crypto.js';
export { findKeytabEntry, parseKeytab, type Keytab, type KeytabEntry, type KeytabPrincipal, type KeytabQuery } from './keytab.js';
export { newMessageContext, type IovRegions, type KrbMessageContext } from './gss-context.js';
export { CFX_DCE_WRAP_SIZE, CFX_FLAGS, CFX_MIC_SIZE, KG_USAGE, cfxGetMic, cfxUnwrap, cfxUnwrapIov, cfxVerifyMic, cfxWrap, cfxWrapIov, type Unwrapped } from './gss-cfx.js';
export { RC4_DCE_WRAP_SIZE, RC4_MIC_SIZE, rc4GetMic, rc4Unwrap, rc4UnwrapIov, rc4VerifyMic, rc4Wrap, rc4WrapIov } from './gss-rc4.js';
export { dceSignatureSize, getMic, unwrap, unwrapDce, unwrapDceChecked, verifyMic, wrap, wrapDce } from './gss-tokens.js';
export { DEFAULT_CLOCK_SKEW_SEC, KerberosAcceptor, hostPrincipals, kerberosAcceptorFactory, type KerberosAcceptorOptions, type KerberosFactoryOptions, type KeytabSource } from './acceptor.js';
export { verifyApReq, type ApReqPolicy, type ApReqResult, type VerifiedApReq } from './ap-req.js';
export { PAC_TYPE, PacError, pacIdentity, parsePac, verifyServerSignature, type Pac, type PacIdentity } from './pac.js';
export { ReplayCache, processReplayCache } from './replay-cache.js';
export { GSS_FLAG, KEY_USAGE, TOK_ID, frameKrbToken, unframeKrbToken } from './messages.js';
