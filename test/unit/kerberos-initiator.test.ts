/**
 * The Kerberos initiator (src/security/kerberos/initiator.ts) against our acceptor: a service
 * ticket built with our own encoders (as the KDC would issue it), the DCE-style three legs, MICs
 * both ways; then our DCE/RPC client (clientAuth 'kerberos' and 'spnego' preferring Kerberos)
 * binding to our server at integrity and privacy, with calls that run as the ticket's client;
 * refusals (wrong service key, expired ticket, a ticket function that fails) and totality of the
 * second leg on random bytes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode } from '../../src/security/asn1/index.js';
import { RpcAuthError, RpcClient } from '../../src/dcerpc/index.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import { GetSupportedVersion, SetContext } from '../../src/fsrvp/idl.js';
import { clientAuth, type ClientLevel } from '../../src/security/client-auth.js';
import { buildHostAuth } from '../../src/security/host-auth.js';
import type { GssFlags, GssStep } from '../../src/security/gss.js';
import { KerberosAcceptor, kerberosAcceptorFactory } from '../../src/security/kerberos/acceptor.js';
import { getEnctype } from '../../src/security/kerberos/crypto.js';
import { KerberosInitiator } from '../../src/security/kerberos/initiator.js';
import type { ServiceTicket } from '../../src/security/kerberos/kdc-client.js';
import type { KeytabEntry } from '../../src/security/kerberos/keytab.js';
import { krbError } from '../../src/security/kerberos/messages.js';
import { ReplayCache } from '../../src/security/kerberos/replay-cache.js';
import { REALM, SNAME, issue, keyOf } from '../helpers/krb5-forge.js';
import { cleanupRpc, ctx, fsrvpRegistry, startServer } from '../helpers/rpc.js';

afterEach(cleanupRpc);

const whole = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
const keys = (seed = 1): KeytabEntry[] => [17, 18, 23].map((etype) => ({ principal: { components: SNAME, realm: REALM, nameType: 3 }, timestamp: 0, kvno: 3, etype, key: keyOf(etype, seed) }));
const FLAGS: GssFlags = { integrity: true, confidentiality: true, headerSigning: true, dceStyle: true };

const reason = (s: GssStep): string => (s.status === 'rejected' ? s.reason : `not rejected: ${s.status}`);

describe.each([18, 17, 23])('KerberosInitiator against KerberosAcceptor, etype %i', (etype) => {
  it('three DCE-style legs, then MICs and per-message keys agree', async () => {
    const ini = new KerberosInitiator({ ticket: issue(etype), flags: FLAGS });
    const acc = new KerberosAcceptor({ keys: keys(), flags: FLAGS, replay: new ReplayCache() });
    const s1 = await ini.step(new Uint8Array(0));
    expect(s1.status, reason(s1)).toBe('continue');
    expect(s1.status !== 'rejected' && s1.token[0]).toBe(0x60);
    const a1 = await acc.step(s1.status === 'continue' ? s1.token : new Uint8Array(0));
    expect(a1.status, reason(a1)).toBe('continue');
    const s2 = await ini.step(a1.status === 'continue' ? a1.token : new Uint8Array(0));
    expect(s2.status, reason(s2)).toBe('done');
    expect(ini.established).toBe(true);
    const a2 = await acc.step(s2.status === 'done' ? s2.token : new Uint8Array(0));
    expect(a2.status, reason(a2)).toBe('done');
    if (a2.status === 'done') expect(a2.identity).toMatchObject({ accountName: 'alice', domainName: 'EXAMPLE' });
    const data = Uint8Array.of(9, 8, 7);
    expect(acc.verifyMic(data, ini.getMic(data))).toBe(true);
    expect(ini.verifyMic(data, acc.getMic(data))).toBe(true);
    expect(Buffer.from(ini.sessionKey()).equals(Buffer.from(acc.sessionKey()))).toBe(true);
    expect(ini.signatureSize()).toBe(acc.signatureSize());
    expect(ini.expectsMechListMic()).toBe(etype !== 23);
    expect(reason(await ini.step(new Uint8Array(0)))).toMatch(/already finished/);
  });
});

describe('KerberosInitiator refusals', () => {
  it('an AP-REP under another key, an expired ticket, a failing ticket source, a KRB-ERROR', async () => {
    // The acceptor with other service keys refuses; a forged AP-REP from a third party does not decrypt.
    const other = new KerberosAcceptor({ keys: keys(5), flags: FLAGS, replay: new ReplayCache() });
    const ini = new KerberosInitiator({ ticket: issue(18), flags: FLAGS });
    const s1 = await ini.step(new Uint8Array(0));
    expect(reason(await other.step(s1.status === 'continue' ? s1.token : new Uint8Array(0)))).toMatch(/does not decrypt/);
    const ini2 = new KerberosInitiator({ ticket: issue(18), flags: FLAGS });
    const t2 = await ini2.step(new Uint8Array(0));
    const acc = new KerberosAcceptor({ keys: keys(), flags: FLAGS, replay: new ReplayCache() });
    const a1 = await acc.step(t2.status === 'continue' ? t2.token : new Uint8Array(0));
    expect(a1.status).toBe('continue');
    expect(reason(await ini.step(a1.status === 'continue' ? a1.token : new Uint8Array(0)))).toMatch(/does not (decrypt|echo)/);

    expect(reason(await new KerberosInitiator({ ticket: issue(18, { lifeSec: -10 }), flags: FLAGS }).step(new Uint8Array(0)))).toMatch(/expired/);
    expect(reason(await new KerberosInitiator({ ticket: () => Promise.reject(new Error('no credential cache /x (run kinit first)')), flags: FLAGS }).step(new Uint8Array(0))))
      .toMatch(/run kinit first/);
    const krbErr = encode(krbError, {
      pvno: 5, msgType: 30, stime: whole(Date.now()), susec: 0, errorCode: 37, realm: REALM, sname: { nameType: 2, nameString: SNAME },
    });
    const ini3 = new KerberosInitiator({ ticket: issue(18), flags: FLAGS });
    await ini3.step(new Uint8Array(0));
    expect(reason(await ini3.step(krbErr))).toMatch(/refused our ticket: KRB_AP_ERR_SKEW/);
  });

  it('the second leg never throws on arbitrary bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      const ini = new KerberosInitiator({ ticket: issue(17), flags: FLAGS });
      await ini.step(new Uint8Array(0));
      const s = await ini.step(bytes);
      expect(s.status).toBe('rejected');
    }), { numRuns: 200 });
  });
});

describe('our DCE/RPC client with Kerberos against our server', () => {
  async function server() {
    const seen: CallerIdentity[] = [];
    const auth = buildHostAuth({ names: { netbiosName: 'FS', netbiosDomain: 'EXAMPLE' }, kerberos: kerberosAcceptorFactory({ keytab: keys(), replay: new ReplayCache() }) });
    const registry = fsrvpRegistry({
      SetContext: ((_r: unknown, c: { caller: CallerIdentity }) => {
        seen.push(c.caller);
        return { result: 0 };
      }) as never,
    });
    return { l: await startServer({ registry, authProviders: auth.providers, minAuthLevel: 5 }), seen };
  }
  for (const mechanism of ['kerberos', 'spnego'] as const) {
    for (const level of ['integrity', 'privacy'] as ClientLevel[]) {
      for (const etype of [18, 23]) {
        it(`${mechanism} at ${level}, etype ${etype}: bind, calls as alice`, async () => {
          const { l, seen } = await server();
          const c = await RpcClient.connect({ port: l.port });
          try {
            const ack = await c.bind({ contexts: [ctx(0)], auth: clientAuth({ mechanism, level, kerberos: async () => issue(etype) }) });
            expect(ack.kind).toBe('bind_ack');
            expect(await c.callOp(GetSupportedVersion, {})).toMatchObject({ MinVersion: 1, MaxVersion: 1, result: 0 });
            expect(await c.callOp(SetContext, { Context: 0 })).toEqual({ result: 0 });
            expect(await c.callOp(SetContext, { Context: 0 })).toEqual({ result: 0 });
            expect(seen.map((s) => s.accountName)).toEqual(['alice', 'alice']);
          } finally {
            await c.close();
          }
        });
      }
    }
  }

  it('a ticket for other service keys: the bind is refused or no call runs', async () => {
    const { l, seen } = await server();
    const c = await RpcClient.connect({ port: l.port });
    try {
      const auth = clientAuth({ mechanism: 'spnego', level: 'privacy', kerberos: issue(18, { serviceSeed: 9 }) });
      await expect((async () => {
        await c.bind({ contexts: [ctx(0)], auth });
        await c.callOp(SetContext, { Context: 0 });
      })()).rejects.toBeInstanceOf(Error);
      expect(seen).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('a ticket source that fails is an RpcAuthError before anything is sent', async () => {
    const { l } = await server();
    const c = await RpcClient.connect({ port: l.port });
    try {
      await expect(c.bind({ contexts: [ctx(0)], auth: clientAuth({ mechanism: 'kerberos', level: 'privacy', kerberos: () => Promise.reject(new Error('no TGT')) }) }))
        .rejects.toBeInstanceOf(RpcAuthError);
    } finally {
      await c.close();
    }
  });
});
