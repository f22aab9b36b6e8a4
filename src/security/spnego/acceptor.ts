/**
 * SPNEGO acceptor (RFC 4178 5, MS-SPNG 3.2.5): picks the first of the initiator's mechTypes we
 * offer, uses the optimistic token when it is for that (first) mechanism, otherwise answers
 * accept-incomplete naming our choice (request-mic when the choice is a downgrade, as Samba does)
 * so the initiator starts it; then relays tokens to the inner mechanism and runs the mechListMIC
 * exchange described in mech.ts.
 */
import createDebug from 'debug';
import type { GssStep } from '../gss.js';
import { Asn1Error } from '../asn1/index.js';
import { Delegating, expectsMic, hasIntegrity, safely, sameMech, type InnerContext, type SpnegoMechanism } from './mech.js';
import { NEG_STATE, encodeResp, parseSpnego, type InitToken, type ParsedToken, type RespToken } from './tokens.js';

const log = createDebug('fsrvp:spnego');

export interface SpnegoAcceptorOptions {
  /** Our mechanisms, in no particular order: the initiator's preference decides. */
  readonly mechanisms: readonly SpnegoMechanism[];
}

/** A refusal; `token` is the negState reject answer to send where the transport can. */
export type SpnegoRejected = Extract<GssStep, { status: 'rejected' }> & { readonly token?: Uint8Array };

export const REJECT_TOKEN: Uint8Array = encodeResp({ negState: NEG_STATE.reject });

class Acceptor extends Delegating {
  private phase: 'init' | 'mech' | 'mic' | 'over' = 'init';
  private mechTypesDer: Uint8Array = new Uint8Array(0);
  private chosenOid = '';
  private downgraded = false;
  private firstReply = true;
  private micChecked = false;

  constructor(private readonly opts: SpnegoAcceptorOptions) {
    super();
  }

  async step(token: Uint8Array): Promise<GssStep> {
    try {
      return await this.stepInner(token);
    } catch (e) {
      return this.reject(e instanceof Error ? e.message : String(e));
    }
  }

  private reject(reason: string, token: Uint8Array | undefined = REJECT_TOKEN): SpnegoRejected {
    log('reject: %s', reason);
    this.phase = 'over';
    return token ? { status: 'rejected', reason, token } : { status: 'rejected', reason };
  }

  private async stepInner(token: Uint8Array): Promise<GssStep> {
    if (this.phase === 'over') return this.reject('SPNEGO context already finished', undefined);
    let t: ParsedToken;
    try {
      t = parseSpnego(token);
    } catch (e) {
      if (e instanceof Asn1Error) return this.reject(`malformed SPNEGO token: ${e.message}`);
      throw e;
    }
    if (this.phase === 'init') {
      if (t.kind !== 'init') return this.reject('first SPNEGO token is not a NegTokenInit');
      return this.onInit(t.init);
    }
    if (t.kind !== 'resp') return this.reject('NegTokenInit after the first leg');
    return this.onResp(t.resp);
  }

  private async onInit(init: InitToken): Promise<GssStep> {
    this.mechTypesDer = init.mechTypesDer;
    for (let i = 0; i < init.mechTypes.length; i++) {
      const want = init.mechTypes[i]!;
      const mech = this.opts.mechanisms.find((m) => sameMech(m.oid, want));
      const ctx = mech && safely(() => mech.start());
      if (!ctx) continue;
      this.inner = ctx;
      this.chosenOid = want;
      this.downgraded = i > 0;
      this.phase = 'mech';
      log('chose %s (client preference %d of %d)', want, i + 1, init.mechTypes.length);
      if (i === 0 && init.mechToken && init.mechToken.length > 0) {
        return this.runMech(init.mechToken, init.mechListMIC);
      }
      this.firstReply = false;
      return {
        status: 'continue',
        token: encodeResp({
          negState: this.downgraded ? NEG_STATE.requestMic : NEG_STATE.acceptIncomplete,
          supportedMech: want,
        }),
      };
    }
    return this.reject(`no common mechanism in [${init.mechTypes.join(', ')}]`);
  }

  private async onResp(r: RespToken): Promise<GssStep> {
    if (r.negState === NEG_STATE.reject) return this.reject('initiator rejected', undefined);
    if (this.phase === 'mic') {
      if (r.responseToken && r.responseToken.length > 0) return this.reject('mech token where only the mechListMIC was expected');
      if (!r.mechListMIC) return this.reject('mechListMIC required but missing');
      if (!this.inner!.verifyMic(this.mechTypesDer, r.mechListMIC)) return this.reject('mechListMIC does not verify');
      this.micChecked = true;
      return this.finish(new Uint8Array(0), undefined);
    }
    if (!r.responseToken || r.responseToken.length === 0) return this.reject('NegTokenResp without a mech token');
    return this.runMech(r.responseToken, r.mechListMIC);
  }

  private async runMech(mechToken: Uint8Array, peerMic: Uint8Array | undefined): Promise<GssStep> {
    const inner = this.inner as InnerContext;
    const s = await inner.step(mechToken);
    if (s.status === 'rejected') return this.reject(`${this.chosenOid}: ${s.reason}`);
    const supportedMech = this.firstReply ? this.chosenOid : undefined;
    this.firstReply = false;
    if (s.status === 'continue') {
      if (peerMic) return this.reject('mechListMIC before the mechanism finished');
      return { status: 'continue', token: encodeResp({ negState: NEG_STATE.acceptIncomplete, supportedMech, responseToken: s.token }) };
    }
    // Inner mechanism established: the mechListMIC exchange (mech.ts).
    const sign = hasIntegrity(inner);
    const wanted = sign && (this.downgraded || peerMic !== undefined || expectsMic(inner));
    if (!sign) return this.finish(s.token, undefined, supportedMech, s.identity);
    if (peerMic) {
      if (!inner.verifyMic(this.mechTypesDer, peerMic)) return this.reject('mechListMIC does not verify');
      this.micChecked = true;
    }
    const ourMic = wanted ? inner.getMic(this.mechTypesDer) : undefined;
    if (wanted && !this.micChecked) {
      // Ours goes now; the initiator's must follow before we are done.
      this.phase = 'mic';
      this.identity = s.identity;
      return {
        status: 'continue',
        token: encodeResp({ negState: NEG_STATE.acceptIncomplete, supportedMech, responseToken: s.token.length ? s.token : undefined, mechListMIC: ourMic }),
      };
    }
    return this.finish(s.token, ourMic, supportedMech, s.identity);
  }

  private identity: Extract<GssStep, { status: 'done' }>['identity'];

  private finish(mechToken: Uint8Array, mic: Uint8Array | undefined, supportedMech?: string, identity = this.identity): GssStep {
    this.phase = 'over';
    this.done = true;
    safely(() => this.inner!.resetCrypto?.(!this.micChecked));
    const token = encodeResp({
      negState: NEG_STATE.acceptCompleted,
      supportedMech,
      responseToken: mechToken.length ? mechToken : undefined,
      mechListMIC: mic,
    });
    return identity ? { status: 'done', token, identity } : { status: 'done', token };
  }
}

/** A SPNEGO acceptor context (mechOid 1.3.6.1.5.5.2) over the given inner mechanisms. */
export function createSpnegoAcceptor(opts: SpnegoAcceptorOptions): Delegating {
  return new Acceptor(opts);
}
