/**
 * Checking an NTLMv2 response against the host's authority (MS-NLMP 3.3.2). The acceptor never
 * sees a password: a verifier gets the challenge and the client's response and answers with the
 * session base key and the identity, or a refusal. Two kinds exist: `ntHashVerifier` over a
 * lookup of the account's NT hash (a standalone Samba host's passdb, through the helper), and a
 * winbind one (ntlm_auth) that never gives out the hash at all.
 */
import type { CallerIdentity } from '../../dcerpc/interface.js';
import type { NtHashLookup } from '../credentials/passdb.js';
import { bytesEqual, hmacMd5, ntowfv2 } from './keys.js';

export interface NtlmVerifyRequest {
  readonly user: string;
  readonly domain: string;
  readonly workstation: string;
  readonly serverChallenge: Uint8Array;
  /** NtChallengeResponse: NTProofStr (16) ‖ the client's blob. */
  readonly ntResponse: Uint8Array;
  readonly lmResponse: Uint8Array;
}

export type NtlmVerdict =
  | { readonly ok: true; readonly sessionBaseKey: Uint8Array; readonly identity: CallerIdentity }
  /** `reason` goes to the log only; the client just sees a refusal. */
  | { readonly ok: false; readonly reason: string };

export type NtlmVerifier = (req: NtlmVerifyRequest) => Promise<NtlmVerdict>;

/** The shortest NTLMv2 response: NTProofStr, the 28-byte blob header and MsvAvEOL. */
export const MIN_NTLMV2_RESPONSE = 16 + 28 + 4;

/**
 * Checks NTProofStr with the account's NT hash. As Windows and Samba do, the user's domain is
 * tried as sent, then upper-cased, then empty: clients differ in which one they hash.
 */
export function ntHashVerifier(lookup: NtHashLookup): NtlmVerifier {
  return async (req) => {
    if (req.ntResponse.length < MIN_NTLMV2_RESPONSE) return { ok: false, reason: 'not an NTLMv2 response (NTLMv1 and LM are refused)' };
    const entry = await lookup(req.user, req.domain);
    if (entry === undefined) return { ok: false, reason: `no usable account ${req.domain}\\${req.user}` };
    const proof = req.ntResponse.subarray(0, 16);
    const blob = req.ntResponse.subarray(16);
    const domains = [...new Set([req.domain, req.domain.toUpperCase(), ''])];
    for (const d of domains) {
      const key = ntowfv2(entry.ntHash, req.user, d);
      const expected = hmacMd5(key, req.serverChallenge, blob);
      if (bytesEqual(expected, proof)) return { ok: true, sessionBaseKey: hmacMd5(key, expected), identity: entry.identity };
    }
    return { ok: false, reason: `wrong password for ${req.domain}\\${req.user}` };
  };
}
