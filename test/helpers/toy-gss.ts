/**
 * A deterministic toy GSS mechanism, for SPNEGO unit tests only: fixed tokens ("TOY" + role +
 * leg + oid), MICs an HMAC over a per-direction sequence number and the data. 'three-leg' runs
 * like NTLMSSP (initiator, acceptor, initiator), 'two-leg' like mutual Kerberos (AP-REQ, AP-REP).
 */
import { createHmac } from 'node:crypto';
import type { GssContext, GssStep } from '../../src/security/gss.js';
import type { InnerContext } from '../../src/security/spnego/index.js';

export interface ToyOptions {
  readonly oid: string;
  readonly style?: 'three-leg' | 'two-leg';
  readonly integrity?: boolean;
  readonly expectsMic?: boolean;
  /** The acceptor refuses the initiator's leg with this index. */
  readonly rejectLeg?: number;
  /** Use a different MIC key (to make MICs not verify). */
  readonly micKey?: string;
}

export interface ToyContext extends InnerContext {
  readonly resets: boolean[];
  readonly micsMade: number;
  readonly micsChecked: number;
}

const te = new TextEncoder();
const tok = (role: string, leg: number, oid: string): Uint8Array => te.encode(`TOY${role}${leg}:${oid}`);
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

export function toyContext(role: 'initiator' | 'acceptor', o: ToyOptions): ToyContext {
  const style = o.style ?? 'three-leg';
  let leg = 0;
  let established = false;
  let sendSeq = 0;
  let recvSeq = 0;
  const state = { resets: [] as boolean[], micsMade: 0, micsChecked: 0 };
  const mine = role === 'initiator' ? 'I' : 'A';
  const theirs = role === 'initiator' ? 'A' : 'I';
  const mic = (dir: string, seq: number, data: Uint8Array): Uint8Array =>
    new Uint8Array(createHmac('sha256', `${o.micKey ?? 'toy'}:${dir}`).update(`${seq}:`).update(data).digest().subarray(0, 16));
  const fail = (reason: string): GssStep => ({ status: 'rejected', reason });
  const ctx: ToyContext & GssContext = {
    mechOid: o.oid,
    get established() {
      return established;
    },
    get resets() {
      return state.resets;
    },
    get micsMade() {
      return state.micsMade;
    },
    get micsChecked() {
      return state.micsChecked;
    },
    async step(token: Uint8Array): Promise<GssStep> {
      if (established) return fail('already established');
      if (role === 'initiator') {
        if (leg === 0) {
          if (token.length) return fail('initiator first leg takes no token');
          leg = 1;
          return { status: 'continue', token: tok('I', 0, o.oid) };
        }
        if (!same(token, tok('A', leg - 1, o.oid))) return fail('unexpected acceptor token');
        if (style === 'two-leg') {
          established = true;
          return { status: 'done', token: new Uint8Array(0) };
        }
        established = true;
        return { status: 'done', token: tok('I', leg++, o.oid) };
      }
      if (!same(token, tok(theirs, leg, o.oid))) return fail(`unexpected initiator token at leg ${leg}`);
      if (o.rejectLeg === leg) return fail('toy refuses');
      if (style === 'two-leg' || leg === 1) {
        established = true;
        const t = style === 'two-leg' ? tok(mine, leg, o.oid) : new Uint8Array(0);
        return { status: 'done', token: t, identity: { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1000'], accountName: 'toy' } };
      }
      return { status: 'continue', token: tok(mine, leg++, o.oid) };
    },
    sessionKey: () => te.encode(`key:${o.oid}`),
    getMic(data: Uint8Array): Uint8Array {
      state.micsMade++;
      return mic(mine, sendSeq++, data);
    },
    verifyMic(data: Uint8Array, m: Uint8Array): boolean {
      state.micsChecked++;
      return same(mic(theirs, recvSeq++, data), m);
    },
    signatureSize: () => 16,
    wrapPdu: () => new Uint8Array(16),
    unwrapPdu: () => true,
    hasIntegrity: () => o.integrity ?? true,
    expectsMechListMic: () => o.expectsMic ?? false,
    resetCrypto(full: boolean) {
      state.resets.push(full);
    },
  };
  return ctx;
}
