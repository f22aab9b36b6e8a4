/**
 * Connection and session set-up: NEGOTIATE (offering 2.0.2 to 3.1.1 with the 3.1.1 contexts) and
 * SESSION_SETUP over a GSS context (SPNEGO with NTLMv2 by default), multi-leg with
 * STATUS_MORE_PROCESSING_REQUIRED, the 3.1.1 preauth integrity hash (SHA-512 over every NEGOTIATE
 * and SESSION_SETUP message but the final successful response), key derivation and the signing
 * and encryption rules the session then follows.
 */
import { createHash, randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { GssContext } from '../security/gss.js';
import { NT_STATUS, SmbError, SmbSecurityError, SmbStatusError } from './errors.js';
import { ALL_DIALECTS, COMMAND, DIALECT, HDR_FLAGS, dialectName, isSmb3, type Dialect } from './header.js';
import { CIPHER, NonceSource, cipherName, isAes256, type CipherId } from './encryption.js';
import { SIGNING_ALG, signingAlgorithmName, verifySignature, type SigningAlgorithm } from './signing.js';
import {
  CAP, HASH_SHA512, NEG_CTX, SECURITY_MODE, chosenId, decodeNegotiateResponse, decodePreauthContext, encodeNegotiateRequest,
  listContext, preauthContext, type NegotiateResponse,
} from './negotiate.js';
import { SESSION_FLAG, decodeErrorResponse, decodeSessionSetupResponse, encodeSessionSetupRequest } from './messages.js';
import { deriveSessionKeys } from './kdf.js';
import type { SessionCrypto, SmbConnection } from './connection.js';

const log = createDebug('fsrvp:smb');

export type SecurityRule = 'auto' | 'required';

export interface NegotiateOptions {
  readonly dialects?: readonly Dialect[];
  /** 'required': ask the server to require signing too, and refuse sessions that cannot sign. */
  readonly signing?: SecurityRule;
  /** 'required': encrypt everything, refuse servers that cannot. 'off': never offer encryption. */
  readonly encryption?: SecurityRule | 'off';
  /** 3.1.1 ciphers in preference order (default GCM before CCM, 128 before 256). */
  readonly ciphers?: readonly CipherId[];
  /** 3.1.1 signing algorithms in preference order (default AES-GMAC, AES-CMAC). */
  readonly signingAlgorithms?: readonly SigningAlgorithm[];
  /**
   * Accept a guest or anonymous logon (unsigned, unencrypted). Off by default, as in current
   * Windows: a server mapping an unknown user to guest is refused with a clear error.
   */
  readonly allowGuest?: boolean;
}

export interface Negotiated {
  readonly dialect: Dialect;
  readonly server: NegotiateResponse;
  readonly serverRequiresSigning: boolean;
  /** Undefined: no encryption possible. */
  readonly cipher: CipherId | undefined;
  readonly signingAlg: SigningAlgorithm;
  /** The connection's preauth integrity hash after NEGOTIATE (3.1.1). */
  readonly preauthHash: Uint8Array | undefined;
  readonly options: NegotiateOptions;
  readonly securityMode: number;
  /** What our NEGOTIATE said, for FSCTL_VALIDATE_NEGOTIATE_INFO (3.0, 3.0.2). */
  readonly sent: { readonly capabilities: number; readonly clientGuid: Uint8Array; readonly dialects: readonly Dialect[] };
}

const DEFAULT_CIPHERS: readonly CipherId[] = [CIPHER.AES_128_GCM, CIPHER.AES_128_CCM, CIPHER.AES_256_GCM, CIPHER.AES_256_CCM];
const DEFAULT_SIGNING: readonly SigningAlgorithm[] = [SIGNING_ALG.AES_GMAC, SIGNING_ALG.AES_CMAC];

const sha512 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** Checks a non-success status into a typed error (what the ERROR body says is decoded, for totality). */
export function statusError(res: { header: { status: number }; msg: Uint8Array }, operation: string, hint?: string): SmbStatusError {
  try {
    decodeErrorResponse(res.msg);
  } catch {
    // Some error answers carry the command's own body; the status is what counts.
  }
  return new SmbStatusError(res.header.status, operation, hint);
}

export async function negotiate(conn: SmbConnection, opts: NegotiateOptions = {}): Promise<Negotiated> {
  const dialects = opts.dialects ?? ALL_DIALECTS;
  if (dialects.length === 0) throw new SmbError('no dialect to offer');
  const encryption = opts.encryption ?? 'auto';
  const securityMode = SECURITY_MODE.SIGNING_ENABLED | (opts.signing === 'required' ? SECURITY_MODE.SIGNING_REQUIRED : 0);
  const capabilities = dialects.some(isSmb3) ? CAP.LARGE_MTU | (encryption !== 'off' ? CAP.ENCRYPTION : 0) : CAP.LARGE_MTU;
  const ciphers = encryption === 'off' ? [] : opts.ciphers ?? DEFAULT_CIPHERS;
  const contexts = [preauthContext(new Uint8Array(randomBytes(32)))];
  if (ciphers.length > 0) contexts.push(listContext(NEG_CTX.ENCRYPTION, ciphers));
  contexts.push(listContext(NEG_CTX.SIGNING, opts.signingAlgorithms ?? DEFAULT_SIGNING));
  const clientGuid = new Uint8Array(randomBytes(16));
  const body = encodeNegotiateRequest({ dialects, securityMode, capabilities, clientGuid, contexts });
  const res = await conn.request(COMMAND.NEGOTIATE, body);
  if (res.header.status !== NT_STATUS.SUCCESS) throw statusError(res, 'negotiate');
  const server = decodeNegotiateResponse(res.msg);
  const dialect = server.dialect as Dialect;
  if (!dialects.includes(dialect)) throw new SmbError(`the server chose dialect ${dialectName(server.dialect)}, which was not offered`);
  conn.multiCredit = dialect !== DIALECT.SMB202 && (server.capabilities & CAP.LARGE_MTU) !== 0;
  let cipher: CipherId | undefined;
  let signingAlg: SigningAlgorithm = isSmb3(dialect) ? SIGNING_ALG.AES_CMAC : SIGNING_ALG.HMAC_SHA256;
  let preauthHash: Uint8Array | undefined;
  if (dialect === DIALECT.SMB311) {
    const pre = server.contexts.find((c) => c.type === NEG_CTX.PREAUTH_INTEGRITY);
    if (pre === undefined) throw new SmbError('an SMB 3.1.1 server sent no preauth integrity context');
    const p = decodePreauthContext(pre);
    if (p.hashes.length !== 1 || p.hashes[0] !== HASH_SHA512) throw new SmbError('the server chose no SHA-512 preauth integrity hash');
    preauthHash = sha512(sha512(new Uint8Array(64), res.request), res.msg);
    const enc = server.contexts.find((c) => c.type === NEG_CTX.ENCRYPTION);
    if (enc !== undefined) {
      const id = chosenId(enc, 'encryption');
      if (id !== 0) {
        if (!ciphers.includes(id as CipherId)) throw new SmbError(`the server chose ${cipherName(id)}, which was not offered`);
        cipher = id as CipherId;
      }
    }
    const sig = server.contexts.find((c) => c.type === NEG_CTX.SIGNING);
    if (sig !== undefined) {
      const id = chosenId(sig, 'signing');
      const offered = opts.signingAlgorithms ?? DEFAULT_SIGNING;
      if (!offered.includes(id as SigningAlgorithm)) throw new SmbError(`the server chose ${signingAlgorithmName(id)}, which was not offered`);
      signingAlg = id as SigningAlgorithm;
    }
  } else if (isSmb3(dialect) && (server.capabilities & CAP.ENCRYPTION) !== 0 && encryption !== 'off') {
    cipher = CIPHER.AES_128_CCM;
  }
  if (encryption === 'required' && cipher === undefined) {
    throw new SmbSecurityError(`encryption is required but the server (dialect ${dialectName(dialect)}) offers none`);
  }
  log('negotiated %s, signing %s, cipher %s', dialectName(dialect), signingAlgorithmName(signingAlg), cipher === undefined ? 'none' : cipherName(cipher));
  return {
    dialect, server, cipher, signingAlg, preauthHash, options: opts, securityMode,
    sent: { capabilities, clientGuid, dialects },
    serverRequiresSigning: (server.securityMode & SECURITY_MODE.SIGNING_REQUIRED) !== 0,
  };
}

export interface EstablishedSession {
  readonly sessionId: bigint;
  readonly crypto: SessionCrypto;
  readonly guest: boolean;
  readonly anonymous: boolean;
}

/** Runs SESSION_SETUP legs until the GSS context and the server both finish. */
export async function sessionSetup(conn: SmbConnection, neg: Negotiated, gss: GssContext, timeoutMs?: number): Promise<EstablishedSession> {
  const is311 = neg.dialect === DIALECT.SMB311;
  let hash = neg.preauthHash;
  let sessionId = 0n;
  let step = await gss.step(new Uint8Array(0));
  for (let leg = 0; leg < 16; leg++) {
    if (step.status === 'rejected') throw new SmbSecurityError(`authentication failed: ${step.reason}`);
    const body = encodeSessionSetupRequest(neg.securityMode & 0xff, 0, step.token);
    const res = await conn.request(COMMAND.SESSION_SETUP, body, { sessionId, timeoutMs });
    if (is311) hash = sha512(hash as Uint8Array, res.request);
    sessionId = res.header.sessionId;
    const status = res.header.status;
    if (status === NT_STATUS.MORE_PROCESSING_REQUIRED) {
      if (is311) hash = sha512(hash as Uint8Array, res.msg);
      const r = decodeSessionSetupResponse(res.msg);
      if (step.status === 'done') throw new SmbSecurityError('the server wants more authentication legs after ours finished');
      step = await gss.step(r.token);
      continue;
    }
    if (status !== NT_STATUS.SUCCESS) {
      // smbd refuses the logon this way when it requires encryption the connection cannot give.
      const hint = status === NT_STATUS.ACCESS_DENIED && neg.cipher === undefined
        ? `the server may require encryption, which this connection (dialect ${dialectName(neg.dialect)}, no cipher) cannot do`
        : undefined;
      throw statusError(res, 'session setup', hint);
    }
    const r = decodeSessionSetupResponse(res.msg);
    if ((r.sessionFlags & (SESSION_FLAG.IS_GUEST | SESSION_FLAG.IS_NULL)) !== 0) {
      const who = (r.sessionFlags & SESSION_FLAG.IS_NULL) !== 0 ? 'anonymous' : 'guest';
      if (neg.options.signing === 'required' || neg.serverRequiresSigning) {
        throw new SmbSecurityError(`signing is required but the server logged us on as ${who}, and such a session cannot sign`);
      }
      if (neg.options.allowGuest !== true) {
        throw new SmbSecurityError(`the server logged us on as ${who} (unknown user name?); such sessions are refused unless allowGuest is set`);
      }
      // A guest session has no usable keys (Samba's SPNEGO sends no mechListMIC then): the
      // GSS context's last word does not matter.
      return finish(conn, neg, gss, sessionId, r.sessionFlags, hash, res.msg);
    }
    if (!gss.established) {
      step = await gss.step(r.token);
      if (step.status === 'rejected') throw new SmbSecurityError(`authentication failed: ${step.reason}`);
      if (step.status !== 'done' || step.token.length > 0) throw new SmbSecurityError('the server finished authentication before our side did');
    }
    return finish(conn, neg, gss, sessionId, r.sessionFlags, hash, res.msg);
  }
  throw new SmbSecurityError('authentication did not finish within 16 legs');
}

function finish(conn: SmbConnection, neg: Negotiated, gss: GssContext, sessionId: bigint, flags: number,
  hash: Uint8Array | undefined, last: Uint8Array): EstablishedSession {
  const guest = (flags & SESSION_FLAG.IS_GUEST) !== 0;
  const anonymous = (flags & SESSION_FLAG.IS_NULL) !== 0;
  const opts = neg.options;
  const canSign = !guest && !anonymous;
  const gssKey = canSign ? gss.sessionKey() : new Uint8Array(16);
  const keys = deriveSessionKeys(neg.dialect, gssKey, hash, neg.cipher !== undefined && isAes256(neg.cipher));
  const crypto: SessionCrypto = {
    sessionId, signing: canSign, signingAlg: neg.signingAlg, signingKey: keys.signingKey, encryptAll: false,
    nonces: new NonceSource(),
    ...(neg.cipher !== undefined && canSign ? { cipher: neg.cipher, encryptionKey: keys.encryptionKey, decryptionKey: keys.decryptionKey } : {}),
  };
  const signed = (new DataView(last.buffer, last.byteOffset, last.byteLength).getUint32(16, true) & HDR_FLAGS.SIGNED) !== 0;
  if (signed && canSign && !verifySignature(crypto.signingAlg, crypto.signingKey, last)) {
    throw new SmbSecurityError('the final SESSION_SETUP response has a bad signature (wrong keys, or tampering)');
  }
  if (!signed && canSign && neg.dialect === DIALECT.SMB311) {
    throw new SmbSecurityError('the final SMB 3.1.1 SESSION_SETUP response is not signed');
  }
  const serverEncrypts = (flags & SESSION_FLAG.ENCRYPT_DATA) !== 0;
  if ((serverEncrypts || opts.encryption === 'required') && crypto.cipher === undefined) {
    throw new SmbSecurityError(serverEncrypts ? 'the server requires encryption but no cipher could be agreed' : 'encryption is required but this session cannot encrypt');
  }
  crypto.encryptAll = serverEncrypts || opts.encryption === 'required';
  conn.addSession(crypto);
  log('session 0x%s up%s%s', sessionId.toString(16), crypto.signing ? ', signed' : '', crypto.encryptAll ? ', encrypted' : '');
  return { sessionId, crypto, guest, anonymous };
}
