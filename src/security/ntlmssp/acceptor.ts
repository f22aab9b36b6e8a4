/**
 * The NTLMSSP acceptor (MS-NLMP 3.2.5): NEGOTIATE → CHALLENGE → AUTHENTICATE, NTLMv2 only,
 * extended session security, key exchange, MIC. The checks follow what Samba's server does:
 * the client's blob must echo every AV pair we sent (names and timestamp), the AUTHENTICATE
 * must arrive within 30 minutes of the CHALLENGE, a MIC announced in MsvAvFlags must be there
 * and match, and the password is checked by the host's authority through an NtlmVerifier.
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { GssFlags, GssStep } from '../gss.js';
import { rc4 } from '../crypto/rc4.js';
import { AV_FLAGS, AV_ID, NTLM_FLAGS, hasFlag, u32 } from './constants.js';
import { NtlmContextBase, refuse } from './context.js';
import { NtlmError } from './errors.js';
import { avFlags, decodeAvPairs, encodeAvPairs, findAv, u64le, utf16, type AvPair } from './av-pairs.js';
import { bytesEqual, computeMic, fileTimeOf, kxkey } from './keys.js';
import { MIC_OFFSET, decodeAuthenticate, decodeNegotiate, encodeChallenge, messageType } from './messages.js';
import type { ChallengeRegistry } from './reflection.js';
import { MIN_NTLMV2_RESPONSE, type NtlmVerifier } from './verifier.js';

const log = createDebug('fsrvp:ntlmssp');

/** How long a CHALLENGE stays answerable (Samba's hard limit). */
export const CHALLENGE_LIFETIME_MS = 30 * 60 * 1000;

export interface NtlmServerNames {
  /** NetBIOS computer name (upper case), e.g. FILESERVER. */
  readonly netbiosName: string;
  /** NetBIOS domain or workgroup, e.g. WORKGROUP. */
  readonly netbiosDomain: string;
  readonly dnsName?: string;
  readonly dnsDomain?: string;
  /** The domain is a real domain (target type domain) rather than a workgroup. */
  readonly isDomain?: boolean;
}

export interface NtlmAcceptorOptions {
  readonly names: NtlmServerNames;
  readonly verifier: NtlmVerifier;
  /** Features the bind asked for: signing and sealing are then required of the client. */
  readonly flags?: GssFlags;
  /** Where issued challenges are recorded for the reflection check (the agent: processChallenges). */
  readonly challenges?: ChallengeRegistry;
  readonly now?: () => number;
  readonly random?: (n: number) => Uint8Array;
}

/** Flags the server offers; intersected with the client's in `chooseFlags`. */
const OFFERED = NTLM_FLAGS.unicode | NTLM_FLAGS.requestTarget | NTLM_FLAGS.sign | NTLM_FLAGS.seal | NTLM_FLAGS.ntlm |
  NTLM_FLAGS.alwaysSign | NTLM_FLAGS.extendedSessionSecurity | NTLM_FLAGS.negotiate128 | NTLM_FLAGS.keyExch | NTLM_FLAGS.negotiate56;

export class NtlmAcceptor extends NtlmContextBase {
  private phase: 'negotiate' | 'authenticate' | 'over' = 'negotiate';
  private negotiateMsg: Uint8Array = new Uint8Array(0);
  private challengeMsg: Uint8Array = new Uint8Array(0);
  private serverChallenge: Uint8Array = new Uint8Array(8);
  private serverPairs: AvPair[] = [];
  private challengeFlags = 0;
  private challengeAt = 0;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: NtlmAcceptorOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  async step(token: Uint8Array): Promise<GssStep> {
    const phase = this.phase;
    this.phase = 'over'; // any refusal below is final
    try {
      if (phase === 'negotiate') return this.onNegotiate(token);
      if (phase === 'authenticate') return await this.onAuthenticate(token);
      return refuse('NTLMSSP exchange already finished');
    } catch (e) {
      const reason = e instanceof NtlmError ? e.message : `NTLMSSP acceptor failed: ${e instanceof Error ? e.message : String(e)}`;
      log('refused: %s', reason);
      return refuse(reason);
    }
  }

  private chooseFlags(client: number): number {
    const wants = this.opts.flags;
    if (!hasFlag(client, NTLM_FLAGS.unicode)) throw new NtlmError('client does not offer Unicode');
    if (!hasFlag(client, NTLM_FLAGS.extendedSessionSecurity)) throw new NtlmError('client does not offer extended session security');
    let f = u32(client & OFFERED) | NTLM_FLAGS.unicode | NTLM_FLAGS.ntlm | NTLM_FLAGS.targetInfo | NTLM_FLAGS.version |
      NTLM_FLAGS.extendedSessionSecurity | (this.opts.names.isDomain === true ? NTLM_FLAGS.targetTypeDomain : NTLM_FLAGS.targetTypeServer);
    if (wants?.integrity === true) {
      if (!hasFlag(client, NTLM_FLAGS.sign)) throw new NtlmError('packet integrity asked for, but the client does not offer signing');
      f |= NTLM_FLAGS.sign;
    }
    if (wants?.confidentiality === true) {
      if (!hasFlag(client, NTLM_FLAGS.seal)) throw new NtlmError('packet privacy asked for, but the client does not offer sealing');
      f |= NTLM_FLAGS.seal;
    }
    // 128-bit keys when offered; 56 only when 128 is not.
    if (hasFlag(f, NTLM_FLAGS.negotiate128)) f &= ~NTLM_FLAGS.negotiate56;
    return u32(f);
  }

  private onNegotiate(token: Uint8Array): GssStep {
    if (messageType(token) !== 1) throw new NtlmError('expected NEGOTIATE');
    const neg = decodeNegotiate(token);
    this.negotiateMsg = new Uint8Array(token);
    this.challengeFlags = this.chooseFlags(neg.flags);
    const n = this.opts.names;
    this.serverChallenge = this.random(8);
    this.challengeAt = this.now();
    this.serverPairs = [
      { id: AV_ID.nbDomainName, value: utf16(n.netbiosDomain) },
      { id: AV_ID.nbComputerName, value: utf16(n.netbiosName) },
      { id: AV_ID.dnsDomainName, value: utf16(n.dnsDomain ?? n.netbiosDomain.toLowerCase()) },
      { id: AV_ID.dnsComputerName, value: utf16(n.dnsName ?? n.netbiosName.toLowerCase()) },
      { id: AV_ID.timestamp, value: u64le(fileTimeOf(this.challengeAt)) },
    ];
    this.challengeMsg = encodeChallenge({
      flags: this.challengeFlags,
      targetName: n.isDomain === true ? n.netbiosDomain : n.netbiosName,
      serverChallenge: this.serverChallenge,
      targetInfo: encodeAvPairs(this.serverPairs),
    });
    this.opts.challenges?.remember(this.serverChallenge, this.challengeAt);
    this.phase = 'authenticate';
    return { status: 'continue', token: this.challengeMsg };
  }

  /** The client's blob must repeat each pair we sent, byte for byte. */
  private checkEcho(clientPairs: readonly AvPair[]): void {
    for (const sp of this.serverPairs) {
      const cp = findAv(clientPairs, sp.id);
      if (cp === undefined) throw new NtlmError(`AV pair ${sp.id} of the CHALLENGE missing from the response (relayed from another server?)`);
      if (!bytesEqual(cp.value, sp.value)) throw new NtlmError(`AV pair ${sp.id} differs from the CHALLENGE's (relayed from another server?)`);
    }
  }

  private async onAuthenticate(token: Uint8Array): Promise<GssStep> {
    if (messageType(token) !== 3) throw new NtlmError('expected AUTHENTICATE');
    const auth = decodeAuthenticate(token);
    if (this.now() - this.challengeAt > CHALLENGE_LIFETIME_MS) throw new NtlmError('the CHALLENGE expired (older than 30 minutes)');
    if (auth.user.length === 0) throw new NtlmError('anonymous NTLMSSP logons are refused');
    if (auth.ntResponse.length < MIN_NTLMV2_RESPONSE) throw new NtlmError(`${auth.domain}\\${auth.user}: not an NTLMv2 response (NTLMv1 and LM are refused)`);
    const blob = auth.ntResponse.subarray(16);
    if (blob[0] !== 1 || blob[1] !== 1) throw new NtlmError('NTLMv2 blob of an unknown version');
    const clientPairs = decodeAvPairs(blob.subarray(28), 16 + 28);
    this.checkEcho(clientPairs);
    const micPresent = (avFlags(clientPairs) & AV_FLAGS.micPresent) !== 0;
    if (micPresent && auth.mic === undefined) throw new NtlmError('MsvAvFlags announce a MIC the message has no room for');

    const verdict = await this.opts.verifier({
      user: auth.user, domain: auth.domain, workstation: auth.workstation,
      serverChallenge: this.serverChallenge, ntResponse: auth.ntResponse, lmResponse: auth.lmResponse,
    });
    if (!verdict.ok) throw new NtlmError(verdict.reason);

    // The client may narrow the flags (not widen them).
    const flags = u32(this.challengeFlags & (auth.flags | ~(NTLM_FLAGS.keyExch | NTLM_FLAGS.sign | NTLM_FLAGS.seal)));
    const kx = kxkey(verdict.sessionBaseKey);
    let exported = kx;
    if (hasFlag(flags, NTLM_FLAGS.keyExch)) {
      if (auth.encryptedRandomSessionKey.length !== 16) throw new NtlmError('key exchange negotiated but no 16-byte encrypted session key');
      exported = rc4(kx, auth.encryptedRandomSessionKey);
    }
    if (micPresent) {
      const zeroed = new Uint8Array(token);
      zeroed.fill(0, MIC_OFFSET, MIC_OFFSET + 16);
      const mic = computeMic(exported, this.negotiateMsg, this.challengeMsg, zeroed);
      if (!bytesEqual(mic, auth.mic as Uint8Array)) throw new NtlmError(`${auth.domain}\\${auth.user}: MIC does not match (messages altered in transit)`);
    }
    this.micSent = micPresent;
    this.establish(exported, flags, 'server');
    log('authenticated %s\\%s from %s', auth.domain, auth.user, auth.workstation);
    return { status: 'done', token: new Uint8Array(0), identity: verdict.identity };
  }
}
