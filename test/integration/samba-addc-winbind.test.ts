/**
 * The winbind NTLM verifier on a real Samba AD DC (issue 8 item 5): our agent's TCP listener on
 * 127.0.0.1 with `auth.ntlm.verifier: "winbind"`, each NTLMv2 response checked by the DC's
 * winbindd through the real `ntlm_auth --helper-protocol=ntlm-server-1 --configfile=<the DC's
 * smb.conf>` (winbindd's socket is the default /run/samba/winbindd, which the harness uses), the
 * token from wbinfo. impacket's RPC_C_AUTHN_WINNT (NTLMSSP) at integrity and privacy runs a full
 * shadow copy cycle on the DC's btrfs share as the domain Administrator (BUILTIN\Administrators
 * from winbind) and as a Backup Operator (BUILTIN\Backup Operators from winbind), over TCP and
 * through the DC's smbd (ncacn_np, NTLM on SMB too), and Samba's rpcclient through smbd with
 * NTLMSSP raw and in SPNEGO; a wrong password is refused and logged; a
 * domain user in neither group authenticates and is denied at authz. `fsrvpd doctor
 * --agent-config` on the DC says kerberos (keytab, clock against the DC's KDC), winbind and
 * SPNEGO will work, and why kerberos will not with a keytab that is not there.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/cli/agent.js';
import { inspectMechanisms } from '../../src/cli/doctor-auth.js';
import { mechanismProbes } from '../../src/cli/doctor-probes.js';
import { execTool } from '../../src/cli/doctor.js';
import { runCmd } from '../../tools/lib/run-cmd.js';
import { AdDc, startAdDc } from '../../tools/lib/samba-addc.js';
import { dcRegistryShares, dcSnapshotSubvolumes, startDcAgent } from '../../tools/lib/samba-addc-agent.js';
import { AgentLog } from '../helpers/agent-log.js';
import { ensureImpacket, IMPACKET_CYCLE_STEPS as CYCLE, impacketDcerpc } from '../helpers/impacket.js';

const log = new AgentLog('fsrvp:winbind,fsrvp:agent,fsrvp:authz');
let dc: AdDc;
let agent: Agent;

beforeAll(async () => {
  await ensureImpacket();
  dc = await startAdDc({ share: {} });
  const keytab = await dc.exportKeytab();
  agent = await startDcAgent(dc, {
    keytab, tcp: true, minLevel: 'integrity',
    patch: (c) => {
      c.auth.ntlm = { verifier: 'winbind', smbConf: dc.conf };
      c.auth.domain = dc.names.domain;
    },
  });
  log.start();
}, 900_000);
afterAll(async () => {
  log.stop();
  await dc?.stop();
});


describe('the agent is configured for winbind', () => {
  it('winbindd answers and the agent runs the winbind verifier', async () => {
    expect((await runCmd('/usr/bin/wbinfo', ['--ping'])).code).toBe(0);
    expect(agent.config.auth.ntlm).toEqual({ verifier: 'winbind', smbConf: dc.conf });
  });
});

describe('impacket RPC_C_AUTHN_WINNT to our agent, checked by winbind: a full FSRVP cycle', () => {
  const cases = [
    { who: 'Administrator', via: 'tcp', level: 'integrity', alias: 'S-1-5-32-544' },
    { who: 'Backup Operator', via: 'tcp', level: 'privacy', alias: 'S-1-5-32-551' },
    { who: 'Administrator', via: 'np', level: 'privacy', alias: 'S-1-5-32-544' },
    { who: 'Backup Operator', via: 'np', level: 'integrity', alias: 'S-1-5-32-551' },
  ] as const;
  for (const c of cases) {
    it(`${c.who} ${c.via === 'tcp' ? 'over ncacn_ip_tcp:127.0.0.1' : 'over ncacn_np through the DC smbd'} at ${c.level}`, async () => {
      const user = c.who === 'Administrator' ? dc.admin : dc.users[0]!;
      log.take();
      const o = await impacketDcerpc({
        user: user.name, password: user.password, domain: dc.names.domain, auth: 'ntlm', level: c.level,
        ...(c.via === 'tcp' ? { port: agent.tcp!.port } : { pipe: true }), cycle: { share: 'fsrvp_share' },
      });
      const { debug, errors, all } = log.take();
      expect(o.ok, `${o.error}\n${o.trace}\n${all}`).toBe(true);
      expect(o.version).toEqual([1, 1, 0]);
      expect(o.cycle?.steps).toEqual(CYCLE);
      expect(errors, all).toEqual([]);
      // winbind said yes, with the user's SID and the BUILTIN alias authz allowed the calls by.
      const accepted = debug.filter((l) => l.toLowerCase().includes(`winbind accepted ${dc.names.domain}\\${user.name}: ${dc.names.domain}\\${user.name},`.toLowerCase()));
      expect(accepted, all).toHaveLength(1);
      expect(accepted[0]!.split(' ')).toContain(c.alias);
      expect(await dcRegistryShares(dc)).toEqual([]);
      expect(await dcSnapshotSubvolumes(dc)).toEqual([]);
    }, 180_000);
  }
});

describe("Samba's rpcclient through the DC's smbd (NTLM on SMB and in the pipe), checked by winbind", () => {
  for (const opt of ['sign,ntlm', 'seal,spnego']) {
    it(`rpcclient ncacn_np:127.0.0.1[${opt}] as the Administrator`, async () => {
      log.take();
      const r = await runCmd('/usr/bin/rpcclient', [
        '-s', dc.clientConf, '--use-kerberos=disabled', '-U', `${dc.names.domain}\\${dc.admin.name}%${dc.admin.password}`,
        '-c', 'fss_get_sup_version;fss_is_path_sup fsrvp_share', `ncacn_np:127.0.0.1[${opt}]`,
      ], { timeoutMs: 120_000 });
      const { debug, errors, all: said } = log.take();
      const all = [r.stdout, r.stderr, said].join('\n');
      expect(r.code, all).toBe(0);
      expect(r.stdout).toContain('supports FSRVP versions from 1 to 1');
      expect(r.stdout).toContain('supports shadow copy requests');
      // rpcclient opens the pipe once per command: every bind was checked by winbind.
      const accepted = debug.filter((l) => /winbind accepted .*Administrator: /i.test(l));
      expect(accepted.length, all).toBeGreaterThanOrEqual(1);
      for (const l of accepted) expect(l.split(' '), all).toContain('S-1-5-32-544');
    }, 120_000);
  }
});

describe('refused and denied', () => {
  it('a wrong password is refused by winbind, logged, and runs no call', async () => {
    log.take();
    for (const level of ['integrity', 'privacy'] as const) {
      const o = await impacketDcerpc({ user: dc.admin.name, password: 'not-the-password-1', domain: dc.names.domain, auth: 'ntlm', level, port: agent.tcp!.port });
      expect(o.ok).toBe(false);
      expect(o.version).toBeUndefined();
    }
    const { errors } = log.take();
    const refused = errors.filter((l) => new RegExp(`authentication \\(auth_type 10\\) refused: NTLMSSP: winbind refused ${dc.names.domain}\\\\Administrator: `).test(l));
    expect(refused, errors.join('\n')).toHaveLength(2);
  }, 120_000);

  it('a domain user in neither group authenticates and is denied at authz (E_ACCESSDENIED)', async () => {
    const user = dc.users[1]!;
    log.take();
    const o = await impacketDcerpc({ user: user.name, password: user.password, domain: dc.names.domain, auth: 'ntlm', level: 'privacy', port: agent.tcp!.port, setContexts: 1 });
    const { debug, errors, all } = log.take();
    expect(o.ok, `${o.error}\n${all}`).toBe(true); // authenticated: the bind went through
    expect(o.version).toEqual([0, 0, 0x80070005]); // GetSupportedVersion: E_ACCESSDENIED, as Samba's
    expect(o.setContext).toEqual([0x80070005]);
    const accepted = debug.filter((l) => new RegExp(`winbind accepted .*${user.name}`, 'i').test(l));
    expect(accepted, all).toHaveLength(1);
    expect(accepted[0]).not.toMatch(/S-1-5-32-54[4]|S-1-5-32-551/);
    expect(errors.some((l) => new RegExp(`denied SetContext for ${user.name}: .*not in BUILTIN`, 'i').test(l)), all).toBe(true);
  }, 120_000);
});

describe('fsrvpd doctor on the AD DC: the mechanisms that will work', () => {
  it('kerberos (keytab and clock against the KDC), ntlmssp through winbind and spnego all work', async () => {
    const f = await inspectMechanisms(agent.config, mechanismProbes(execTool, dc.env()));
    const text = f.map((x) => `${x.status} ${x.check}: ${x.detail}`).join('\n');
    expect(f.map((x) => `${x.status} ${x.check}`), text).toEqual(['ok ntlmssp', 'ok kerberos', 'ok clock skew', 'ok spnego', 'ok listener tcp', 'ok listener samba']);
    expect(f[0]!.detail, text).toMatch(/^will work \(verifier winbind\): winbindd answers through \/usr\/bin\/ntlm_auth \(a probe for a made-up account: /);
    expect(f[1]!.detail, text).toMatch(new RegExp(`host/${dc.fqdn}@${dc.realm} \\(aes256-cts-hmac-sha1-96 kvno \\d+`));
    expect(f[2]!.detail, text).toMatch(new RegExp(`^this host is \\d+\\.\\d s (behind|ahead of) the KDC of ${dc.realm} `));
  }, 120_000);

  it('the CLI: with no keytab it says why kerberos will not work, and exits 1', async () => {
    const file = join(dc.root, 'doctor-agent.json');
    await writeFile(file, JSON.stringify({
      auth: { ntlm: { verifier: 'winbind', smbConf: dc.conf }, kerberos: { keytab: join(dc.root, 'no.keytab') }, domain: dc.names.domain },
      listen: { tcp: { host: '127.0.0.1', port: 0, minLevel: 'privacy' } },
    }));
    const r = await runCmd(process.execPath, ['dist/src/cli/fsrvpd.js', 'doctor', '--agent-config', file, '--auth-only'], { env: dc.env() });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(`ERROR    kerberos: will not work: keytab ${join(dc.root, 'no.keytab')} does not exist`);
    expect(r.stdout).toMatch(/ok {7}ntlmssp: will work \(verifier winbind\)/);
    expect(r.stdout).toMatch(/ok {7}listener tcp: minimum level privacy: clients can bind with spnego, ntlmssp/);
  }, 120_000);
});
