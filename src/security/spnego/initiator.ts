/**
 * SPNEGO initiator (RFC 4178 5, MS-SPNG 3.1.5): NegTokenInit with our mechanism list and an
 * optimistic token for the first; follows the acceptor's supportedMech when it picks another of
 * ours (a downgrade: MICs then required where the mechanism can sign); mechListMIC rule in mech.ts.
 */
import createDebug from 'debug';
import type { GssStep } from '../gss.js';
import { Asn1Error, encode } from '../asn1/index.js';
import { Delegating, expectsMic, hasIntegrity, safely, sameMech, type SpnegoMechanism } from './mech.js';
import { NEG_STATE, encodeInit, encodeResp, mechTypeList, parseSpnego, type RespToken } from './tokens.js';

const log = createDebug('fsrvp:spnego');

export interface SpnegoInitiatorOptions {
  /** Our mechanisms in preference order; the first gets the optimistic token. */
  readonly mechanisms: readonly SpnegoMechanism[];
}

class Initiator extends Delegating {
  private phase: 'start' | 'mech' | 'mic' | 'over' = 'start';
  private readonly mechTypes: string[];
  private readonly mechTypesDer: Uint8Array;
  private current = 0;
  private downgraded = false;
  private micRequested = false;
  private answers = 0;
  private micChecked = false;
  private innerDone = false;
  private micSent = false;

  constructor(private readonly opts: SpnegoInitiatorOptions) {
    super();
    this.mechTypes = opts.mechanisms.map((m) => m.oid);
    this.mechTypesDer = encode(mechTypeList, this.mechTypes);
  }

  async step(token: Uint8Array): Promise<GssStep> {
    try {
      return await this.stepInner(token);
    } catch (e) {
      return this.reject(e instanceof Error ? e.message : String(e));
    }
  }

  private reject(reason: string): GssStep {
    log('initiator gives up: %s', reason);
    this.phase = 'over';
    return { status: 'rejected', reason };
  }

  private async stepInner(token: Uint8Array): Promise<GssStep> {
    if (this.phase === 'over') return this.reject('SPNEGO context already finished');
    if (this.phase === 'start') return this.start();
    let r: RespToken;
    try {
      const t = parseSpnego(token);
      if (t.kind !== 'resp') return this.reject('acceptor answered with a NegTokenInit');
      r = t.resp;
    } catch (e) {
      if (e instanceof Asn1Error) return this.reject(`malformed SPNEGO token: ${e.message}`);
      throw e;
    }
    this.answers++;
    return this.onResp(r);
  }

  private async start(): Promise<GssStep> {
    const first = this.opts.mechanisms[0];
    const inner = first && safely(() => first.start());
    if (!inner) return this.reject('no mechanism to offer');
    this.inner = inner;
    const s = await inner.step(new Uint8Array(0));
    if (s.status === 'rejected') return this.reject(`${first.oid}: ${s.reason}`);
    this.innerDone = s.status === 'done';
    this.phase = 'mech';
    return { status: 'continue', token: encodeInit({ mechTypes: this.mechTypes, mechToken: s.token.length ? s.token : undefined }) };
  }

  private async onResp(r: RespToken): Promise<GssStep> {
    if (r.negState === NEG_STATE.reject) return this.reject('acceptor rejected');
    if (r.negState === NEG_STATE.requestMic) this.micRequested = true;
    let mic = r.mechListMIC;
    // Windows 2000 repeats the responseToken in mechListMIC (Samba ignores such a MIC).
    if (mic && r.responseToken && Buffer.compare(mic, r.responseToken) === 0) mic = undefined;
    const cur = this.mechTypes[this.current]!;
    if (r.supportedMech !== undefined && !sameMech(r.supportedMech, cur)) {
      if (this.answers !== 1) return this.reject('acceptor changed mechanism late');
      const idx = this.mechTypes.findIndex((m) => sameMech(m, r.supportedMech!));
      if (idx <= 0) return this.reject(`acceptor chose ${r.supportedMech}, which we did not offer`);
      const inner = safely(() => this.opts.mechanisms[idx]!.start());
      if (!inner) return this.reject(`${r.supportedMech} unavailable`);
      log('acceptor switched us to %s', r.supportedMech);
      this.inner = inner;
      this.current = idx;
      this.downgraded = true;
      this.innerDone = false;
      const s = await inner.step(new Uint8Array(0));
      if (s.status === 'rejected') return this.reject(`${r.supportedMech}: ${s.reason}`);
      this.innerDone = s.status === 'done';
      return { status: 'continue', token: encodeResp({ responseToken: s.token }) };
    }
    const inner = this.inner!;
    if (this.phase === 'mic') {
      if (!mic) return this.reject('acceptor sent no mechListMIC');
      if (!inner.verifyMic(this.mechTypesDer, mic)) return this.reject('acceptor mechListMIC does not verify');
      this.micChecked = true;
      return this.finish(r);
    }
    let out: Uint8Array = new Uint8Array(0);
    if (!this.innerDone) {
      if (!r.responseToken) {
        if (r.negState === NEG_STATE.acceptCompleted) return this.reject('accept-completed before our mechanism finished');
        return this.reject('acceptor sent no mech token');
      }
      const s = await inner.step(r.responseToken);
      if (s.status === 'rejected') return this.reject(`${inner.mechOid}: ${s.reason}`);
      out = s.token;
      this.innerDone = s.status === 'done';
      if (!this.innerDone) {
        if (mic) return this.reject('mechListMIC before the mechanism finished');
        return { status: 'continue', token: encodeResp({ responseToken: out }) };
      }
    }
    // Inner mechanism established: the mechListMIC exchange (mech.ts).
    const sign = hasIntegrity(inner);
    const firstAnswerDone = r.negState === NEG_STATE.acceptCompleted && this.answers === 1;
    const wanted = sign && (this.downgraded || this.micRequested || mic !== undefined || (expectsMic(inner) && !firstAnswerDone));
    if (sign && mic) {
      if (!inner.verifyMic(this.mechTypesDer, mic)) return this.reject('acceptor mechListMIC does not verify');
      this.micChecked = true;
    }
    const ourMic = wanted && !this.micSent && !(this.micChecked && firstAnswerDone) ? inner.getMic(this.mechTypesDer) : undefined;
    if (ourMic) this.micSent = true;
    if (r.negState === NEG_STATE.acceptCompleted && (!wanted || this.micChecked)) {
      if (out.length || ourMic) {
        // Our last leg still goes out, but the acceptor already said it is done.
        this.markDone();
        return { status: 'done', token: encodeResp({ responseToken: out.length ? out : undefined, mechListMIC: ourMic }) };
      }
      return this.finish(r);
    }
    this.phase = wanted && !this.micChecked ? 'mic' : 'mech';
    if (!wanted && r.negState !== NEG_STATE.acceptCompleted && out.length === 0) return this.reject('nothing to send and not accepted');
    return { status: 'continue', token: encodeResp({ responseToken: out.length ? out : undefined, mechListMIC: ourMic }) };
  }

  private markDone(): void {
    this.phase = 'over';
    this.done = true;
    safely(() => this.inner!.resetCrypto?.(!this.micChecked));
  }

  private finish(r: RespToken): GssStep {
    if (r.negState !== undefined && r.negState !== NEG_STATE.acceptCompleted) return this.reject(`acceptor negState ${r.negState} at the end`);
    this.markDone();
    return { status: 'done', token: new Uint8Array(0) };
  }
}

/** A SPNEGO initiator context over the given inner mechanisms (first = preferred). */
export function createSpnegoInitiator(opts: SpnegoInitiatorOptions): Delegating {
  return new Initiator(opts);
}
