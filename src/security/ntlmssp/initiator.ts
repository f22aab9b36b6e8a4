/**
 * The NTLMSSP initiator (MS-NLMP 3.1.5) for our own tools: NEGOTIATE, then an NTLMv2
 * AUTHENTICATE with key exchange and a MIC over the three messages (MsvAvFlags 0x2) whenever
 * the server sent a timestamp, as Windows clients do. Given a ChallengeRegistry, a CHALLENGE
 * carrying a server challenge issued by that registry's acceptors is a reflection and is refused.
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { GssFlags, GssStep } from '../gss.js';
import { rc4 } from '../crypto/rc4.js';
import { AV_FLAGS, AV_ID, NTLM_FLAGS, hasFlag, u32 } from './constants.js';
import { NtlmContextBase, refuse } from './context.js';
import { NtlmError } from './errors.js';
import { avFlags, decodeAvPairs, encodeAvPairs, findAv, u32le, utf16, withAv } from './av-pairs.js';
import { computeMic, fileTimeOf, kxkey, lmv2Response, ntHashOf, ntlmv2ClientBlob, ntlmv2Response, ntowfv2 } from './keys.js';
import { MIC_OFFSET, decodeChallenge, encodeAuthenticate, encodeNegotiate, messageType } from './messages.js';
import type { ChallengeRegistry } from './reflection.js';

const log = createDebug('fsrvp:ntlmssp');

export interface NtlmCredentials {
  readonly user: string;
  readonly domain: string;
  /** The password, or the NT hash directly (16 bytes). */
  readonly password?: string;
  readonly ntHash?: Uint8Array;
  readonly workstation?: string;
}

export interface NtlmInitiatorOptions {
  readonly credentials: NtlmCredentials;
  readonly flags?: GssFlags;
  /** Service principal name for MsvAvTargetName, e.g. host/server (optional). */
  readonly targetName?: string;
  /** Refuse a CHALLENGE whose server challenge this registry's acceptors issued (reflection). */
  readonly refuseChallengesOf?: ChallengeRegistry;
  readonly now?: () => number;
  readonly random?: (n: number) => Uint8Array;
}

export class NtlmInitiator extends NtlmContextBase {
  private phase: 'start' | 'challenge' | 'over' = 'start';
  private negotiateMsg: Uint8Array = new Uint8Array(0);
  private readonly ntHash: Uint8Array;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: NtlmInitiatorOptions) {
    super();
    const c = opts.credentials;
    const hash = c.ntHash ?? (c.password !== undefined ? ntHashOf(c.password) : undefined);
    if (hash === undefined || hash.length !== 16) throw new NtlmError('NTLM credentials need a password or a 16-byte NT hash');
    this.ntHash = hash;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  private requestedFlags(): number {
    const f = this.opts.flags;
    let flags = NTLM_FLAGS.unicode | NTLM_FLAGS.oem | NTLM_FLAGS.requestTarget | NTLM_FLAGS.ntlm | NTLM_FLAGS.alwaysSign |
      NTLM_FLAGS.extendedSessionSecurity | NTLM_FLAGS.version | NTLM_FLAGS.negotiate128 | NTLM_FLAGS.keyExch | NTLM_FLAGS.negotiate56;
    // Signing is always asked for: SPNEGO's mechListMIC needs it even at connect level.
    flags |= NTLM_FLAGS.sign;
    if (f?.confidentiality === true) flags |= NTLM_FLAGS.seal;
    return u32(flags);
  }

  async step(token: Uint8Array): Promise<GssStep> {
    const phase = this.phase;
    this.phase = 'over';
    try {
      if (phase === 'start') {
        this.negotiateMsg = encodeNegotiate({ flags: this.requestedFlags(), domain: '', workstation: '' });
        this.phase = 'challenge';
        return { status: 'continue', token: this.negotiateMsg };
      }
      if (phase === 'challenge') return this.onChallenge(token);
      return refuse('NTLMSSP exchange already finished');
    } catch (e) {
      const reason = e instanceof NtlmError ? e.message : `NTLMSSP initiator failed: ${e instanceof Error ? e.message : String(e)}`;
      log('initiator: %s', reason);
      return refuse(reason);
    }
  }

  private onChallenge(token: Uint8Array): GssStep {
    if (messageType(token) !== 2) throw new NtlmError('expected CHALLENGE');
    const ch = decodeChallenge(token);
    if (this.opts.refuseChallengesOf?.has(ch.serverChallenge) === true) throw new NtlmError('the CHALLENGE carries a server challenge this process issued (reflection)');
    const wanted = this.requestedFlags();
    const flags = u32(ch.flags & wanted);
    if (!hasFlag(flags, NTLM_FLAGS.extendedSessionSecurity)) throw new NtlmError('server refuses extended session security (NTLMv1-era server)');
    if (this.opts.flags?.integrity === true && !hasFlag(flags, NTLM_FLAGS.sign)) throw new NtlmError('server refuses signing');
    if (this.opts.flags?.confidentiality === true && !hasFlag(flags, NTLM_FLAGS.seal)) throw new NtlmError('server refuses sealing');

    let pairs = decodeAvPairs(ch.targetInfo, 0);
    const stamp = findAv(pairs, AV_ID.timestamp);
    const time = stamp !== undefined && stamp.value.length === 8
      ? new DataView(stamp.value.buffer, stamp.value.byteOffset, 8).getBigUint64(0, true)
      : fileTimeOf(this.now());
    const withMic = stamp !== undefined;
    if (withMic) pairs = withAv(pairs, { id: AV_ID.flags, value: u32le(avFlags(pairs) | AV_FLAGS.micPresent) });
    if (this.opts.targetName !== undefined) pairs = withAv(pairs, { id: AV_ID.targetName, value: utf16(this.opts.targetName) });

    const c = this.opts.credentials;
    const key = ntowfv2(this.ntHash, c.user, c.domain);
    const clientChallenge = this.random(8);
    const r = ntlmv2Response(key, ch.serverChallenge, ntlmv2ClientBlob(time, clientChallenge, encodeAvPairs(pairs)));
    // With a server timestamp the LM response is 24 zero bytes (MS-NLMP 3.1.5.1.2).
    const lm = withMic ? new Uint8Array(24) : lmv2Response(key, ch.serverChallenge, clientChallenge);
    const kx = kxkey(r.sessionBaseKey);
    let exported = kx;
    let encryptedKey: Uint8Array = new Uint8Array(0);
    if (hasFlag(flags, NTLM_FLAGS.keyExch)) {
      exported = this.random(16);
      encryptedKey = rc4(kx, exported);
    }
    const msg = encodeAuthenticate({
      flags, lmResponse: lm, ntResponse: r.ntResponse, domain: c.domain, user: c.user,
      workstation: c.workstation ?? '', encryptedRandomSessionKey: encryptedKey,
    }, withMic);
    if (withMic) msg.set(computeMic(exported, this.negotiateMsg, token, msg), MIC_OFFSET);
    this.micSent = withMic;
    this.establish(exported, flags, 'client');
    return { status: 'done', token: msg };
  }
}
