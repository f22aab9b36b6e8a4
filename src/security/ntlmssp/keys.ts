/**
 * NTLMv2 key and response computation (MS-NLMP 3.3.2, 3.4.5): NTOWFv2, the NTLMv2 and LMv2
 * responses, the session base key, KXKEY, SIGNKEY/SEALKEY and the AUTHENTICATE MIC. HMAC-MD5 and
 * MD5 come from node:crypto; MD4 and RC4 from ../crypto (OpenSSL 3 keeps those in its legacy
 * provider).
 */
import { createHash, createHmac } from 'node:crypto';
import { md4 } from '../crypto/md4.js';
import { NTLM_FLAGS, hasFlag } from './constants.js';
import { u64le, utf16 } from './av-pairs.js';

export const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]): Uint8Array => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
};

export const md5 = (...data: Uint8Array[]): Uint8Array => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
};

export { bytesEqual } from '../crypto/bytes.js';

/** NTOWFv1: MD4 of the UTF-16LE password (the "NT hash"). */
export const ntHashOf = (password: string): Uint8Array => md4(utf16(password));

/**
 * NTOWFv2 (= LMOWFv2): HMAC_MD5(NT hash, UTF-16LE(Uppercase(User) ‖ UserDom)). Only the user
 * name is uppercased. JavaScript's toUpperCase is the Unicode mapping; Windows uses its own
 * table, which agrees for the names seen in practice.
 */
export const ntowfv2 = (ntHash: Uint8Array, user: string, domain: string): Uint8Array =>
  hmacMd5(ntHash, utf16(user.toUpperCase() + domain));

/** The NTLMv2_CLIENT_CHALLENGE ("temp", MS-NLMP 2.2.2.7 / 3.3.2) that follows NTProofStr. */
export function ntlmv2ClientBlob(time: bigint, clientChallenge: Uint8Array, targetInfo: Uint8Array): Uint8Array {
  const out = new Uint8Array(28 + targetInfo.length + 4);
  out[0] = 1; // RespType
  out[1] = 1; // HiRespType
  out.set(u64le(time), 8);
  out.set(clientChallenge, 16);
  out.set(targetInfo, 28);
  return out;
}

export interface Ntlmv2Response {
  readonly ntProofStr: Uint8Array;
  /** NTProofStr ‖ temp: NtChallengeResponse. */
  readonly ntResponse: Uint8Array;
  readonly sessionBaseKey: Uint8Array;
}

export function ntlmv2Response(responseKeyNt: Uint8Array, serverChallenge: Uint8Array, blob: Uint8Array): Ntlmv2Response {
  const ntProofStr = hmacMd5(responseKeyNt, serverChallenge, blob);
  const ntResponse = new Uint8Array(16 + blob.length);
  ntResponse.set(ntProofStr);
  ntResponse.set(blob, 16);
  return { ntProofStr, ntResponse, sessionBaseKey: hmacMd5(responseKeyNt, ntProofStr) };
}

/** LMv2_RESPONSE: HMAC_MD5(ResponseKeyLM, ServerChallenge ‖ ClientChallenge) ‖ ClientChallenge. */
export function lmv2Response(responseKeyLm: Uint8Array, serverChallenge: Uint8Array, clientChallenge: Uint8Array): Uint8Array {
  const out = new Uint8Array(24);
  out.set(hmacMd5(responseKeyLm, serverChallenge, clientChallenge));
  out.set(clientChallenge, 16);
  return out;
}

/** KXKEY for NTLMv2 is the session base key itself (MS-NLMP 3.4.5.1). */
export const kxkey = (sessionBaseKey: Uint8Array): Uint8Array => sessionBaseKey;

const magic = (s: string): Uint8Array => new Uint8Array(Buffer.from(`${s}\0`, 'latin1'));
const CLIENT_SIGN = magic('session key to client-to-server signing key magic constant');
const SERVER_SIGN = magic('session key to server-to-client signing key magic constant');
const CLIENT_SEAL = magic('session key to client-to-server sealing key magic constant');
const SERVER_SEAL = magic('session key to server-to-client sealing key magic constant');

export type Side = 'client' | 'server';

/** SIGNKEY (MS-NLMP 3.4.5.2), extended session security. */
export const signKey = (exportedSessionKey: Uint8Array, side: Side): Uint8Array =>
  md5(exportedSessionKey, side === 'client' ? CLIENT_SIGN : SERVER_SIGN);

/** SEALKEY (MS-NLMP 3.4.5.3), extended session security: 128, 56 or 40 bits of the key, then MD5 with the magic. */
export function sealKey(exportedSessionKey: Uint8Array, flags: number, side: Side): Uint8Array {
  const keyLen = hasFlag(flags, NTLM_FLAGS.negotiate128) ? 16 : hasFlag(flags, NTLM_FLAGS.negotiate56) ? 7 : 5;
  return md5(exportedSessionKey.subarray(0, keyLen), side === 'client' ? CLIENT_SEAL : SERVER_SEAL);
}

/** MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE with the MIC zeroed). */
export const computeMic = (exportedSessionKey: Uint8Array, negotiate: Uint8Array, challenge: Uint8Array, authenticate: Uint8Array): Uint8Array =>
  hmacMd5(exportedSessionKey, negotiate, challenge, authenticate);

/** FILETIME (100 ns since 1601-01-01 UTC) of a JavaScript time in milliseconds. */
export const fileTimeOf = (ms: number): bigint => (BigInt(Math.trunc(ms)) + 11_644_473_600_000n) * 10_000n;
/** Milliseconds of a FILETIME. */
export const msOfFileTime = (ft: bigint): number => Number(ft / 10_000n - 11_644_473_600_000n);
