/**
 * `fsrvpd doctor --agent-config`: the mechanisms report's logic (keytab, clock skew, NTLM
 * verifiers, SPNEGO, listener levels) over given probe results, the AS-REQ probe's codec, the
 * real keytab probe on missing and unreadable files, and the CLI's arguments.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type AgentConfig } from '../../src/cli/config.js';
import { assessKeytab, assessSkew, formatMechanisms, inspectMechanisms, type MechanismProbes } from '../../src/cli/doctor-auth.js';
import { mechanismProbes } from '../../src/cli/doctor-probes.js';
import { runDoctor, type Exec } from '../../src/cli/doctor.js';
import { decode, encode } from '../../src/security/asn1/index.js';
import type { Keytab, KeytabEntry } from '../../src/security/kerberos/keytab.js';
import { asReq, kdcReqBody } from '../../src/security/kerberos/kdc-messages.js';
import { buildProbeAsReq, kdcClockFrom } from '../../src/security/kerberos/kdc-time.js';
import { krbError } from '../../src/security/kerberos/messages.js';

const entry = (components: string[], etype: number, keyLen: number, realm = 'FSRVP.TEST', kvno = 2): KeytabEntry => ({
  principal: { components, realm, nameType: 1 }, timestamp: 0, kvno, etype, key: new Uint8Array(keyLen),
});
const KT: Keytab = {
  version: 2,
  entries: [entry(['host', 'fs.fsrvp.test'], 18, 32), entry(['host', 'fs.fsrvp.test'], 23, 16), entry(['FS$'], 17, 16), entry(['cifs', 'old'], 3, 8)],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doctor-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('assessKeytab', () => {
  it('lists the principals it can serve with their enctypes, and picks the machine account for the clock probe', () => {
    const a = assessKeytab('/k', KT);
    expect(a.ok).toBe(true);
    expect(a.detail).toBe('/k: host/fs.fsrvp.test@FSRVP.TEST (aes256-cts-hmac-sha1-96 kvno 2, rc4-hmac kvno 2); FS$@FSRVP.TEST (aes128-cts-hmac-sha1-96 kvno 2)');
    expect(a.realm).toBe('FSRVP.TEST');
    expect(a.client).toEqual(['FS$']);
  });

  it('says which configured principal has no usable key (a DES-only one counts as none)', () => {
    const a = assessKeytab('/k', KT, ['host/FS.fsrvp.test@fsrvp.test', 'cifs/old', 'cifs/other@FSRVP.TEST']);
    expect(a.ok).toBe(false);
    expect(a.detail).toMatch(/^\/k has no usable key for cifs\/old, cifs\/other@FSRVP\.TEST; keys for host\/FS\.fsrvp\.test@fsrvp\.test \(aes256/);
  });

  it('a keytab with only DES keys, or none, cannot serve anything', () => {
    expect(assessKeytab('/k', { version: 2, entries: [entry(['cifs', 'old'], 3, 8)] })).toEqual({ ok: false, detail: '/k has no aes256, aes128 or rc4-hmac key (only des-cbc-md5)' });
    expect(assessKeytab('/k', { version: 2, entries: [] }).detail).toMatch(/it is empty/);
    // A key of the wrong length for its etype is not usable either.
    expect(assessKeytab('/k', { version: 2, entries: [entry(['x'], 18, 16)] }).ok).toBe(false);
  });
});

describe('assessSkew', () => {
  const clock = (offsetMs: number) => ({ offsetMs, kdcTime: new Date(1_800_000_000_000), errorCode: 25, roundTripMs: 2 });
  it('within the allowed skew is fine, beyond it tickets will be refused', () => {
    expect(assessSkew('R', clock(1500), 300)).toEqual({ ok: true, detail: expect.stringMatching(/^this host is 1\.5 s behind the KDC of R .*allowed 300 s/) });
    const bad = assessSkew('R', clock(-900_000), 300);
    expect(bad.ok).toBe(false);
    expect(bad.detail).toMatch(/900\.0 s ahead of the KDC of R .*out of the clock skew/);
  });
});

describe('the AS-REQ clock probe', () => {
  it('asks for krbtgt/REALM without pre-authentication, and reads the KDC time from its KRB-ERROR', () => {
    const req = decode(asReq, buildProbeAsReq(['FS$'], 'FSRVP.TEST', 7, 1_800_000_000_000));
    expect(req.padata).toBeUndefined();
    const body = decode(kdcReqBody, req.reqBody);
    expect(body.cname?.nameString).toEqual(['FS$']);
    expect(body.sname?.nameString).toEqual(['krbtgt', 'FSRVP.TEST']);
    expect(body.nonce).toBe(7);
    const err = encode(krbError, { pvno: 5, msgType: 30, stime: new Date(1_800_000_100_000), susec: 250_000, errorCode: 25, realm: 'FSRVP.TEST', sname: { nameType: 2, nameString: ['krbtgt', 'FSRVP.TEST'] } });
    const c = kdcClockFrom(err, 1_800_000_000_000, 1_800_000_000_010);
    expect(c).toEqual({ offsetMs: 100_250 - 5, kdcTime: new Date(1_800_000_100_250), errorCode: 25, roundTripMs: 10 });
    expect(() => kdcClockFrom(Uint8Array.from([0x6b, 0]), 0, 0)).toThrow(/not a KRB-ERROR/);
    expect(() => kdcClockFrom(Uint8Array.from([0x7e, 3, 1, 2, 3]), 0, 0)).toThrow(/malformed KRB-ERROR/);
  });
});

const cfg = (json: unknown): AgentConfig => parseConfig(json);
const probes = (o: Partial<MechanismProbes> = {}): MechanismProbes => ({
  passdb: async () => ({ ok: true, detail: 'passdb answers' }),
  winbind: async () => ({ ok: false, detail: 'winbindd is not running (wbinfo --ping: Ping to winbindd failed)' }),
  keytab: async () => KT,
  kdcClock: async () => ({ offsetMs: 200, kdcTime: new Date(0), errorCode: 25, roundTripMs: 1 }),
  ...o,
});
const brief = (fs: { status: string; check: string }[]): string[] => fs.map((f) => `${f.status} ${f.check}`);

describe('inspectMechanisms', () => {
  it('kerberos and passdb work: spnego over both, the listeners can authenticate', async () => {
    const c = cfg({ auth: { ntlm: { verifier: 'passdb' }, kerberos: { keytab: '/k' } }, listen: { tcp: { host: '127.0.0.1', minLevel: 'privacy' }, samba: { socketDir: '/run/x' } } });
    const f = await inspectMechanisms(c, probes());
    expect(brief(f)).toEqual(['ok ntlmssp', 'ok kerberos', 'ok clock skew', 'ok spnego', 'ok listener tcp', 'info listener samba']);
    expect(f.find((x) => x.check === 'spnego')?.detail).toBe('will work, over kerberos, ntlmssp');
    expect(f.find((x) => x.check === 'listener tcp')?.detail).toBe('minimum level privacy: clients can bind with spnego, ntlmssp, kerberos');
  });

  it('winbind not running and no keytab: each says why, and an authenticated listener will refuse every call', async () => {
    const c = cfg({ auth: { ntlm: { verifier: 'winbind' }, kerberos: { keytab: '/etc/none.keytab' } }, listen: { tcp: { host: '127.0.0.1', minLevel: 'integrity' } } });
    const gone = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    const f = await inspectMechanisms(c, probes({ keytab: async () => { throw gone; } }));
    expect(brief(f)).toEqual(['error ntlmssp', 'error kerberos', 'error spnego', 'error listener tcp']);
    expect(f[0]!.detail).toBe('will not work (verifier winbind): winbindd is not running (wbinfo --ping: Ping to winbindd failed)');
    expect(f[1]!.detail).toBe('will not work: keytab /etc/none.keytab does not exist');
    expect(f[3]!.detail).toMatch(/minimum level integrity, but no mechanism works here: every call will be refused/);
    const unreadable = await inspectMechanisms(c, probes({ keytab: async () => { throw Object.assign(new Error('EACCES'), { code: 'EACCES' }); } }));
    expect(unreadable[1]!.detail).toBe('will not work: keytab /etc/none.keytab is not readable by this user');
  });

  it('clock skew beyond the allowed one breaks kerberos; no KDC configured skips the check cleanly', async () => {
    const c = cfg({ auth: { kerberos: { keytab: '/k', clockSkewSec: 60 } }, listen: { samba: { socketDir: '/run/x', minLevel: 'integrity' } } });
    const skewed = await inspectMechanisms(c, probes({ kdcClock: async () => ({ offsetMs: 120_000, kdcTime: new Date(0), errorCode: 25, roundTripMs: 1 }) }));
    expect(brief(skewed)).toEqual(['info ntlmssp', 'error kerberos', 'error clock skew', 'error spnego', 'error listener samba']);
    const noKdc = await inspectMechanisms(c, probes({ kdcClock: async () => undefined }));
    expect(brief(noKdc)).toEqual(['info ntlmssp', 'ok kerberos', 'info clock skew', 'ok spnego', 'ok listener samba']);
    expect(noKdc[2]!.detail).toBe('not checked: no KDC for FSRVP.TEST in krb5.conf');
    const down = await inspectMechanisms(c, probes({ kdcClock: async () => { throw new Error('no KDC answered: ECONNREFUSED'); } }));
    expect(down[2]).toEqual({ status: 'info', check: 'clock skew', detail: 'not checked: no KDC of FSRVP.TEST answered: no KDC answered: ECONNREFUSED' });
  });

  it('nothing configured: informational only; strict mode raises a level of none', async () => {
    const f = await inspectMechanisms(cfg({}), probes());
    expect(brief(f)).toEqual(['info ntlmssp', 'info kerberos', 'info spnego', 'info listener tcp']);
    const strict = await inspectMechanisms(cfg({ mode: 'strict', auth: { ntlm: {} }, listen: { samba: { socketDir: '/run/x' } } }), probes());
    expect(strict.find((x) => x.check === 'listener samba')?.detail).toBe('minimum level integrity (strict mode): clients can bind with spnego, ntlmssp');
    expect(formatMechanisms('a.json', f)).toMatch(/^fsrvpd doctor: authentication mechanisms of a\.json\n {2}info {5}ntlmssp: not configured/);
  });
});

describe('the real probes', () => {
  it('report a missing and an unreadable keytab by their errno', async () => {
    const p = mechanismProbes((async () => ({ code: 1, stdout: '', stderr: '' })) as Exec);
    await expect(p.keytab(join(dir, 'none.keytab'))).rejects.toMatchObject({ code: 'ENOENT' });
    const bad = join(dir, 'bad.keytab');
    await writeFile(bad, Uint8Array.from([5, 9]));
    await expect(p.keytab(bad)).rejects.toThrow(/unknown keytab version/);
  });

  it('winbind: a failed ping says winbindd is not running', async () => {
    const exec: Exec = async (file, args) => ({ code: file.endsWith('wbinfo') && args[0] === '--ping' ? 1 : 0, stdout: 'Ping to winbindd failed\n', stderr: '' });
    expect(await mechanismProbes(exec).winbind(undefined, undefined)).toEqual({ ok: false, detail: 'winbindd is not running (wbinfo --ping: Ping to winbindd failed)' });
  });
});

describe('fsrvpd doctor arguments', () => {
  it('--auth-only needs --agent-config; values are required', async () => {
    const out: string[] = [];
    expect(await runDoctor(['--auth-only'], (s) => out.push(s))).toBe(2);
    expect(out.join('\n')).toMatch(/--auth-only needs --agent-config/);
    expect(await runDoctor(['--agent-config'], (s) => out.push(s))).toBe(2);
    expect(out.join('\n')).toMatch(/--agent-config needs a value/);
  });

  it('--agent-config FILE --auth-only prints the mechanisms of that file', async () => {
    const f = join(dir, 'agent.json');
    await writeFile(f, JSON.stringify({ auth: { kerberos: { keytab: join(dir, 'none.keytab') } }, listen: { tcp: { host: '127.0.0.1', minLevel: 'integrity' } } }));
    const out: string[] = [];
    expect(await runDoctor(['--agent-config', f, '--auth-only'], (s) => out.push(s))).toBe(1);
    expect(out.join('\n')).toContain(`ERROR    kerberos: will not work: keytab ${join(dir, 'none.keytab')} does not exist`);
  });
});
