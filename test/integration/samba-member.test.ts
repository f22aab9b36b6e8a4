/**
 * Our agent on a Samba *domain member* (issue 8 item 5), the common production setup: the
 * private AD DC of samba-addc.ts on 127.0.0.1 (its winbindd moved to a dir of its own), and a
 * second Samba on 127.0.0.2 (samba-member.ts) joined to it with `net ads join`, whose smbd
 * forwards \PIPE\FssagentRpc to the agent. The agent checks NTLM with the *member's* winbindd
 * (`auth.ntlm.verifier: "winbind"`, ntlm_auth with the member's smb.conf; winbindd asks the DC
 * over NETLOGON) and Kerberos with the keytab `net ads join` wrote for the member's machine
 * account (`auth.kerberos.token: "winbind"`: the member's winbindd adds the member's BUILTIN
 * aliases to the PAC's SIDs).
 *
 * The member's view is the point: a domain group is put into the member's own BUILTIN\Backup
 * Operators (`net sam addmem` on the member), so its user is a Backup Operator there and only
 * there; the template's fsrvpbackup, a Backup Operator *of the DC* (the DC's BUILTIN), is none on
 * the member and is denied. Through the member's smbd (127.0.0.2:445): impacket's
 * RPC_C_AUTHN_WINNT and RPC_C_AUTHN_GSS_NEGOTIATE (Kerberos) at privacy, and our own `fsrvp
 * cycle --smb` with SPNEGO (NTLM) and Kerberos each run a full shadow copy cycle; a wrong
 * password in the bind is refused by winbind, logged, and runs no call. Over the agent's TCP
 * listener on 127.0.0.2 (no smbd token to keep) Kerberos works by the PAC plus winbind's aliases
 * alone; `fsrvpd doctor` says every mechanism will work. The token each caller is authorized by
 * is read from the agent's log, not assumed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/cli/agent.js';
import { inspectMechanisms } from '../../src/cli/doctor-auth.js';
import { mechanismProbes } from '../../src/cli/doctor-probes.js';
import { execTool } from '../../src/cli/doctor.js';
import { runCmd, type RunResult } from '../../tools/lib/run-cmd.js';
import { AdDc, startAdDc, type DcUser } from '../../tools/lib/samba-addc.js';
import { dcSnapshotSubvolumes } from '../../tools/lib/samba-addc-agent.js';
import { NSS_WRAPPER } from '../../tools/lib/samba-addc-share.js';
import { MEMBER_ADDRESS, SambaMember, startMember } from '../../tools/lib/samba-member.js';
import { startMemberAgent } from '../../tools/lib/samba-member-agent.js';
import { AgentLog } from '../helpers/agent-log.js';
import { ensureImpacket, IMPACKET_CYCLE_STEPS as CYCLE, impacketDcerpc } from '../helpers/impacket.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'fsrvp.js');
const BACKUP_OPERATORS = 'S-1-5-32-551';
const ADMINISTRATORS = 'S-1-5-32-544';
const GROUP = 'FSRVP Member Backup';
const log = new AgentLog('fsrvp:winbind,fsrvp:agent,fsrvp:authz,fsrvp:kerberos,fsrvp:auth');
let dc: AdDc;
let member: SambaMember;
let agent: Agent;
/** A domain user in GROUP, which is in the member's BUILTIN\Backup Operators. */
let mbk: DcUser;
let mbkSid: string;
/** mbk's TGT, and rc4 service tickets for the member (impacket sends no mechListMIC: see samba-addc-impacket.test.ts). */
let ccache: string;
let rc4Ccache: string;

beforeAll(async () => {
  await ensureImpacket();
  dc = await startAdDc({ share: {}, privateWinbind: true });
  member = await startMember(dc);
  await member.grantBuiltin('Backup Operators', GROUP);
  mbk = await dc.addUser('fsrvpmbk', 'Pw-member-Backup-1', [GROUP]);
  mbkSid = await member.sidOf(mbk.name);
  agent = await startMemberAgent(member, { minLevel: 'integrity', tcp: true });
  ccache = await dc.kinit(mbk);
  rc4Ccache = await dc.kinit(mbk, 'mbk-rc4');
  const conf = join(member.root, 'krb5-rc4.conf');
  await writeFile(conf, (await readFile(dc.krb5Conf, 'utf8')).replace('[libdefaults]\n', '[libdefaults]\n  default_tgs_enctypes = arcfour-hmac aes256-cts-hmac-sha1-96\n  allow_weak_crypto = true\n'));
  for (const spn of [`cifs/${member.fqdn}`, `host/${member.fqdn}`]) {
    const r = await runCmd('/usr/bin/kvno', [spn], { env: { ...dc.env(rc4Ccache), KRB5_CONFIG: conf } });
    if (r.code !== 0) throw new Error(`kvno ${spn}: ${r.stderr}`);
  }
  log.start();
}, 900_000);
afterAll(async () => {
  log.stop();
  await dc?.stop();
});

/** The agent's log line of the token a connection of `user` was authorized by, split into words. */
const tokens = (debug: readonly string[], user: string): string[][] =>
  debug.filter((l) => new RegExp(`authenticated [^\\\\]*\\\\${user} at level \\d, token`, 'i').test(l)).map((l) => l.split(' '));

async function nothingLeft(): Promise<void> {
  expect(await member.registryShares()).toEqual([]);
  expect(await dcSnapshotSubvolumes(dc)).toEqual([]);
}

describe('the member: joined, its own winbindd and keytab, its own BUILTIN', () => {
  it('the keytab holds host/<member> keys, and the member (not the DC) puts the domain group in BUILTIN\\Backup Operators', async () => {
    const kt = await member.keytabEntries();
    expect(kt.stdout, kt.stderr).toContain(`host/${member.fqdn}@${dc.realm} (aes256-cts-hmac-sha1-96)`);
    expect((await member.wbinfo(['--check-secret'])).code).toBe(0);
    // ntlm_auth and wbinfo without any environment of ours reach the member's winbindd.
    const own = await runCmd('/usr/bin/wbinfo', ['--user-sids', mbkSid]);
    expect(own.stdout.split('\n'), own.stderr).toContain(BACKUP_OPERATORS);
    const dcOp = await runCmd('/usr/bin/wbinfo', ['--user-sids', await member.sidOf(dc.users[0]!.name)]);
    expect(dcOp.code, dcOp.stderr).toBe(0);
    expect(dcOp.stdout.split('\n')).not.toContain(BACKUP_OPERATORS);
    // The DC's own winbindd (its dir) sees fsrvpbackup in the DC's Backup Operators.
    const atDc = await runCmd('/usr/bin/wbinfo', ['--user-sids', await member.sidOf(dc.users[0]!.name)], { env: dc.daemonEnv });
    expect(atDc.stdout.split('\n'), atDc.stderr).toContain(BACKUP_OPERATORS);
  }, 120_000);
});

describe('impacket through the member smbd (127.0.0.2:445): a full FSRVP cycle at privacy', () => {
  it('RPC_C_AUTHN_WINNT (NTLMSSP), checked by the member winbindd: the token has the member BUILTIN alias', async () => {
    log.take();
    const o = await impacketDcerpc({
      user: mbk.name, password: mbk.password, domain: dc.names.domain, auth: 'ntlm', level: 'privacy',
      pipe: true, host: MEMBER_ADDRESS, cycle: { share: 'fsrvp_share' },
    });
    const { debug, errors, all } = log.take();
    expect(o.ok, `${o.error}\n${o.trace}\n${all}`).toBe(true);
    expect(o.version).toEqual([1, 1, 0]);
    expect(o.cycle?.steps).toEqual(CYCLE);
    expect(o.cycle?.shareNameUNC.toLowerCase()).toBe('\\\\fsrvpm\\fsrvp_share');
    expect(errors, all).toEqual([]);
    const accepted = debug.filter((l) => l.toLowerCase().includes(`winbind accepted ${dc.names.domain}\\${mbk.name}: `.toLowerCase()));
    expect(accepted, all).toHaveLength(1);
    expect(accepted[0]!.split(' '), all).toEqual(expect.arrayContaining([mbkSid, BACKUP_OPERATORS]));
    const t = tokens(debug, mbk.name);
    expect(t, all).toHaveLength(1);
    expect(t[0]![t[0]!.indexOf('SIDs:') + 1], all).toBe(mbkSid);
    expect(t[0], all).toContain(BACKUP_OPERATORS);
    await nothingLeft();
  }, 180_000);

  it('RPC_C_AUTHN_GSS_NEGOTIATE (Kerberos): the member keytab accepts the ticket, winbind adds the member alias', async () => {
    log.take();
    const o = await impacketDcerpc({
      user: mbk.name, password: mbk.password, domain: dc.realm, auth: 'spnego', level: 'privacy', pipe: true, host: MEMBER_ADDRESS,
      kerberos: { kdcHost: '127.0.0.1', remoteName: member.fqdn }, cycle: { share: 'fsrvp_share' },
    }, { ...process.env, KRB5CCNAME: rc4Ccache });
    const { debug, errors, all } = log.take();
    expect(o.ok, `${o.error}\n${o.trace}\n${all}`).toBe(true);
    expect(o.cycle?.steps).toEqual(CYCLE);
    expect(errors, all).toEqual([]);
    expect(debug.some((l) => new RegExp(`authenticated ${mbk.name}@FSRVP\\.TEST for host/${member.fqdn}`, 'i').test(l)), all).toBe(true);
    const added = debug.filter((l) => l.includes(`winbind added`) && l.includes(`of ${mbkSid}:`));
    expect(added, all).toHaveLength(1);
    expect(added[0]!.split(' '), all).toContain(BACKUP_OPERATORS);
    const t = tokens(debug, mbk.name);
    expect(t, all).toHaveLength(1);
    expect(t[0], all).toEqual(expect.arrayContaining([mbkSid, BACKUP_OPERATORS]));
    await nothingLeft();
  }, 180_000);

  it('the domain Administrator (Domain Admins in the member BUILTIN\\Administrators), NTLMSSP', async () => {
    log.take();
    const o = await impacketDcerpc({
      user: dc.admin.name, password: dc.admin.password, domain: dc.names.domain, auth: 'ntlm', level: 'privacy',
      pipe: true, host: MEMBER_ADDRESS, cycle: { share: 'fsrvp_share' },
    });
    const { debug, all } = log.take();
    expect(o.ok, `${o.error}\n${all}`).toBe(true);
    expect(o.cycle?.steps).toEqual(CYCLE);
    const t = tokens(debug, dc.admin.name);
    expect(t, all).toHaveLength(1);
    expect(t[0], all).toContain(ADMINISTRATORS);
    await nothingLeft();
  }, 180_000);
});

describe('over TCP to 127.0.0.2 (no smbd token: the one the mechanism and winbind build is all there is)', () => {
  it('Kerberos: the PAC has no BUILTIN alias; token "winbind" adds the member\'s, and the cycle runs without any allow-list', async () => {
    log.take();
    const o = await impacketDcerpc({
      user: mbk.name, password: mbk.password, domain: dc.realm, auth: 'spnego', level: 'privacy', port: agent.tcp!.port, host: MEMBER_ADDRESS,
      kerberos: { kdcHost: '127.0.0.1', remoteName: member.fqdn }, cycle: { share: 'fsrvp_share' },
    }, { ...process.env, KRB5CCNAME: rc4Ccache });
    const { debug, all } = log.take();
    expect(o.ok, `${o.error}\n${o.trace}\n${all}`).toBe(true);
    expect(o.cycle?.steps).toEqual(CYCLE);
    expect(debug.filter((l) => l.includes('winbind added') && l.includes(`of ${mbkSid}:`) && l.split(' ').includes(BACKUP_OPERATORS)), all).toHaveLength(1);
    const t = tokens(debug, mbk.name);
    expect(t, all).toHaveLength(1);
    expect(t[0]!.slice(t[0]!.indexOf('SIDs:') + 1), all).toEqual(expect.arrayContaining([mbkSid, BACKUP_OPERATORS]));
    // Not smbd's token: no unix SIDs (S-1-22-…) in it.
    expect(t[0]!.some((w) => w.startsWith('S-1-22-')), all).toBe(false);
    await nothingLeft();
  }, 180_000);

  it('fsrvpd doctor with the member agent config: ntlmssp through winbind, kerberos with the member keytab, spnego', async () => {
    const f = await inspectMechanisms(agent.config, mechanismProbes(execTool, dc.env()));
    const text = f.map((x) => `${x.status} ${x.check}: ${x.detail}`).join('\n');
    expect(f.map((x) => `${x.status} ${x.check}`), text).toEqual(['ok ntlmssp', 'ok kerberos', 'ok clock skew', 'ok spnego', 'ok listener tcp', 'ok listener samba']);
    expect(f[0]!.detail, text).toMatch(/^will work \(verifier winbind\): winbindd answers through \/usr\/bin\/ntlm_auth/);
    expect(f[1]!.detail, text).toMatch(new RegExp(`host/${member.fqdn}@${dc.realm} \\(aes256-cts-hmac-sha1-96 kvno \\d+`));
  }, 120_000);
});

describe('refused and denied through the member', () => {
  it('a wrong password in the bind (the SMB session right): winbind refuses, the agent logs it, no call runs', async () => {
    log.take();
    const o = await impacketDcerpc({
      user: mbk.name, password: mbk.password, rpcPassword: 'not-the-password-1', domain: dc.names.domain, auth: 'ntlm',
      level: 'privacy', pipe: true, host: MEMBER_ADDRESS, cycle: { share: 'fsrvp_share' },
    });
    const { debug, errors, all } = log.take();
    expect(o.ok, all).toBe(false);
    expect(o.version).toBeUndefined();
    expect(o.cycle).toBeUndefined();
    const refused = errors.filter((l) => new RegExp(`authentication \\(auth_type 10\\) refused: NTLMSSP: winbind refused ${dc.names.domain}\\\\${mbk.name}: `, 'i').test(l));
    expect(refused, all).toHaveLength(1);
    expect(tokens(debug, mbk.name), all).toEqual([]);
    await nothingLeft();
  }, 120_000);

  it("a Backup Operator of the DC's BUILTIN is none on the member: authenticated, then E_ACCESSDENIED", async () => {
    const user = dc.users[0]!;
    log.take();
    const o = await impacketDcerpc({
      user: user.name, password: user.password, domain: dc.names.domain, auth: 'ntlm', level: 'privacy', pipe: true, host: MEMBER_ADDRESS, setContexts: 1,
    });
    const { debug, errors, all } = log.take();
    expect(o.ok, `${o.error}\n${all}`).toBe(true);
    expect(o.setContext).toEqual([0x80070005]);
    const t = tokens(debug, user.name);
    expect(t, all).toHaveLength(1);
    expect(t[0], all).not.toContain(BACKUP_OPERATORS);
    expect(errors.some((l) => new RegExp(`denied SetContext for ${user.name}: .*not in BUILTIN`, 'i').test(l)), all).toBe(true);
  }, 120_000);
});

describe('our fsrvp client through the member smbd', () => {
  const fsrvp = (args: readonly string[], env: NodeJS.ProcessEnv): Promise<RunResult> =>
    runCmd(process.execPath, [CLI, 'cycle', 'fsrvp_share', ...args], { env, timeoutMs: 120_000 });
  const expectCycle = async (args: readonly string[], env: NodeJS.ProcessEnv): Promise<string[]> => {
    log.take();
    const r = await fsrvp(args, env);
    const { debug, all } = log.take();
    const text = `${r.stdout}${r.stderr}\n${all}`;
    expect(r.code, text).toBe(0);
    expect(r.stdout, text).toMatch(/cycle complete in \d+ ms \(set [0-9a-f-]{36}\)/);
    const t = tokens(debug, mbk.name);
    expect(t, text).toHaveLength(1);
    expect(t[0], text).toEqual(expect.arrayContaining([mbkSid, BACKUP_OPERATORS]));
    await nothingLeft();
    return debug;
  };
  const base = (): NodeJS.ProcessEnv => {
    const { KRB5CCNAME: _cc, DEBUG: _d, ...rest } = process.env;
    return rest;
  };

  it('--smb //127.0.0.2 --auth spnego --level privacy (NTLMSSP inside SPNEGO, checked by the member winbindd)', async () => {
    const debug = await expectCycle(['--smb', `//${MEMBER_ADDRESS}`, '-U', `${dc.names.domain}\\${mbk.name}`, '--auth', 'spnego', '--level', 'privacy'],
      { ...base(), FSRVP_PASSWORD: mbk.password });
    expect(debug.some((l) => new RegExp(`winbind accepted ${dc.names.domain}\\\\${mbk.name}: `, 'i').test(l)), debug.join('\n')).toBe(true);
  }, 180_000);

  it('--smb //<member name> --auth kerberos with a kinit ccache (SMB and DCE/RPC Kerberos)', async () => {
    const env = { ...base(), KRB5_CONFIG: dc.krb5Conf, KRB5CCNAME: `FILE:${ccache}`, LD_PRELOAD: NSS_WRAPPER, NSS_WRAPPER_HOSTS: join(member.root, 'hosts') };
    const debug = await expectCycle(['--smb', `//${member.fqdn}`, '--auth', 'kerberos', '--level', 'privacy'], env);
    expect(debug.some((l) => new RegExp(`authenticated ${mbk.name}@FSRVP\\.TEST for host/${member.fqdn}`, 'i').test(l)), debug.join('\n')).toBe(true);
  }, 180_000);
});
