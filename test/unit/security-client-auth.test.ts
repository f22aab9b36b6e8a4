/**
 * Our DCE/RPC client authenticating to our server runtime over TCP: NTLMSSP (auth_type 10) and
 * SPNEGO over NTLMSSP (9), at integrity and privacy (connect refused, as Samba does); fragmented requests and responses
 * stay protected; a wrong password and a tampered response are refused; the server's minimum level
 * faults an unauthenticated call and keeps the connection.
 */
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH_LEVEL, FAULT } from '../../src/dcerpc/constants.js';
import { RpcAuthError, RpcClient } from '../../src/dcerpc/index.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import type { SecurityEvent } from '../../src/dcerpc/auth.js';
import { GetSupportedVersion, SetContext } from '../../src/fsrvp/idl.js';
import { buildHostAuth } from '../../src/security/host-auth.js';
import { clientAuth, parseUserName, type ClientLevel, type ClientMechanism } from '../../src/security/client-auth.js';
import { ntHashOf, ntHashVerifier } from '../../src/security/ntlmssp/index.js';
import { cleanupRpc, ctx, fsrvpRegistry, startServer } from '../helpers/rpc.js';

afterEach(cleanupRpc);

const ALICE: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1001', 'S-1-5-32-551'], accountName: 'alice', domainName: 'HOST' };
const verifier = ntHashVerifier(async (user) => (user.toLowerCase() === 'alice' ? { ntHash: ntHashOf('Secret-1'), identity: ALICE } : undefined));

async function server(extra: { minAuthLevel?: number; events?: SecurityEvent[] } = {}) {
  const seen: CallerIdentity[] = [];
  const auth = buildHostAuth({ names: { netbiosName: 'AGENT', netbiosDomain: 'HOST' }, ntlm: { verifier: 'custom', check: verifier } });
  const registry = fsrvpRegistry({
    SetContext: ((_r: unknown, c: { caller: CallerIdentity }) => {
      const { clientAddress: _address, ...who } = c.caller;
      seen.push(who);
      return { result: 0 };
    }) as never,
  });
  const l = await startServer({
    registry, authProviders: auth.providers,
    ...(extra.minAuthLevel !== undefined ? { minAuthLevel: extra.minAuthLevel } : {}),
    ...(extra.events !== undefined ? { onSecurityEvent: (e: SecurityEvent) => extra.events?.push(e) } : {}),
  });
  return { l, seen };
}

const clients: RpcClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
async function connect(port: number): Promise<RpcClient> {
  const c = await RpcClient.connect({ port });
  clients.push(c);
  return c;
}
const auth = (mechanism: ClientMechanism, level: ClientLevel, password = 'Secret-1') =>
  clientAuth({ mechanism, level, credentials: { user: 'alice', domain: 'HOST', password } });

describe('client authentication against our server', () => {
  for (const mechanism of ['ntlm', 'spnego'] as const) {
    it(`${mechanism} at connect: refused per call (access_denied) as Samba 4.17 refuses it by default`, async () => {
      const { l, seen } = await server();
      const c = await connect(l.port);
      expect((await c.bind({ contexts: [ctx(0)], auth: auth(mechanism, 'connect') })).kind).toBe('bind_ack');
      expect((await c.call(0, SetContext.opnum, new Uint8Array(4))).fault?.status).toBe(FAULT.access_denied);
      expect(seen).toEqual([]);
    });
    for (const level of ['integrity', 'privacy'] as const) {
      it(`${mechanism} at ${level}: bind, calls, identity`, async () => {
        const { l, seen } = await server();
        const c = await connect(l.port);
        const ack = await c.bind({ contexts: [ctx(0)], auth: auth(mechanism, level) });
        expect(ack.kind).toBe('bind_ack');
        const v = await c.callOp(GetSupportedVersion, {});
        expect(v).toMatchObject({ MinVersion: 1, MaxVersion: 1, result: 0 });
        expect(await c.callOp(SetContext, { Context: 0 })).toEqual({ result: 0 });
        expect(await c.callOp(SetContext, { Context: 0 })).toEqual({ result: 0 });
        expect(seen).toEqual([ALICE, ALICE]);
      });
    }
  }

  it('privacy: the stub travels sealed, requests split into small fragments stay verifiable', async () => {
    const { l, seen } = await server();
    const c = await connect(l.port);
    await c.bind({ contexts: [ctx(0)], auth: auth('spnego', 'privacy') });
    const stub = new Uint8Array(4); // SetContext { Context: 0 }
    const pdus = c.buildRequest(0, SetContext.opnum, stub, { callId: 90, fragmentSize: 64 });
    for (const p of pdus) c.sendRaw(p);
    const r = await c.readResponse(90);
    expect(r.fault).toBeUndefined();
    expect(Array.from(r.stub ?? [])).toEqual([0, 0, 0, 0]);
    expect(seen).toEqual([ALICE]);
    // A larger request split into several 64-byte fragments (each with pad, trailer and signature).
    const big = new Uint8Array(300);
    const frags = c.buildRequest(0, SetContext.opnum, big, { callId: 91, fragmentSize: 80 });
    expect(frags.length).toBeGreaterThan(5);
    for (const f of frags) expect(f.length).toBeLessThanOrEqual(80);
    for (const p of frags) c.sendRaw(p);
    expect((await c.readResponse(91)).fault).toBeUndefined();
  });

  it('a wrong password: the server refuses, no call runs, the log says why', async () => {
    const events: SecurityEvent[] = [];
    const { l, seen } = await server({ events });
    const ntlm = await connect(l.port);
    // Raw NTLMSSP: the AUTHENTICATE travels in auth3 (no answer); the first call is refused.
    await ntlm.bind({ contexts: [ctx(0)], auth: auth('ntlm', 'integrity', 'wrong') });
    await expect(ntlm.callOp(SetContext, { Context: 0 })).rejects.toThrow();
    const sp = await connect(l.port);
    // SPNEGO: the AUTHENTICATE travels in alter_context, whose refusal the client sees at once.
    await expect(sp.bind({ contexts: [ctx(0)], auth: auth('spnego', 'privacy', 'wrong') })).rejects.toBeInstanceOf(RpcAuthError);
    expect(seen).toEqual([]);
    expect(events.filter((e) => e.kind === 'rejected').map((e) => (e as { reason: string }).reason)).toEqual([
      expect.stringContaining('wrong password'), expect.stringContaining('wrong password'),
    ]);
  });

  it('a response tampered on the way (a proxy flips one stub bit) is refused by the client', async () => {
    const { l } = await server();
    let tamper = false;
    const proxy = createServer((down) => {
      const up = netConnect({ host: '127.0.0.1', port: l.port });
      down.on('data', (d) => up.write(d));
      up.on('data', (d: Buffer) => {
        if (tamper && d.length > 24) {
          d[24] = (d[24] as number) ^ 0x01;
          tamper = false;
        }
        down.write(d);
      });
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const c = await connect((proxy.address() as AddressInfo).port);
    try {
      await c.bind({ contexts: [ctx(0)], auth: auth('spnego', 'integrity') });
      expect(await c.callOp(GetSupportedVersion, {})).toMatchObject({ result: 0 });
      tamper = true;
      await expect(c.callOp(GetSupportedVersion, {})).rejects.toThrow(RpcAuthError);
    } finally {
      await c.close();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('minAuthLevel: an unauthenticated call is faulted access_denied and the connection stays', async () => {
    const events: SecurityEvent[] = [];
    const { l, seen } = await server({ minAuthLevel: AUTH_LEVEL.integrity, events });
    const c = await connect(l.port);
    await c.bind({ contexts: [ctx(0)] });
    const r = await c.call(0, SetContext.opnum, new Uint8Array(4));
    expect(r.fault?.status).toBe(FAULT.access_denied);
    expect(c.isClosed).toBe(false);
    expect(events.some((e) => e.kind === 'refused')).toBe(true);
    const c2 = await connect(l.port);
    await c2.bind({ contexts: [ctx(0)], auth: auth('ntlm', 'connect') });
    expect((await c2.call(0, SetContext.opnum, new Uint8Array(4))).fault?.status).toBe(FAULT.access_denied);
    const c3 = await connect(l.port);
    await c3.bind({ contexts: [ctx(0)], auth: auth('spnego', 'integrity') });
    expect(await c3.callOp(SetContext, { Context: 0 })).toEqual({ result: 0 });
    expect(seen).toEqual([ALICE]);
  });
});

describe('parseUserName', () => {
  it('reads DOMAIN\\user, DOMAIN/user, user@realm and a bare name', () => {
    expect(parseUserName('HOST\\alice')).toEqual({ domain: 'HOST', user: 'alice' });
    expect(parseUserName('HOST/alice')).toEqual({ domain: 'HOST', user: 'alice' });
    expect(parseUserName('alice@FSRVP.TEST')).toEqual({ domain: 'FSRVP.TEST', user: 'alice' });
    expect(parseUserName('alice', 'WG')).toEqual({ domain: 'WG', user: 'alice' });
  });
});
