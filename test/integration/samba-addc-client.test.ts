/**
 * Our own client tool with Kerberos against a real Samba AD DC: `kinit` puts a Backup Operator's
 * TGT into a ccache, then the built CLI (`node dist/src/cli/fsrvp.js cycle …`, a child process;
 * the agent runs in this process) gets its service tickets from the DC's KDC with a TGS-REQ of
 * its own and runs a full shadow copy cycle on the DC's btrfs `fsrvp_share`:
 * - `--auth kerberos` at integrity and privacy over --tcp to the agent's TCP listener (minLevel
 *   integrity), by the DC's name (nss_wrapper hosts file) so that host/<name> is the SPN;
 * - `--smb //dc1.fsrvp.test --auth kerberos`: the SMB session set up with SPNEGO/Kerberos
 *   (cifs/dc1.fsrvp.test; signing required, and once encryption required), then DCE/RPC
 *   Kerberos (host/dc1.fsrvp.test) end to end to the agent behind the DC's smbd;
 * - `--auth spnego` with a ticket and -U: Kerberos is chosen (the agent logs it);
 * - a DIR: collection made by MIT kinit -c DIR: and kswitch: the primary cache, and DIR::<file>;
 * - a KCM: cache kept by a private Heimdal kcm (tools/lib/kcm-daemon.ts), filled by MIT kinit;
 * - a wrong --spn, a missing ccache, a clock an hour off (the ccache's KDC offset) and an
 *   unreachable KDC: exit status 1 and a sentence, nothing connects.
 * Every cycle leaves no registry share and no snapshot.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCmd, type RunResult } from '../../tools/lib/run-cmd.js';
import { AdDc, startAdDc } from '../../tools/lib/samba-addc.js';
import { dcRegistryShares, dcSnapshotSubvolumes, dcUserSid, startDcAgent } from '../../tools/lib/samba-addc-agent.js';
import { hostsEnv } from '../../tools/lib/samba-addc-share.js';
import { startKcm } from '../../tools/lib/kcm-daemon.js';
import { DebugCapture } from '../helpers/debug-capture.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'fsrvp.js');
const FUZZ = join(import.meta.dirname, '..', '..', 'dist', 'tools', 'fuzz.js');
const log = new DebugCapture('fsrvp:kerberos,fsrvp:spnego,fsrvp:authz');
let dc: AdDc;
let port: number;
let ccache: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dc = await startAdDc({ share: {} });
  const keytab = await dc.exportKeytab();
  const user = dc.users[0]!;
  // A PAC carries no BUILTIN SIDs: TCP callers are allowed by the account's SID.
  const sid = await dcUserSid(dc, user.name);
  const agent = await startDcAgent(dc, { keytab, tcp: true, minLevel: 'integrity', patch: (c) => { c.authz.allowSids = [sid]; } });
  port = agent.tcp!.port;
  ccache = await dc.kinit(user);
  env = await hostsEnv(dc.root, [dc.fqdn, dc.names.host], dc.env(ccache));
  delete env.DEBUG;
  log.start();
}, 900_000);
afterAll(async () => {
  log.stop();
  await dc?.stop();
});

const fsrvp = (args: readonly string[], e: NodeJS.ProcessEnv = env): Promise<RunResult> =>
  runCmd(process.execPath, [CLI, ...args], { env: e, timeoutMs: 120_000 });

async function expectCycle(args: readonly string[], e: NodeJS.ProcessEnv = env): Promise<{ r: RunResult; lines: string[] }> {
  log.take();
  const r = await fsrvp(['cycle', 'fsrvp_share', ...args], e);
  const lines = log.take();
  const all = `${r.stdout}${r.stderr}\n${lines.join('\n')}`;
  expect(r.code, all).toBe(0);
  expect(r.stdout, all).toMatch(/cycle complete in \d+ ms \(set [0-9a-f-]{36}\)/);
  for (const op of ['SetContext', 'StartShadowCopySet', 'AddToShadowCopySet', 'CommitShadowCopySet', 'ExposeShadowCopySet', 'DeleteShareMapping']) {
    expect(r.stdout, all).toContain(op);
  }
  // The agent accepted a ticket of the Backup Operator for host/<dc>: our TGS-REQ's ticket.
  expect(lines.some((l) => new RegExp(`authenticated ${dc.users[0]!.name}@FSRVP\\.TEST for host/${dc.fqdn.replace(/\./g, '\\.')}`).test(l)), all).toBe(true);
  expect(await dcRegistryShares(dc)).toEqual([]);
  expect(await dcSnapshotSubvolumes(dc)).toEqual([]);
  return { r, lines };
}

describe('fsrvp --auth kerberos against the AD DC: a full cycle', () => {
  for (const level of ['integrity', 'privacy'] as const) {
    it(`--tcp ${'<dc name>'}:PORT at ${level}`, async () => {
      await expectCycle(['--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--level', level]);
    }, 180_000);
  }

  it('--smb //<dc name>: Kerberos SMB session (signing required), DCE/RPC Kerberos at privacy', async () => {
    const { r } = await expectCycle(['--smb', `//${dc.fqdn}`, '--auth', 'kerberos', '--smb-signing', 'required']);
    expect(r.stderr).toMatch(new RegExp(`SMB 3\\.1\\.1 to ${dc.fqdn.replace(/\./g, '\\.')}, Kerberos logon, signed`));
  }, 180_000);

  it('--smb with encryption required: the Kerberos session key encrypts the session', async () => {
    const { r } = await expectCycle(['--smb', `//${dc.fqdn}`, '--auth', 'kerberos', '--level', 'integrity', '--smb-encrypt', 'required']);
    expect(r.stderr).toMatch(/Kerberos logon, signed \([^)]+\), encrypted \(AES-/);
  }, 180_000);

  it('--auth spnego with a ticket and -U prefers Kerberos', async () => {
    const user = dc.users[0]!;
    const { r, lines } = await expectCycle(['--tcp', `${dc.fqdn}:${port}`, '--auth', 'spnego', '-U', `${dc.names.domain}\\${user.name}`], {
      ...env, FSRVP_PASSWORD: user.password,
    });
    expect(r.stderr).toContain('DCE/RPC: SPNEGO with Kerberos (host/dc1.fsrvp.test@FSRVP.TEST)');
    expect(lines.some((l) => /chose 1\.2\.840\.113554\.1\.2\.2/.test(l)), lines.join('\n')).toBe(true);
  }, 180_000);
});

describe('a DIR: credential cache collection (MIT kinit -c DIR:)', () => {
  it('KRB5CCNAME=DIR:<dir> reads the primary cache kinit made; --krb5-ccache DIR::<file> names one cache', async () => {
    const user = dc.users[0]!;
    const coll = join(dc.root, 'ccache', 'collection');
    // MIT creates the directory and its primary file ("tkt"); a second kinit into a new
    // subsidiary and kswitch make that one the primary.
    const kinit = async (name: string): Promise<void> => {
      const r = await runCmd('/usr/bin/kinit', ['-c', name, `${user.name}@${dc.realm}`], { input: `${user.password}\n`, env: { ...env, KRB5CCNAME: `DIR:${coll}` } });
      expect(r.code, r.stderr).toBe(0);
    };
    await kinit(`DIR:${coll}`);
    expect((await readFile(join(coll, 'primary'), 'utf8')).trim()).toBe('tkt');
    await expectCycle(['--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--level', 'privacy'], { ...env, KRB5CCNAME: `DIR:${coll}` });
    await kinit(`DIR::${join(coll, 'tktSecond')}`);
    const sw = await runCmd('/usr/bin/kswitch', ['-c', `DIR::${join(coll, 'tktSecond')}`], { env: { ...env, KRB5CCNAME: `DIR:${coll}` } });
    expect(sw.code, sw.stderr).toBe(0);
    expect((await readFile(join(coll, 'primary'), 'utf8')).trim()).toBe('tktSecond');
    const version = (e: NodeJS.ProcessEnv, extra: readonly string[] = []): Promise<RunResult> =>
      fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', ...extra], e);
    const first = ['--krb5-ccache', `DIR::${join(coll, 'tkt')}`];
    const r = await version(env, first);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/GetSupportedVersion: ZERO\s+min 1 max 1/);
    // With the first cache gone, DIR: still works (the primary is tktSecond) and DIR::…/tkt not.
    await rm(join(coll, 'tkt'));
    const primary = await version({ ...env, KRB5CCNAME: `DIR:${coll}` });
    expect(primary.code, primary.stdout + primary.stderr).toBe(0);
    const gone = await version(env, first);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no credential cache ${join(coll, 'tkt')} (run kinit first)`);
    const v = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos'], { ...env, KRB5CCNAME: `KEYRING:persistent:0` });
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/KEYRING: caches cannot be read here; only FILE:, DIR: and KCM: caches can/);
  }, 180_000);
});

describe('a KCM: credential cache (Heimdal kcm, MIT kinit)', () => {
  it('KRB5CCNAME=KCM: (the default cache) and --krb5-ccache KCM:<name> run a cycle; a missing cache and daemon say so', async () => {
    const user = dc.users[0]!;
    const kcm = await startKcm(join(dc.root, 'kcm-run'));
    try {
      const conf = join(dc.root, 'krb5-kcm.conf');
      await writeFile(conf, (await readFile(dc.krb5Conf, 'utf8')).replace('[libdefaults]\n', `[libdefaults]\n  kcm_socket = ${kcm.socket}\n`));
      const kenv = { ...env, KRB5_CONFIG: conf, KRB5CCNAME: 'KCM:' };
      const ki = await runCmd('/usr/bin/kinit', [`${user.name}@${dc.realm}`], { input: `${user.password}\n`, env: kenv });
      expect(ki.code, ki.stderr).toBe(0);
      const kl = await runCmd('/usr/bin/klist', [], { env: kenv });
      const name = /^Ticket cache: (KCM:\S+)$/m.exec(kl.stdout)?.[1];
      expect(name, kl.stdout + kl.stderr).toBeDefined();
      await expectCycle(['--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--level', 'privacy'], kenv);
      const named = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--krb5-ccache', name!], { ...kenv, KRB5CCNAME: '/nonexistent' });
      expect(named.code, named.stdout + named.stderr).toBe(0);
      expect(named.stdout).toMatch(/GetSupportedVersion: ZERO\s+min 1 max 1/);
      const missing = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--krb5-ccache', `${name!}:nosuch`], kenv);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(`no credential cache ${name!}:nosuch (run kinit first)`);
      await kcm.stop();
      const gone = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos'], kenv);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain(`no KCM daemon at ${kcm.socket} (start kcm or sssd-kcm, or set kcm_socket`);
    } finally {
      await kcm.stop();
    }
  }, 180_000);
});

describe('the DCE/RPC service principal', () => {
  it('cifs/<dc> and the machine account DC1$ work as well as host/<dc> (our acceptor takes any keytab principal)', async () => {
    for (const spn of [`cifs/${dc.fqdn}`, dc.machineAccount]) {
      log.take();
      const r = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--spn', spn]);
      const lines = log.take();
      expect(r.code, `${spn}: ${r.stdout}${r.stderr}\n${lines.join('\n')}`).toBe(0);
      expect(r.stdout).toMatch(/GetSupportedVersion: ZERO\s+min 1 max 1/);
      expect(lines.some((l) => l.includes(`authenticated ${dc.users[0]!.name}@FSRVP.TEST for ${spn}`)), lines.join('\n')).toBe(true);
    }
  }, 120_000);
});

describe('fsrvp-fuzz live with the same options', () => {
  it('--auth kerberos over --tcp: authenticated cases, the server alive, nothing left', async () => {
    const dir = join(dc.root, 'fuzz');
    const r = await runCmd(process.execPath, [
      FUZZ, 'live', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--level', 'integrity', '--share', 'fsrvp_share',
      '--iterations', '6', '--seed', '7', '--findings', join(dir, 'findings.jsonl'), '--fixtures', dir,
    ], { env, timeoutMs: 300_000 });
    const all = `${r.stdout}${r.stderr}`;
    expect(all).toContain(`fsrvp-fuzz live: tcp:${dc.fqdn}:${port} (kerberos, integrity)`);
    expect(all).toMatch(/6 cases, \d+ calls .*canary alive/);
    expect(await dcRegistryShares(dc)).toEqual([]);
    expect(await dcSnapshotSubvolumes(dc)).toEqual([]);
  }, 400_000);
});

describe('fsrvp --auth kerberos: clear failures, exit status 1', () => {
  it('a --spn the KDC does not know', async () => {
    const r = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--spn', 'host/nosuch.fsrvp.test']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^fsrvp: Kerberos: host\/nosuch\.fsrvp\.test: the KDC refused: KDC_ERR_S_PRINCIPAL_UNKNOWN/);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('no credential cache', async () => {
    const missing = join(dc.root, 'ccache', 'nobody');
    const r = await fsrvp(['version', '--smb', `//${dc.fqdn}`, '--auth', 'kerberos', '--krb5-ccache', missing]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`no credential cache ${missing} (run kinit first)`);
  }, 60_000);

  it('clock skew: a cache whose KDC time offset is an hour off (our authenticator too)', async () => {
    const skewed = join(dc.root, 'ccache', 'skewed');
    const data = await readFile(ccache);
    expect(data.readUInt16BE(0)).toBe(0x0504);
    expect(data.readUInt16BE(4)).toBe(1); // header tag 1: the KDC time offset, s32 seconds + s32 microseconds
    data.writeInt32BE(3600, 8);
    await writeFile(skewed, data);
    const r = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--krb5-ccache', skewed]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^fsrvp: Kerberos: host\/dc1\.fsrvp\.test: the KDC refused: KRB_AP_ERR_SKEW: clock skew too great .*\(KDC time .*, ours .*\)/);
  }, 60_000);

  it('an unreachable KDC', async () => {
    // A ticket not in the cache yet (a fresh cache without service tickets would do as well).
    const r = await fsrvp(['version', '--tcp', `${dc.fqdn}:${port}`, '--auth', 'kerberos', '--spn', `HTTP/${dc.fqdn}`, '--kdc', '127.0.0.1:1']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/no KDC answered: KDC 127\.0\.0\.1:1: .*ECONNREFUSED/);
  }, 60_000);
});
