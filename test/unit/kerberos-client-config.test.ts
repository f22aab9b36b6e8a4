/**
 * The Kerberos client's configuration, by example: a credential cache MIT kinit wrote (against
 * the test AD DC, fixtures/kerberos/), krb5.conf with include, includedir, [realms] and
 * [domain_realm] read through KRB5_CONFIG, and what acquireServiceTicket and the CLI option code
 * (clientSecurity) say when there is no cache, the TGT has expired, no KDC is known or reachable.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthUsageError, clientSecurity } from '../../src/cli/credentials.js';
import { encodeCcache, findTgt, isConfigEntry, parseCcache, type Ccache, type CcacheCredential } from '../../src/security/kerberos/ccache.js';
import { ccacheName, locateCcache } from '../../src/security/kerberos/ccache-name.js';
import { acquireServiceTicket } from '../../src/security/kerberos/client-ticket.js';
import { KerberosClientError } from '../../src/security/kerberos/kdc-transport.js';
import { kdcsForRealm, loadKrb5Conf, realmForHost } from '../../src/security/kerberos/krb5-conf.js';
import { fixturePath } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'fsrvp-krbconf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a credential cache written by MIT kinit', () => {
  it('decodes: version 4, the principal, its TGT, the config entries', () => {
    const data = new Uint8Array(readFileSync(fixturePath('kerberos', 'mit-kinit.ccache')));
    const cc = parseCcache(data);
    expect(cc.version).toBe(4);
    expect(cc.principal).toEqual({ nameType: 1, realm: 'FSRVP.TEST', components: ['fsrvpbackup'] });
    const tgts = cc.credentials.filter((c) => !isConfigEntry(c));
    expect(tgts).toHaveLength(1);
    expect(cc.credentials.filter(isConfigEntry).length).toBeGreaterThanOrEqual(1); // e.g. fast_avail, pa_type
    expect(cc.kdcOffset).toEqual({ seconds: 0, microseconds: 0 });
    const t = tgts[0]!;
    expect(t.server.components).toEqual(['krbtgt', 'FSRVP.TEST']);
    expect(t.key.etype).toBe(18);
    expect(t.key.key).toHaveLength(32);
    expect(t.ticket[0]).toBe(0x61); // [APPLICATION 1] Ticket
    expect(t.endtime).toBeGreaterThan(t.authtime);
    // Valid at its auth time, expired a day after it ends.
    expect(typeof findTgt(cc, 'FSRVP.TEST', t.authtime)).toBe('object');
    expect(findTgt(cc, 'FSRVP.TEST', t.endtime + 86400)).toMatch(/expired at .* \(run kinit again\)/);
    // Our encoder writes the same bytes back.
    expect(Buffer.from(encodeCcache(cc)).equals(Buffer.from(data))).toBe(true);
  });
});

describe('krb5.conf: include, includedir, [realms], [domain_realm]', () => {
  it('merges the files in order, the first value winning', async () => {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'krb5.conf'), [
      'include ' + join(dir, 'site.conf'),
      'includedir ' + join(dir, 'conf.d'),
      '[libdefaults]',
      '  default_realm = EXAMPLE.COM',
      '[realms]',
      '  EXAMPLE.COM = {',
      '    kdc = kdc1.example.com',
      '    admin_server = kdc1.example.com',
      '  }',
      '[domain_realm]',
      '  .example.com = EXAMPLE.COM',
      '  fs.other.org = EXAMPLE.COM',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'site.conf'), '[libdefaults]\n default_realm = SITE.ORG\n[realms]\n SITE.ORG = {\n  kdc = [::1]:750\n }\n');
    writeFileSync(join(dir, 'conf.d', 'b.conf'), '[realms]\n EXAMPLE.COM = {\n  kdc = 10.0.0.2:88\n }\n[domain_realm]\n .other.org = OTHER.ORG\n');
    writeFileSync(join(dir, 'conf.d', 'skip.rpmsave'), '[realms]\n IGNORED = {\n  kdc = x\n }\n');
    const conf = await loadKrb5Conf({ KRB5_CONFIG: `${join(dir, 'missing.conf')}:${join(dir, 'krb5.conf')}` });
    expect(conf.defaultRealm).toBe('EXAMPLE.COM');
    expect(kdcsForRealm(conf, 'EXAMPLE.COM')).toEqual([{ host: 'kdc1.example.com', port: 88 }, { host: '10.0.0.2', port: 88 }]);
    expect(kdcsForRealm(conf, 'site.org')).toEqual([{ host: '::1', port: 750 }]);
    expect(conf.kdcs.has('IGNORED')).toBe(false);
    expect(realmForHost(conf, 'fs1.example.com')).toBe('EXAMPLE.COM');
    expect(realmForHost(conf, 'FS.OTHER.ORG')).toBe('EXAMPLE.COM');
    expect(realmForHost(conf, 'nas.other.org')).toBe('OTHER.ORG');
    expect(realmForHost(conf, 'example.com')).toBeUndefined();
  });

  it('an include cycle ends', async () => {
    writeFileSync(join(dir, 'loop.conf'), `include ${join(dir, 'loop.conf')}\n[libdefaults]\n default_realm = LOOP\n`);
    expect((await loadKrb5Conf({ KRB5_CONFIG: join(dir, 'loop.conf') })).defaultRealm).toBe('LOOP');
  });
});

const NOW = Date.UTC(2026, 11, 7, 10, 0, 0);
const sec = (ms: number): number => Math.floor(ms / 1000);
const tgt = (endtime: number): CcacheCredential => ({
  client: { nameType: 1, realm: 'EXAMPLE.COM', components: ['alice'] }, server: { nameType: 2, realm: 'EXAMPLE.COM', components: ['krbtgt', 'EXAMPLE.COM'] },
  key: { etype: 18, key: new Uint8Array(32).fill(1) }, authtime: sec(NOW) - 60, starttime: 0, endtime, renewTill: 0, isSkey: false, ticketFlags: 0,
  addresses: [], authdata: [], ticket: Uint8Array.of(0x61, 0), secondTicket: new Uint8Array(0),
});
function writeCache(name: string, creds: CcacheCredential[]): string {
  const cc: Ccache = { version: 4, principal: { nameType: 1, realm: 'EXAMPLE.COM', components: ['alice'] }, credentials: creds };
  const p = join(dir, name);
  writeFileSync(p, encodeCcache(cc));
  return p;
}
const failure = async (p: Promise<unknown>): Promise<KerberosClientError> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof KerberosClientError) return e;
    throw e;
  }
  throw new Error('no failure');
};

describe('acquireServiceTicket: what goes wrong, in words', () => {
  const env = { KRB5_CONFIG: join(dir, 'none.conf') };
  it('no cache; a non-file cache type', async () => {
    const e = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', ccache: join(dir, 'nope'), env }));
    expect(e.code).toBe('ccache');
    expect(e.message).toMatch(/no credential cache .*nope \(run kinit first\)/);
    await expect(locateCcache('KEYRING:persistent:0')).rejects.toThrow(/KEYRING: caches cannot be read here; only FILE:, DIR: and KCM: caches can/);
    await expect(locateCcache('MEMORY:x')).rejects.toThrow(/MEMORY: caches cannot be read here/);
    expect(await locateCcache('FILE:/x/y')).toEqual({ kind: 'file', path: '/x/y' });
    expect(await locateCcache('/x/z')).toEqual({ kind: 'file', path: '/x/z' });
    expect(await locateCcache('KCM:')).toEqual({ kind: 'kcm', residual: '' });
    expect(await locateCcache('kcm:0:12')).toEqual({ kind: 'kcm', residual: '0:12' });
    expect(ccacheName(undefined, {}, 1234)).toBe('/tmp/krb5cc_1234');
    expect(ccacheName(undefined, { KRB5CCNAME: 'DIR:/d' })).toBe('DIR:/d');
    expect(ccacheName('FILE:/given', { KRB5CCNAME: 'DIR:/d' })).toBe('FILE:/given');
  });

  it('DIR: collections: the primary cache, "tkt" without a primary file, DIR::path, and bad primary files', async () => {
    const ccacheFile = async (name: string): Promise<string> => {
      const l = await locateCcache(name);
      if (l.kind !== 'file') throw new Error(`${name} is not a file cache`);
      return l.path;
    };
    const coll = join(dir, 'collection');
    mkdirSync(coll);
    expect(await ccacheFile(`DIR:${coll}`)).toBe(join(coll, 'tkt'));
    writeFileSync(join(coll, 'primary'), 'tktAbC123\n');
    expect(await ccacheFile(`DIR:${coll}`)).toBe(join(coll, 'tktAbC123'));
    expect(await ccacheFile(`DIR::${coll}/tktOther`)).toBe(join(coll, 'tktOther'));
    await expect(ccacheFile(`DIR::${coll}/krb5cc`)).rejects.toThrow(/a DIR:: cache is a file whose name begins with "tkt"/);
    await expect(ccacheFile('DIR::tkt')).rejects.toThrow(/in its collection directory/);
    await expect(ccacheFile('DIR:')).rejects.toThrow(/DIR: needs a directory/);
    for (const bad of ['../etc/passwd\n', 'tkt/../x\n', 'tkt', 'krb5cc\n', '']) {
      writeFileSync(join(coll, 'primary'), bad);
      await expect(ccacheFile(`DIR:${coll}`), JSON.stringify(bad)).rejects.toThrow(/does not name a cache file/);
    }
    writeFileSync(join(dir, 'plainfile'), 'x');
    await expect(ccacheFile(`DIR:${join(dir, 'plainfile')}`)).rejects.toThrow(/is not a directory/);
    // acquireServiceTicket reads the primary cache of a collection given as --krb5-ccache.
    writeFileSync(join(coll, 'primary'), 'tktAbC123\n');
    const e = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', ccache: `DIR:${coll}`, env }));
    expect(e.message).toMatch(new RegExp(`no credential cache ${join(coll, 'tktAbC123')} \\(run kinit first\\)`));
  });

  it('an expired TGT; a TGT of another realm', async () => {
    const old = writeCache('old', [tgt(sec(NOW) - 10)]);
    const e = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', ccache: old, env, now: NOW }));
    expect(e.code).toBe('ccache');
    expect(e.message).toMatch(/ticket-granting ticket for EXAMPLE\.COM expired at 2026-12-07T09:59:50\.000Z \(run kinit again\)/);
    const other = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', realm: 'OTHER.ORG', ccache: old, env, now: NOW }));
    expect(other.message).toMatch(/no ticket-granting ticket for OTHER\.ORG .*alice@EXAMPLE\.COM/);
  });

  it('no KDC known for the realm; a KDC that does not answer', async () => {
    const good = writeCache('good', [tgt(sec(NOW) + 3600)]);
    const e = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', ccache: good, env, now: NOW }));
    expect(e.code).toBe('config');
    expect(e.message).toMatch(/no KDC for realm EXAMPLE\.COM: .*--kdc HOST\[:PORT\]/);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const down = await failure(acquireServiceTicket({ spn: 'host/fs.example.com', ccache: good, kdc: `127.0.0.1:${port}`, env, now: NOW, timeoutMs: 2000 }));
    expect(down.code).toBe('network');
    expect(down.message).toMatch(new RegExp(`no KDC answered: KDC 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('a service ticket already in the cache is used without a KDC', async () => {
    const svc: CcacheCredential = { ...tgt(sec(NOW) + 3600), server: { nameType: 2, realm: 'EXAMPLE.COM', components: ['host', 'fs.example.com'] }, ticket: Uint8Array.of(0x61, 1, 0) };
    const p = writeCache('svc', [tgt(sec(NOW) + 3600), svc]);
    const t = await acquireServiceTicket({ spn: 'HOST/FS.example.com', ccache: p, env, now: NOW });
    expect(Array.from(t.ticket)).toEqual([0x61, 1, 0]);
    expect(t.endtime.getTime()).toBe((sec(NOW) + 3600) * 1000);
  });
});

describe('clientSecurity: the option combinations of --auth kerberos and spnego', () => {
  const env = { KRB5_CONFIG: join(dir, 'none.conf'), KRB5CCNAME: join(dir, 'nope'), FSRVP_PASSWORD: 'pw' };
  it('kerberos without a cache fails before connecting, naming the SPN', async () => {
    const e = await failure(clientSecurity({ mechanism: 'kerberos' }, { smbLogon: false, host: 'fs.example.com' }, env));
    expect(e.message).toMatch(/^host\/fs\.example\.com: credential cache: no credential cache/);
  });

  it('spnego without a ticket: NTLM with -U (and a note), else a usage error', async () => {
    const s = await clientSecurity({ mechanism: 'spnego', user: 'DOM\\alice' }, { smbLogon: true, host: 'fs' }, env);
    expect(s.auth).toBeDefined();
    expect(s.smb?.credentials?.user).toBe('alice');
    expect(s.smb?.kerberos).toBeUndefined();
    expect(s.notes.join('\n')).toMatch(/DCE\/RPC: SPNEGO without Kerberos .*NTLM as DOM\\alice/);
    await expect(clientSecurity({ mechanism: 'spnego' }, { smbLogon: false, host: 'fs' }, env)).rejects.toThrow(/neither a Kerberos ticket .* nor -U/);
  });

  it('refuses what does not fit together', async () => {
    const bad = (a: Parameters<typeof clientSecurity>[0], smbLogon = false): Promise<unknown> => clientSecurity(a, { smbLogon, host: 'fs' }, env);
    await expect(bad({ mechanism: 'kerberos', user: 'alice' })).rejects.toThrow(/-U is not used with Kerberos/);
    await expect(bad({ spn: 'host/fs' })).rejects.toThrow(AuthUsageError);
    await expect(bad({ mechanism: 'ntlm', user: 'a', kdc: 'k' })).rejects.toThrow(/go with --auth kerberos\|spnego/);
    await expect(bad({ smbAuth: 'kerberos' })).rejects.toThrow(/--smb-auth goes with --smb/);
    await expect(bad({}, true)).rejects.toThrow(/--smb needs -U .* or a Kerberos logon/);
    await expect(clientSecurity({ mechanism: 'kerberos' }, { smbLogon: false }, env)).rejects.toThrow(/--unix needs --spn/);
  });
});
