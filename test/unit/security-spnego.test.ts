import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MECH_OID, type GssContext, type GssStep } from '../../src/security/gss.js';
import {
  NEG_STATE, REJECT_TOKEN, authTypeOfFirstToken, createSpnegoAcceptor, createSpnegoInitiator, encodeInit, encodeResp,
  frameInitialToken, identifyFirstToken, parseSpnego, type RespToken, type SpnegoContext,
} from '../../src/security/spnego/index.js';
import { toyContext, type ToyContext, type ToyOptions } from '../helpers/toy-gss.js';

const KRB = MECH_OID.kerberosMs;
const NTLM = MECH_OID.ntlmssp;

function mech(role: 'initiator' | 'acceptor', o: ToyOptions, made: ToyContext[] = [], available = true) {
  return { oid: o.oid, start: () => (available ? (made[made.push(toyContext(role, o)) - 1]) : undefined) };
}

interface Run {
  readonly client: GssStep[];
  readonly server: GssStep[];
  readonly wire: Uint8Array[];
}

/** Drives both sides until one is done/rejected and nothing more is to be sent. */
async function negotiate(ini: GssContext, acc: GssContext): Promise<Run> {
  const run: Run = { client: [], server: [], wire: [] };
  let s = await ini.step(new Uint8Array(0));
  run.client.push(s);
  for (let i = 0; i < 10; i++) {
    if (s.status === 'rejected' || (s.status === 'done' && s.token.length === 0)) return run;
    run.wire.push(s.token);
    const side = i % 2 === 0 ? acc : ini;
    s = await side.step(s.token);
    (i % 2 === 0 ? run.server : run.client).push(s);
    if (s.status === 'done' && i % 2 === 1 && acc.established) return run;
  }
  throw new Error('negotiation did not end');
}

const resp = (t: Uint8Array): RespToken => {
  const p = parseSpnego(t);
  if (p.kind !== 'resp') throw new Error('not a NegTokenResp');
  return p.resp;
};
const tokenOf = (s: GssStep | undefined): Uint8Array => {
  if (!s || s.status === 'rejected') throw new Error(`no token: ${JSON.stringify(s)}`);
  return s.token;
};

describe('SPNEGO negotiation with a toy mechanism', () => {
  it('same first mechanism, NTLM-like three legs, no MIC wanted', async () => {
    const sm: ToyContext[] = [];
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM, expectsMic: false })] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM }, sm)] });
    const run = await negotiate(ini, acc);
    expect(run.server.map((x) => x.status)).toEqual(['continue', 'done']);
    expect(ini.established && acc.established).toBe(true);
    const first = resp(tokenOf(run.server[0]));
    expect(first).toMatchObject({ negState: NEG_STATE.acceptIncomplete, supportedMech: NTLM });
    expect(resp(tokenOf(run.server[1]))).toEqual({ negState: NEG_STATE.acceptCompleted });
    expect(sm[0]!.micsMade).toBe(0);
    expect(sm[0]!.resets).toEqual([true]);
    const done = run.server[1];
    expect(done?.status === 'done' && done.identity?.accountName).toBe('toy');
    expect(acc.negotiatedMech).toBe(NTLM);
    expect(Buffer.from(acc.sessionKey()).toString()).toBe(`key:${NTLM}`);
  });

  it('mechanism expecting MICs (new SPNEGO): both MICs over mechTypes, crypto kept (no full reset)', async () => {
    const sm: ToyContext[] = [];
    const cm: ToyContext[] = [];
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM, expectsMic: true }, cm)] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM, expectsMic: true }, sm)] });
    const run = await negotiate(ini, acc);
    expect(ini.established && acc.established).toBe(true);
    expect(resp(run.wire[2]!).mechListMIC).toHaveLength(16);
    expect(resp(tokenOf(run.server[1])).mechListMIC).toHaveLength(16);
    expect([sm[0]!.micsMade, sm[0]!.micsChecked, cm[0]!.micsMade, cm[0]!.micsChecked]).toEqual([1, 1, 1, 1]);
    expect(sm[0]!.resets).toEqual([false]);
    expect(cm[0]!.resets).toEqual([false]);
  });

  it('Kerberos-like two legs with MICs: AP-REP and the acceptor MIC, then the initiator MIC', async () => {
    const o = { oid: KRB, style: 'two-leg' as const, expectsMic: true };
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', o), mech('initiator', { oid: NTLM })] });
    // Our Kerberos is registered under the RFC OID; the client offers the Microsoft one.
    const acc = createSpnegoAcceptor({ mechanisms: [{ oid: MECH_OID.kerberos, start: () => toyContext('acceptor', o) }, mech('acceptor', { oid: NTLM })] });
    const run = await negotiate(ini, acc);
    expect(ini.established && acc.established).toBe(true);
    const r1 = resp(tokenOf(run.server[0]));
    expect(r1.negState).toBe(NEG_STATE.acceptIncomplete);
    expect(r1.supportedMech).toBe(KRB); // the client's OID for it, echoed
    expect(r1.mechListMIC).toHaveLength(16);
    expect(resp(run.wire[2]!).mechListMIC).toHaveLength(16);
  });

  it('optimistic token for an unavailable first mechanism: request-mic + supportedMech, then the switch, MICs required', async () => {
    const sm: ToyContext[] = [];
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: KRB, style: 'two-leg' }), mech('initiator', { oid: NTLM })] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: KRB }, [], false), mech('acceptor', { oid: NTLM }, sm)] });
    const run = await negotiate(ini, acc);
    const r1 = resp(tokenOf(run.server[0]));
    expect(r1).toEqual({ negState: NEG_STATE.requestMic, supportedMech: NTLM });
    expect(resp(run.wire[2]!).responseToken).toBeDefined();
    expect(ini.established && acc.established).toBe(true);
    expect(ini.negotiatedMech).toBe(NTLM);
    expect([sm[0]!.micsChecked, sm[0]!.micsMade]).toEqual([1, 1]);
  });

  it('mechanism without integrity: no MICs even after a downgrade', async () => {
    const sm: ToyContext[] = [];
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: KRB }), mech('initiator', { oid: NTLM, integrity: false })] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM, integrity: false }, sm)] });
    const run = await negotiate(ini, acc);
    expect(ini.established && acc.established).toBe(true);
    expect(sm[0]!.micsMade + sm[0]!.micsChecked).toBe(0);
    expect(run.wire.every((w, i) => i === 0 || resp(w).mechListMIC === undefined)).toBe(true);
  });

  it('bad initiator MIC: rejected with a reject token', async () => {
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM, expectsMic: true })] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM, expectsMic: true, micKey: 'other' })] });
    const run = await negotiate(ini, acc);
    const last = run.server.at(-1)!;
    expect(last.status).toBe('rejected');
    expect(last.status === 'rejected' && 'token' in last && resp(last.token as Uint8Array).negState).toBe(NEG_STATE.reject);
    expect(acc.established).toBe(false);
    expect(() => acc.sessionKey()).toThrow();
  });

  it('bad acceptor MIC: the initiator refuses', async () => {
    const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: KRB, style: 'two-leg', expectsMic: true, micKey: 'other' })] });
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: KRB, style: 'two-leg', expectsMic: true })] });
    const run = await negotiate(ini, acc);
    expect(run.client.at(-1)!.status).toBe('rejected');
    expect(ini.established).toBe(false);
  });

  it('missing MIC when required (downgrade): acceptor sends its own, then refuses the next leg without one', async () => {
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM })] });
    const init = encodeInit({ mechTypes: [KRB, NTLM], mechToken: new TextEncoder().encode('krb') });
    expect(resp(tokenOf(await acc.step(init))).negState).toBe(NEG_STATE.requestMic);
    const enc = new TextEncoder();
    expect((await acc.step(encodeResp({ responseToken: enc.encode(`TOYI0:${NTLM}`) }))).status).toBe('continue');
    const s3 = await acc.step(encodeResp({ responseToken: enc.encode(`TOYI1:${NTLM}`) }));
    expect(s3.status).toBe('continue');
    expect(resp(tokenOf(s3)).mechListMIC).toHaveLength(16);
    const s4 = await acc.step(encodeResp({}));
    expect(s4).toMatchObject({ status: 'rejected', reason: 'mechListMIC required but missing' });
  });

  it('no common mechanism, inner refusal, initiator reject: rejected steps', async () => {
    const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM })] });
    const s = await acc.step(encodeInit({ mechTypes: ['1.2.3.4'] }));
    expect(s).toMatchObject({ status: 'rejected', token: REJECT_TOKEN });
    const acc2 = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM, rejectLeg: 1 })] });
    const ini2 = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM })] });
    const run = await negotiate(ini2, acc2);
    expect(run.server.at(-1)!.status).toBe('rejected');
    const ini3 = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM })] });
    await ini3.step(new Uint8Array(0));
    expect((await ini3.step(REJECT_TOKEN)).status).toBe('rejected');
    const ini4 = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM })] });
    await ini4.step(new Uint8Array(0));
    expect((await ini4.step(encodeResp({ negState: NEG_STATE.acceptIncomplete, supportedMech: '1.2.3' }))).status).toBe('rejected');
  });

  it('totality: random and mutated tokens give a step, never an exception', async () => {
    const base = [
      encodeInit({ mechTypes: [KRB, NTLM], mechToken: new Uint8Array([1, 2, 3]), negHints: true, hintName: 'not_defined_in_RFC4178@please_ignore' }),
      encodeResp({ negState: 1, supportedMech: NTLM, responseToken: new Uint8Array(8), mechListMIC: new Uint8Array(16) }),
    ];
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.tuple(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat())
        .map(([b, muts, cut]) => {
          const x = Uint8Array.from(b);
          for (const [i, v] of muts) x[i % x.length] = v;
          return cut % 4 === 0 ? x.subarray(0, cut % x.length) : x;
        }),
    );
    await fc.assert(fc.asyncProperty(arb, async (tok) => {
      const acc = createSpnegoAcceptor({ mechanisms: [mech('acceptor', { oid: NTLM })] });
      const s = await acc.step(tok);
      expect(['continue', 'done', 'rejected']).toContain(s.status);
      const ini = createSpnegoInitiator({ mechanisms: [mech('initiator', { oid: NTLM })] });
      await ini.step(new Uint8Array(0));
      const c = await ini.step(tok);
      expect(['continue', 'done', 'rejected']).toContain(c.status);
      expect(['spnego', 'ntlmssp', 'kerberos', 'unknown']).toContain(identifyFirstToken(tok).kind);
    }), { numRuns: 1000 });
  });
});

describe('NegTokenInit2 and first-token classification', () => {
  it('NegTokenInit2 with negHints as Windows/Samba send it (mechListMIC at [4])', () => {
    const t = encodeInit({ mechTypes: [KRB, MECH_OID.kerberos, NTLM], negHints: true, hintName: 'not_defined_in_RFC4178@please_ignore', mechListMIC: new Uint8Array([9]) });
    const p = parseSpnego(t);
    expect(p.kind === 'init' && p.init).toMatchObject({ mechTypes: [KRB, MECH_OID.kerberos, NTLM], hintName: 'not_defined_in_RFC4178@please_ignore', mechListMIC: new Uint8Array([9]) });
    expect(authTypeOfFirstToken(t)).toBe(9);
  });
  it('raw NTLMSSP, raw Kerberos AP-REQ in GSS framing, SPNEGO', () => {
    expect(authTypeOfFirstToken(new Uint8Array([...Buffer.from('NTLMSSP\0'), 1, 0, 0, 0]))).toBe(10);
    const apreq = frameInitialToken(MECH_OID.kerberos, new Uint8Array([0x01, 0x00, 0x6e, 0x00]));
    expect(identifyFirstToken(apreq)).toEqual({ kind: 'kerberos', mechOid: MECH_OID.kerberos, tokId: 0x0100 });
    expect(authTypeOfFirstToken(apreq)).toBe(16);
    expect(authTypeOfFirstToken(new Uint8Array([0x60, 0x00]))).toBeUndefined();
  });
});

export type { SpnegoContext };
