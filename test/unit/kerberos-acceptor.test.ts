/**
 * The Kerberos acceptor with tickets forged by our own encoders (test/helpers/krb5-forge.ts):
 * both handshake styles, the established context against an initiator-side message context,
 * the PAC and replay-cache pieces, and totality (random and mutated tokens never throw). The
 * same paths against impacket-built tickets: test/integration/kerberos-acceptor-interop.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode as asn1Decode, encode as asn1Encode } from '../../src/security/asn1/index.js';
import { KerberosAcceptor, hostPrincipals, kerberosAcceptorFactory } from '../../src/security/kerberos/acceptor.js';
import { getEnctype } from '../../src/security/kerberos/crypto.js';
import { newMessageContext, type KrbMessageContext } from '../../src/security/kerberos/gss-context.js';
import { getMic, verifyMic } from '../../src/security/kerberos/gss-tokens.js';
import type { KeytabEntry } from '../../src/security/kerberos/keytab.js';
import { KEY_USAGE, MSG_TYPE, apRep, encApRepPart } from '../../src/security/kerberos/messages.js';
import { PacError, pacIdentity, parsePac } from '../../src/security/kerberos/pac.js';
import { decodeLogonInfo, encodeLogonInfo } from '../../src/security/kerberos/pac-idl.js';
import { ReplayCache } from '../../src/security/kerberos/replay-cache.js';
import type { GssFlags, GssStep } from '../../src/security/gss.js';
import { buildHostAuth } from '../../src/security/host-auth.js';
import { REALM, SNAME, buildPac, forgeApReq, keyOf, logonInfo } from '../helpers/krb5-forge.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const keys: KeytabEntry[] = [17, 18, 23].map((etype) => ({ principal: { components: SNAME, realm: REALM, nameType: 3 }, timestamp: 0, kvno: 3, etype, key: keyOf(etype, 1) }));
const FLAGS: GssFlags = { integrity: true, confidentiality: true, headerSigning: true, dceStyle: true };
const acceptor = (o: { replay?: ReplayCache; principals?: string[]; now?: number } = {}): KerberosAcceptor =>
  new KerberosAcceptor({ keys, flags: FLAGS, now: () => o.now ?? NOW, replay: o.replay ?? new ReplayCache(), ...(o.principals ? { principals: o.principals } : {}) });
const reason = (s: GssStep): string => (s.status === 'rejected' ? s.reason : `not rejected: ${s.status}`);

/** What the initiator does with our AP-REP: decrypt it (usage 12), take the subkey and sequence number. */
function readApRep(token: Uint8Array, etype: number, sessionKey: Uint8Array) {
  const rep = asn1Decode(apRep, token);
  const plain = getEnctype(etype)!.decrypt(sessionKey, KEY_USAGE.apRepEncPart, rep.encPart.cipher);
  if (!(plain instanceof Uint8Array)) throw plain;
  return asn1Decode(encApRepPart, plain);
}
function thirdLeg(etype: number, sessionKey: Uint8Array, seq: number): Uint8Array {
  const part = asn1Encode(encApRepPart, { ctime: new Date(Math.floor(NOW / 1000) * 1000), cusec: 7, seqNumber: seq });
  return asn1Encode(apRep, { pvno: 5, msgType: MSG_TYPE.apRep, encPart: { etype, cipher: getEnctype(etype)!.encrypt(sessionKey, KEY_USAGE.apRepEncPart, part) } });
}

describe.each([18, 17, 23])('KerberosAcceptor, etype %i', (etype) => {
  it('DCE style: continue with a raw AP-REP echoing ctime/cusec, then done on the initiator\'s AP-REP; MICs both ways', async () => {
    const f = forgeApReq({ etype, now: NOW, seq: 100 });
    const acc = acceptor();
    const s1 = await acc.step(f.token);
    expect(s1.status, reason(s1)).toBe('continue');
    if (s1.status !== 'continue') return;
    const part = readApRep(s1.token, etype, f.sessionKey);
    expect(part.ctime).toEqual(f.ctime);
    expect(part.cusec).toBe(f.cusec);
    expect(part.subkey?.keytype).toBe(etype);
    expect(acc.established).toBe(false);
    expect(() => acc.getMic(new Uint8Array(4))).toThrow();
    const s2 = await acc.step(thirdLeg(etype, f.sessionKey, part.seqNumber!));
    expect(s2.status, reason(s2)).toBe('done');
    if (s2.status !== 'done') return;
    expect(s2.identity?.sids).toEqual(['S-1-5-21-1-2-3-1105', 'S-1-5-21-1-2-3-513', 'S-1-5-21-1-2-3-512', 'S-1-18-1']);
    expect(s2.identity).toMatchObject({ source: 'rpc-auth', accountName: 'alice', domainName: 'EXAMPLE' });
    const ini: KrbMessageContext = newMessageContext({ etype, key: part.subkey!.keyvalue, isAcceptor: false, acceptorSubkey: true, sendSeq: 100, recvSeq: part.seqNumber! });
    const data = Uint8Array.of(1, 2, 3, 4, 5);
    expect(acc.verifyMic(data, getMic(ini, data))).toBe(true);
    expect(verifyMic(ini, data, acc.getMic(data))).toBeUndefined();
    expect(acc.signatureSize()).toBe(etype === 23 ? 45 : 76);
    expect(acc.expectsMechListMic()).toBe(etype !== 23);
    expect(reason(await acc.step(new Uint8Array(0)))).toMatch(/already finished/);
  });

  it('non-DCE style: the framed AP-REP and done in one leg', async () => {
    const f = forgeApReq({ etype, now: NOW, gssFlags: 0x3e });
    const s = await acceptor().step(f.token);
    expect(s.status, reason(s)).toBe('done');
    if (s.status === 'done') expect([...s.token.subarray(0, 1)]).toEqual([0x60]);
  });
});

describe('KerberosAcceptor refusals', () => {
  it('raw AP-REQ without DCE_STYLE, unknown service, not-yet-valid and expired tickets, skew, replay, no PAC, wrong third leg', async () => {
    expect(reason(await acceptor().step(forgeApReq({ etype: 18, now: NOW, framed: false, gssFlags: 0x3e }).token))).toMatch(/raw \(unframed\) AP-REQ/);
    expect(reason(await acceptor({ principals: ['cifs/fs.example.com'] }).step(forgeApReq({ etype: 18, now: NOW }).token))).toMatch(/does not accept/);
    expect((await acceptor({ principals: ['HOST/FS.example.com@example.com'] }).step(forgeApReq({ etype: 18, now: NOW }).token)).status).toBe('continue');
    expect(reason(await acceptor({ now: NOW - 3_600_000 }).step(forgeApReq({ etype: 18, now: NOW, ctimeOffsetSec: -3600 }).token))).toMatch(/not valid before/);
    expect(reason(await acceptor().step(forgeApReq({ etype: 18, now: NOW, endOffsetSec: -301 }).token))).toMatch(/expired/);
    expect((await acceptor().step(forgeApReq({ etype: 18, now: NOW, endOffsetSec: -200 }).token)).status).toBe('continue'); // within the skew
    expect(reason(await acceptor().step(forgeApReq({ etype: 18, now: NOW, ctimeOffsetSec: 301 }).token))).toMatch(/clock skew/);
    const cache = new ReplayCache();
    const f = forgeApReq({ etype: 23, now: NOW });
    expect((await acceptor({ replay: cache }).step(f.token)).status).toBe('continue');
    expect(reason(await acceptor({ replay: cache }).step(f.token))).toMatch(/replayed/);
    expect(reason(await acceptor().step(forgeApReq({ etype: 17, now: NOW, pac: false }).token))).toMatch(/without a PAC/);
    const acc = acceptor();
    const g = forgeApReq({ etype: 17, now: NOW });
    expect((await acc.step(g.token)).status).toBe('continue');
    expect(reason(await acc.step(thirdLeg(17, keyOf(17, 9), 1)))).toMatch(/does not decrypt/);
  });

  it('the factory reads keys once, drops unusable ones and refuses an empty keytab', () => {
    expect(() => kerberosAcceptorFactory({ keytab: [{ ...keys[0]!, etype: 3 }] })).toThrow(/no aes256/);
    const factory = kerberosAcceptorFactory({ keytab: { version: 2, entries: keys }, principals: hostPrincipals('FS.example.com', REALM) });
    expect(factory(FLAGS)?.mechOid).toBe('1.2.840.113554.1.2.2');
    expect(hostPrincipals('fs.example.com')).toEqual(['host/fs.example.com', 'cifs/fs.example.com', 'host/fs', 'cifs/fs']);
  });
});

describe('buildHostAuth with kerberosAcceptorFactory', () => {
  it('registers auth_type 16 and SPNEGO(kerberos); a krb5 bind at privacy runs three legs and seals a PDU', async () => {
    const host = buildHostAuth({ names: { netbiosName: 'FS', netbiosDomain: 'EXAMPLE' }, kerberos: kerberosAcceptorFactory({ keytab: keys, now: () => NOW, replay: new ReplayCache() }) });
    expect(host.offered).toEqual(['spnego(kerberos)', 'kerberos']);
    const krb = host.providers.find((p) => p.authType === 16)!;
    const session = krb.start({ authLevel: 6, authContextId: 1, connectionId: 1, transportCaller: { source: 'anonymous', sids: [] }, headerSigning: true })!;
    const f = forgeApReq({ etype: 18, now: NOW, seq: 5 });
    const s1 = await session.update(f.token);
    expect(s1.status).toBe('continue');
    if (s1.status !== 'continue') return;
    const part = readApRep(s1.token, 18, f.sessionKey);
    const s2 = await session.update(thirdLeg(18, f.sessionKey, part.seqNumber!));
    expect(s2.status).toBe('done');
    expect(session.signatureSize()).toBe(76);
    const pdu = new Uint8Array(24 + 16 + 8 + 76);
    pdu.set([5, 0, 2, 3, 0x10]);
    pdu.fill(0xab, 24, 40);
    const sig = session.wrap({ authLevel: 6, pdu, payloadOffset: 24, payloadLength: 16, signedLength: 48 });
    expect(sig.length).toBe(76);
    expect(pdu.subarray(24, 40).every((b) => b === 0xab)).toBe(false);
    await host.close();
  });
});

describe('PAC', () => {
  it('KERB_VALIDATION_INFO round-trips through the NDR declaration (type serialisation 1)', () => {
    const info = logonInfo({ ResourceGroupDomainSid: 'S-1-5-21-7-8-9', ResourceGroupCount: 1, ResourceGroupIds: [{ RelativeId: 1000, Attributes: 7 }], FullName: 'Ünïcode ✓' });
    const bytes = encodeLogonInfo(info);
    expect([...bytes.subarray(0, 8)]).toEqual([1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc]);
    expect(decodeLogonInfo(bytes)).toEqual(info);
    const bad = encodeLogonInfo({ ...info, GroupCount: 5 });
    expect(() => decodeLogonInfo(bad)).toThrow(/GroupCount 5 but 2 entries/);
  });

  it('identity: user, primary group, groups, extra SIDs, resource groups; the server signature checks the service key', () => {
    const key = keyOf(18, 1);
    const pacBytes = buildPac(18, key, new Date(NOW), 'alice', logonInfo({ ResourceGroupDomainSid: 'S-1-5-21-7-8-9', ResourceGroupCount: 1, ResourceGroupIds: [{ RelativeId: 1000, Attributes: 7 }] }));
    const pac = parsePac(pacBytes);
    expect(pacIdentity(pac).sids).toEqual(['S-1-5-21-1-2-3-1105', 'S-1-5-21-1-2-3-513', 'S-1-5-21-1-2-3-512', 'S-1-18-1', 'S-1-5-21-7-8-9-1000']);
    expect(pac.clientInfo.name).toBe('alice');
  });

  it('parsePac is total: random bytes and mutated PACs give a value or a PacError', () => {
    const good = buildPac(23, keyOf(23, 1), new Date(NOW), 'alice');
    fc.assert(fc.property(fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length)).map(([i, x, cut]) => {
        const b = Uint8Array.from(good);
        b[i]! ^= x;
        return b.subarray(0, Math.max(cut, i + 1));
      }),
    ), (b) => {
      try {
        parsePac(b);
      } catch (e) {
        expect(e).toBeInstanceOf(PacError);
      }
    }), { numRuns: 400 });
  });
});

describe('ReplayCache', () => {
  it('refuses a key until it expires, and stays bounded', () => {
    const c = new ReplayCache(3);
    expect(c.check('a', 1000, 0)).toBe(true);
    expect(c.check('a', 1000, 500)).toBe(false);
    expect(c.check('a', 3000, 1000)).toBe(true); // expired, seen afresh
    for (const k of ['b', 'c', 'd', 'e']) expect(c.check(k, 10_000, 1500)).toBe(true);
    expect(c.size).toBe(3);
  });
});

describe('totality', () => {
  const ok = new Set(['rejected', 'continue', 'done']);
  it('random bytes and mutated valid AP-REQs never throw (first leg)', async () => {
    const valid = forgeApReq({ etype: 18, now: NOW }).token;
    await fc.assert(fc.asyncProperty(fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Uint8Array.of(0x60, b.length & 0x7f, ...b)),
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(valid.length)).map(([i, x, cut]) => {
        const b = Uint8Array.from(valid);
        b[i]! ^= x;
        return b.subarray(0, Math.max(cut, i + 1));
      }),
    ), async (b) => {
      const s = await acceptor().step(b);
      expect(ok.has(s.status)).toBe(true);
    }), { numRuns: 300 });
  });

  it('mutated third legs never throw and never establish', async () => {
    const f = forgeApReq({ etype: 17, now: NOW });
    const probe = acceptor();
    const s1 = await probe.step(f.token);
    if (s1.status !== 'continue') throw new Error(reason(s1));
    const seq = readApRep(s1.token, 17, f.sessionKey).seqNumber!;
    const leg = thirdLeg(17, f.sessionKey, seq);
    await fc.assert(fc.asyncProperty(fc.tuple(fc.nat(leg.length - 1), fc.integer({ min: 1, max: 255 })), async ([i, x]) => {
      const acc = acceptor();
      await acc.step(forgeApReq({ etype: 17, now: NOW, cusec: 1 + ((i * 256 + x) % 999_000) }).token);
      const b = Uint8Array.from(leg);
      b[i]! ^= x;
      const s = await acc.step(b);
      expect(s.status).toBe('rejected');
    }), { numRuns: 60 });
  });
});
