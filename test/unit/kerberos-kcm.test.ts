/**
 * The KCM client's decoders (ccache-kcm.ts) are total: any bytes a daemon sends are a frame, a
 * result, a name, a UUID list, a principal or a credential, or a CcacheError, never another
 * exception; and the errors a user meets without a daemon. The exchange with a real daemon
 * (Heimdal's kcm, MIT kinit) is in test/integration/samba-addc-kcm.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CcacheError, parseCredential, parsePrincipal } from '../../src/security/kerberos/ccache.js';
import { kcmName, kcmResult, kcmUuids, readKcmCcache, takeKcmReply } from '../../src/security/kerberos/ccache-kcm.js';
import { parseKrb5Conf } from '../../src/security/kerberos/krb5-conf.js';

const RUNS = { numRuns: 500 };
const totalOrCcacheError = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof CcacheError;
  }
};
const be32 = (...words: number[]): Uint8Array => {
  const out = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(out.buffer).setInt32(i * 4, w));
  return out;
};

describe('KCM reply decoding', () => {
  it('frames: incomplete is undefined, a whole one splits off, a transport error has no body, a huge length is refused', () => {
    expect(takeKcmReply(be32(8))).toBeUndefined();
    expect(takeKcmReply(Uint8Array.from([...be32(8, 0, 0), 1, 2]))).toBeUndefined();
    const f = takeKcmReply(Uint8Array.from([...be32(8, 0, 0), 0x30, 0, 9, 9, 7]))!;
    expect(Array.from(f.body)).toEqual([0, 0, 0, 0, 0x30, 0, 9, 9]);
    expect(Array.from(f.rest)).toEqual([7]);
    expect(takeKcmReply(be32(0, -1765328243))).toMatchObject({ transport: -1765328243 });
    expect(() => takeKcmReply(be32(64 << 20, 0))).toThrow(CcacheError);
  });

  it('results, names and UUID lists', () => {
    expect(kcmResult(be32(0), 20)).toMatchObject({ status: 0 });
    expect(kcmResult(be32(-1765328243), 8).status).toBe(-1765328243);
    expect(() => kcmResult(new Uint8Array(3), 8)).toThrow(/no status/);
    expect(kcmName(Uint8Array.from([0x30, 0x3a, 0x31, 0]))).toBe('0:1');
    for (const bad of [[], [0], [0x30], [0x30, 0, 0x31, 0]]) expect(() => kcmName(Uint8Array.from(bad))).toThrow(CcacheError);
    expect(kcmUuids(new Uint8Array(32))).toHaveLength(2);
    expect(() => kcmUuids(new Uint8Array(17))).toThrow(/UUID list of 17 bytes/);
    expect(() => kcmUuids(new Uint8Array(16 * 4097))).toThrow(/at most 4096/);
  });

  it('any bytes: each decoder returns or throws CcacheError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) =>
      [() => takeKcmReply(b), () => kcmResult(b, 9), () => kcmName(b), () => kcmUuids(b), () => parsePrincipal(b), () => parseCredential(b)].every(totalOrCcacheError)), RUNS);
  });

  it('principals and credentials must be exactly one (nothing after)', () => {
    const principal = Uint8Array.from([...be32(1, 1, 4), ...Buffer.from('TEST'), ...be32(4), ...Buffer.from('user')]);
    expect(parsePrincipal(principal)).toEqual({ nameType: 1, realm: 'TEST', components: ['user'] });
    expect(() => parsePrincipal(Uint8Array.from([...principal, 0]))).toThrow(/1 bytes after the principal/);
  });
});

describe('KCM: without a daemon', () => {
  it('names the socket and what to do', async () => {
    await expect(readKcmCcache('', '/nonexistent/kcm.sock', 1000)).rejects.toThrow(/no KCM daemon at \/nonexistent\/kcm\.sock \(start kcm or sssd-kcm, or set kcm_socket/);
  });

  it('kcm_socket is read from [libdefaults]', () => {
    expect(parseKrb5Conf('[libdefaults]\n  kcm_socket = /run/kcm.sock\n  default_realm = X\n').kcmSocket).toBe('/run/kcm.sock');
    expect(parseKrb5Conf('[realms]\n  kcm_socket = /no\n').kcmSocket).toBeUndefined();
  });
});
