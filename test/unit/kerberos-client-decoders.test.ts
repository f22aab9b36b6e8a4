/**
 * Totality of the Kerberos client's decoders (fast-check): any bytes given to the credential
 * cache decoder are a Ccache or a CcacheError; any text given to the krb5.conf parser is a
 * Krb5Conf (bounded), and any KDC address spec a value or undefined; any bytes a KDC sends back
 * are a KDC-REP or a KerberosClientError (malformed, a KRB-ERROR, or an enc-part that does not
 * decrypt or match), never another exception. Random bytes rarely get past the first check, so
 * valid encodings are mutated (truncated, bytes overwritten, bytes inserted) as well.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode } from '../../src/security/asn1/index.js';
import { CcacheError, encodeCcache, parseCcache, type Ccache, type CcachePrincipal } from '../../src/security/kerberos/ccache.js';
import { getEnctype } from '../../src/security/kerberos/crypto.js';
import { decodeKdcReply, openKdcRep } from '../../src/security/kerberos/kdc-client.js';
import { KDC_KEY_USAGE, encKdcRepPart, flagBits, tgsRep } from '../../src/security/kerberos/kdc-messages.js';
import { KerberosClientError } from '../../src/security/kerberos/kdc-transport.js';
import { parseKdcAddress, parseKrb5Conf, realmForHost } from '../../src/security/kerberos/krb5-conf.js';
import { krbError } from '../../src/security/kerberos/messages.js';

const RUNS = { numRuns: 400 };

/** Replaces, inserts or cuts bytes of `base` (the mutations the properties feed the decoders). */
const mutated = (base: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.tuple(fc.nat({ max: Math.max(0, base.length - 1) }), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom('set', 'insert', 'cut')).map(([at, bytes, how]) => {
    if (how === 'cut') return base.slice(0, at);
    if (how === 'insert') return Uint8Array.from([...base.subarray(0, at), ...bytes, ...base.subarray(at)]);
    const out = Uint8Array.from(base);
    bytes.forEach((b, i) => {
      if (at + i < out.length) out[at + i] = b;
    });
    return out;
  });

const principal: fc.Arbitrary<CcachePrincipal> = fc.record({
  nameType: fc.nat({ max: 10 }),
  realm: fc.string({ maxLength: 12 }),
  components: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
});
const u32 = fc.nat({ max: 0xffffffff });
const bytes = (n: number) => fc.uint8Array({ maxLength: n });
const ccacheArb: fc.Arbitrary<Ccache> = fc.record({
  version: fc.constantFrom(3 as const, 4 as const),
  principal,
  credentials: fc.array(fc.record({
    client: principal, server: principal, key: fc.record({ etype: fc.nat({ max: 0xffff }), key: bytes(32) }),
    authtime: u32, starttime: u32, endtime: u32, renewTill: u32, isSkey: fc.boolean(), ticketFlags: u32,
    addresses: fc.array(fc.record({ type: fc.nat({ max: 0xffff }), data: bytes(8) }), { maxLength: 2 }),
    authdata: fc.array(fc.record({ type: fc.nat({ max: 0xffff }), data: bytes(8) }), { maxLength: 2 }),
    ticket: bytes(40), secondTicket: bytes(4),
  }), { maxLength: 3 }),
});

function ccacheTotal(data: Uint8Array): void {
  try {
    const cc = parseCcache(data);
    expect(cc.credentials.length).toBeLessThanOrEqual(data.length);
  } catch (e) {
    expect(e).toBeInstanceOf(CcacheError);
  }
}

describe('parseCcache is total', () => {
  it('any bytes: a Ccache or a CcacheError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), ccacheTotal), RUNS);
    // With a valid version word in front, so the decoder gets past the header.
    fc.assert(fc.property(fc.constantFrom(0x0503, 0x0504, 0x0501), fc.uint8Array({ maxLength: 600 }), (v, rest) => {
      ccacheTotal(Uint8Array.from([v >> 8, v & 0xff, ...rest]));
    }), RUNS);
  });

  it('encodeCcache then parseCcache gives the cache back; mutations of it stay total', () => {
    fc.assert(fc.property(ccacheArb, (cc) => {
      const data = encodeCcache(cc);
      const back = parseCcache(data);
      expect(back.principal).toEqual(cc.principal);
      expect(back.credentials).toEqual(cc.credentials);
    }), { numRuns: 200 });
    fc.assert(fc.property(ccacheArb.chain((cc) => mutated(encodeCcache(cc))), ccacheTotal), RUNS);
  });

  it('a count larger than the bytes left is refused with its offset, not allocated', () => {
    const base = encodeCcache({ version: 4, principal: { nameType: 1, realm: 'R', components: ['a'] }, credentials: [] });
    const big = Uint8Array.from(base);
    big.set([0xff, 0xff, 0xff, 0xff], 8); // the default principal's component count
    expect(() => parseCcache(big)).toThrow(/component count 4294967295/);
  });
});

const confLine = fc.oneof(
  fc.constantFrom('[libdefaults]', '[realms]', '[domain_realm]', '[capaths]', '}', '{', '', '# c', '; c', ' = ', 'kdc = ', 'include', 'includedir '),
  fc.tuple(fc.constantFrom('default_realm', 'kdc', 'R.COM', '.r.com', 'host.r.com', 'x'), fc.constantFrom(' = ', '=', ' '), fc.string({ maxLength: 12 })).map(([k, s, v]) => `${k}${s}${v}`),
  fc.string({ maxLength: 12 }).map((v) => `  ${v} = {`),
  fc.string({ maxLength: 20 }).map((v) => `include ${v}`),
  fc.string({ maxLength: 30, unit: 'binary' }),
);

describe('parseKrb5Conf, parseKdcAddress and realmForHost are total', () => {
  it('any text: a Krb5Conf, bounded; every KDC entry parses or is skipped', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 400, unit: 'binary' }), fc.array(confLine, { maxLength: 60 }).map((l) => l.join('\n'))), fc.string({ maxLength: 20 }), (text, host) => {
      const c = parseKrb5Conf(text);
      expect(c.kdcs.size).toBeLessThanOrEqual(256);
      expect(c.domainRealm.size).toBeLessThanOrEqual(256);
      expect(c.includes.length).toBeLessThanOrEqual(64);
      for (const list of c.kdcs.values()) {
        expect(list.length).toBeLessThanOrEqual(64);
        for (const k of list) {
          const a = parseKdcAddress(k);
          if (a !== undefined) expect(a.port >= 1 && a.port <= 65535 && a.host !== '').toBe(true);
        }
      }
      const r = realmForHost(c, host);
      expect(r === undefined || typeof r === 'string').toBe(true);
    }), RUNS);
  });

  it('any KDC spec: an address with a port in range, or undefined', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (s) => {
      const a = parseKdcAddress(s);
      if (a !== undefined) expect(Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535 && a.host !== '').toBe(true);
    }), RUNS);
  });
});

const NOW = Date.UTC(2026, 11, 7, 10, 0, 0);
const whole = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
const TGT_KEY = { etype: 18, key: getEnctype(18)!.randomToKey(new Uint8Array(32).fill(7)) };
const NONCE = 123456789;

/** A TGS-REP as a KDC sends it: the enc-part under the TGT session key (usage 8). */
function tgsReply(): Uint8Array {
  const e = getEnctype(18)!;
  const part = encode(encKdcRepPart, {
    type: 'tgs', value: {
      key: { keytype: 18, keyvalue: new Uint8Array(32).fill(9) }, lastReq: [], nonce: NONCE, flags: flagBits(1, 8),
      authtime: whole(NOW), endtime: whole(NOW + 36e5), srealm: 'FSRVP.TEST', sname: { nameType: 2, nameString: ['host', 'dc1.fsrvp.test'] },
    },
  });
  return encode(tgsRep, {
    pvno: 5, msgType: 13, crealm: 'FSRVP.TEST', cname: { nameType: 1, nameString: ['alice'] },
    ticket: Uint8Array.of(0x61, 0x03, 0x02, 0x01, 0x05), encPart: { etype: 18, cipher: e.encrypt(TGT_KEY.key, KDC_KEY_USAGE.tgsRepEncPartSessionKey, part) },
  });
}

function kdcError(code: number): Uint8Array {
  return encode(krbError, {
    pvno: 5, msgType: 30, stime: whole(NOW + 3_600_000), susec: 0, errorCode: code, realm: 'FSRVP.TEST',
    sname: { nameType: 2, nameString: ['host', 'nosuch.fsrvp.test'] }, eText: 'from the KDC',
  });
}

/** Decoding and opening a reply: a value or a KerberosClientError. */
function replyTotal(data: Uint8Array): void {
  try {
    const rep = decodeKdcReply(data, 'tgs', NOW, tgsRep);
    openKdcRep(rep, TGT_KEY, KDC_KEY_USAGE.tgsRepEncPartSessionKey, NONCE);
  } catch (e) {
    expect(e).toBeInstanceOf(KerberosClientError);
  }
}

describe('KDC replies: a KDC-REP or a KerberosClientError', () => {
  it('a genuine TGS-REP opens under the TGT key and names the service', () => {
    const rep = decodeKdcReply(tgsReply(), 'tgs', NOW, tgsRep);
    const part = openKdcRep(rep, TGT_KEY, KDC_KEY_USAGE.tgsRepEncPartSessionKey, NONCE);
    expect(part.sname.nameString).toEqual(['host', 'dc1.fsrvp.test']);
    expect(() => openKdcRep(rep, TGT_KEY, KDC_KEY_USAGE.tgsRepEncPartSessionKey, NONCE + 1)).toThrow(/nonce/);
    expect(() => openKdcRep(rep, { etype: 18, key: new Uint8Array(32) }, KDC_KEY_USAGE.tgsRepEncPartSessionKey, NONCE)).toThrow(/does not decrypt/);
  });

  it('KRB-ERRORs are named: unknown principal, clock skew (with both clocks), expired TGT', () => {
    const err = (code: number): KerberosClientError => {
      try {
        decodeKdcReply(kdcError(code), 'tgs', NOW, tgsRep);
      } catch (e) {
        if (e instanceof KerberosClientError) return e;
        throw e;
      }
      throw new Error('no error');
    };
    expect(err(7)).toMatchObject({ code: 'kdc', krbError: 7 });
    expect(err(7).message).toMatch(/KDC_ERR_S_PRINCIPAL_UNKNOWN.*host\/nosuch\.fsrvp\.test@FSRVP\.TEST \[from the KDC\]/);
    expect(err(37).message).toMatch(/KRB_AP_ERR_SKEW: clock skew too great .*KDC time 2026-12-07T11:00:00\.000Z, ours 2026-12-07T10:00:00\.000Z/);
    expect(err(32).message).toMatch(/KRB_AP_ERR_TKT_EXPIRED.*run kinit again/);
    expect(err(6).message).toMatch(/KDC_ERR_C_PRINCIPAL_UNKNOWN/);
    expect(err(99).message).toMatch(/KRB-ERROR 99/);
  });

  it('any bytes, and mutated TGS-REPs and KRB-ERRORs', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), replyTotal), RUNS);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (rest) => replyTotal(Uint8Array.from([0x6d, ...rest]))), RUNS);
    fc.assert(fc.property(mutated(tgsReply()), replyTotal), { numRuns: 1000 });
    fc.assert(fc.property(fc.nat({ max: 100 }).chain((c) => mutated(kdcError(c))), replyTotal), RUNS);
  });
});
