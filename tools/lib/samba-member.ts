/**
 * A real Samba domain member next to the private AD DC of samba-addc.ts (issue 8 item 5): smbd
 * and winbindd of their own on 127.0.0.2 (the DC is on 127.0.0.1), `security = ads`, joined to
 * the DC's domain with `net ads join` as the domain Administrator, the machine password's keys
 * exported into a keytab for our agent (samba-member-conf.ts for the configuration and name
 * service). smbd sends \PIPE\FssagentRpc to `<socketDir>/np/fssagentrpc` (our agent's listener).
 *
 * Lives inside the DC's run: its dir is <DC run dir>/member, it serves the DC's btrfs loop
 * filesystem (AdDcOptions.share) as its own `fsrvp_share`, and its process groups and
 * /run/samba/winbindd (when it made it) are recorded in the harness lock the DC holds
 * (AdDc.adopt), so the DC's stop(), its exit hook and the next run's undo take them down too;
 * stop() is registered with dc.onStop and runs first. The DC must have been started with
 * `privateWinbind` (its winbindd elsewhere: /run/samba/winbindd is the member's) and `share`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPipeLinks, DEFAULT_LIBEXEC, fixPipeLinks, listSambaPipes, OWN_PIPES } from '../../src/transport/npa-links.js';
import { must, runCmd, type RunResult } from './run-cmd.js';
import { DC_ADDRESS, type AdDc } from './samba-addc.js';
import {
  MEMBER_ADDRESS, MEMBER_DIRS, MEMBER_NAME, memberEnv, memberHosts, memberSmbConf, nssWinbindModule,
} from './samba-member-conf.js';
import { processGroupOf, sleep, stopGroup, tcpOpen } from './samba-resources.js';

export { MEMBER_ADDRESS, MEMBER_NAME } from './samba-member-conf.js';
const WINBINDD_DIR = '/run/samba/winbindd';
const SYSTEM_KEYTAB = '/etc/krb5.keytab';

export interface MemberTimings {
  readonly joinMs: number;
  readonly startToReadyMs: number;
  readonly totalMs: number;
}

export class SambaMember {
  readonly root: string;
  readonly conf: string;
  readonly keytab: string;
  readonly socketDir: string;
  /** fsrvpm.fsrvp.test: the name Kerberos clients use (cifs/ and host/ of the machine account). */
  readonly fqdn: string;
  readonly machineAccount = `${MEMBER_NAME}$`;
  /** Environment of the member's daemons and tools (nss_wrapper: hosts, passwd + winbind). */
  env: NodeJS.ProcessEnv = process.env;
  timings!: MemberTimings;
  private dcerpcd: ChildProcess | undefined;
  private winbindd: ChildProcess | undefined;
  private smbd: ChildProcess | undefined;
  private stopped = false;

  private constructor(readonly dc: AdDc) {
    this.root = join(dc.root, 'member');
    this.conf = join(this.root, 'smb.conf');
    this.keytab = join(this.root, 'member.keytab');
    this.socketDir = join(this.root, 'sock');
    this.fqdn = `${MEMBER_NAME.toLowerCase()}.${dc.realm.toLowerCase()}`;
  }

  /** Configures, joins and starts the member of `dc`; on failure stops what it started, then throws. */
  static async start(dc: AdDc): Promise<SambaMember> {
    if (!dc.share) throw new Error('the AD DC was started without a share (option share): the member serves it');
    if ((await runCmd('/usr/bin/wbinfo', ['--ping'])).code === 0) {
      throw new Error(`a winbindd already answers in ${WINBINDD_DIR} (start the DC with privateWinbind)`);
    }
    const m = new SambaMember(dc);
    dc.onStop(() => m.stop());
    try {
      await m.setup();
      return m;
    } catch (e) {
      const logs = (await Promise.all(['samba-dcerpcd', 'winbindd', 'smbd'].map(async (d) => `${d}: ${await m.logTail(`${d}.out`, 1200)}`))).join('\n');
      await m.stop().catch(() => undefined);
      throw new Error(`${(e as Error).message}\n${logs}`);
    }
  }

  private async setup(): Promise<void> {
    const t0 = Date.now();
    for (const d of MEMBER_DIRS) await mkdir(join(this.root, d), { recursive: true });
    await chmod(join(this.root, 'private'), 0o700);
    await mkdir(join(this.socketDir, 'np'), { mode: 0o700 });
    const hosts = join(this.root, 'hosts');
    await writeFile(hosts, memberHosts(this.dc.names, DC_ADDRESS));
    this.env = memberEnv(hosts, await nssWinbindModule(), this.dc.krb5Conf, this.keytab);
    const share = this.dc.share as NonNullable<AdDc['share']>;
    await writeFile(this.conf, memberSmbConf(this, this.dc.names, DC_ADDRESS, share, this.dc.seqTimeout));
    await must('/usr/bin/testparm', ['-s', this.conf]);
    const tj = Date.now();
    await this.join();
    const joinMs = Date.now() - tj;
    if (!existsSync(WINBINDD_DIR)) {
      this.dc.adopt({ created: existsSync('/run/samba') ? [WINBINDD_DIR] : ['/run/samba', WINBINDD_DIR] });
      await mkdir(WINBINDD_DIR, { recursive: true, mode: 0o755 });
      await chmod(WINBINDD_DIR, 0o755);
    }
    const ts = Date.now();
    // samba-dcerpcd first: winbindd asks its samr for the member's own aliases (BUILTIN, the local SAM).
    const helpers = readdirSync(DEFAULT_LIBEXEC).filter((f) => f.startsWith('rpcd_') && f !== 'rpcd_fsrvp').map((f) => join(DEFAULT_LIBEXEC, f));
    this.dcerpcd = this.spawnDaemon(join(DEFAULT_LIBEXEC, 'samba-dcerpcd'), 'samba-dcerpcd.out', helpers, true);
    const np = join(this.root, 'ncalrpc', 'np');
    await this.waitReady('samba-dcerpcd', this.dcerpcd, async () => existsSync(join(np, 'samr')) && existsSync(join(np, 'lsarpc')));
    await this.linkPipes();
    this.winbindd = this.spawnDaemon('/usr/sbin/winbindd', 'winbindd.out');
    // Ready: winbindd answers and its secure channel to the DC (the machine account's trust) works.
    await this.waitReady('winbindd', this.winbindd, async () => (await this.wbinfo(['--ping'])).code === 0 && (await this.wbinfo(['--check-secret'])).code === 0);
    this.smbd = this.spawnDaemon('/usr/sbin/smbd', 'smbd.out');
    await this.waitReady('smbd', this.smbd, () => tcpOpen(MEMBER_ADDRESS, 445));
    for (const c of [this.dcerpcd, this.winbindd, this.smbd] as ChildProcess[]) {
      const pgid = processGroupOf(c.pid as number);
      if (pgid !== c.pid) throw new Error(`${c.spawnfile} (pid ${c.pid}) is in process group ${pgid}, not its own`);
    }
    await this.grantBuiltin('Administrators', 'Domain Admins');
    this.timings = { joinMs, startToReadyMs: Date.now() - ts, totalMs: Date.now() - t0 };
  }

  /**
   * smbd and winbindd open every pipe in `<socketDir>/np` (`external_rpc_pipe:socket_dir`):
   * fssagentrpc is our agent's, every other one a link to samba-dcerpcd's socket.
   */
  private async linkPipes(): Promise<void> {
    const np = join(this.root, 'ncalrpc', 'np');
    const pipes = new Set([...(await listSambaPipes()), ...readdirSync(np)]);
    for (const own of OWN_PIPES) pipes.delete(own);
    await fixPipeLinks(await checkPipeLinks(join(this.socketDir, 'np'), np, [...pipes].sort()));
  }

  /**
   * `net ads join -S <DC name>` as the domain Administrator, no DNS update. Without -S the join
   * looks for the DC through DNS SRV records only (`password server` is not consulted). The join
   * writes the keytab itself (`kerberos method = secrets and keytab`); `net ads keytab create` is
   * the fallback.
   */
  private async join(): Promise<void> {
    const admin = this.dc.admin;
    const systemKeytab = existsSync(SYSTEM_KEYTAB);
    const r = await this.net(['ads', 'join', '-S', this.dc.fqdn, '-U', `${this.dc.names.domain}\\${admin.name}%${admin.password}`, '--no-dns-updates']);
    // Should KRB5_KTNAME ever be ignored, the join writes the host's keytab: undo that, and fail.
    if (!systemKeytab && existsSync(SYSTEM_KEYTAB)) {
      rmSync(SYSTEM_KEYTAB, { force: true });
      throw new Error(`net ads join wrote ${SYSTEM_KEYTAB} (removed again), not ${this.keytab}`);
    }
    if (r.code !== 0) throw new Error(`net ads join failed (${r.code}): ${r.stdout}${r.stderr}`);
    if (!existsSync(this.keytab)) {
      const k = await this.net(['ads', 'keytab', 'create', '-P']);
      if (k.code !== 0 || !existsSync(this.keytab)) throw new Error(`net ads keytab create failed (${k.code}): ${k.stdout}${k.stderr}`);
    }
    await chmod(this.keytab, 0o600);
  }

  /** smbd and winbindd call setsid() themselves; samba-dcerpcd -F does not, so it is `detached`. */
  private spawnDaemon(file: string, logName: string, extra: readonly string[] = [], detached = false): ChildProcess {
    const out = openSync(join(this.root, 'log', logName), 'a');
    const child = spawn(file, ['-F', '-s', this.conf, '--debug-stdout', '-d', '1', ...extra], { stdio: ['ignore', out, out], cwd: this.root, env: this.env, detached });
    closeSync(out);
    if (child.pid === undefined) throw new Error(`could not start ${file}`);
    this.dc.adopt({ pgids: [child.pid] });
    return child;
  }

  private async waitReady(name: string, c: ChildProcess, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${name} exited (${c.exitCode ?? c.signalCode})`);
      if (await ready()) return;
      await sleep(200);
    }
    throw new Error(`the member's ${name} was not ready within ${timeoutMs} ms`);
  }

  /** The last part of a log file of the member (for failure messages). */
  async logTail(name: string, bytes = 4000): Promise<string> {
    try {
      return (await readFile(join(this.root, 'log', name), 'utf8')).slice(-bytes);
    } catch {
      return '(no log)';
    }
  }

  /** `net -s <member smb.conf> …` in the member's environment. */
  net(args: readonly string[]): Promise<RunResult> {
    return runCmd('/usr/bin/net', ['-s', this.conf, ...args], { env: this.env, timeoutMs: 120_000 });
  }

  /** wbinfo against the member's winbindd (the default socket dir, as on any member). */
  wbinfo(args: readonly string[]): Promise<RunResult> {
    return runCmd('/usr/bin/wbinfo', [...args], { env: this.env, timeoutMs: 60_000 });
  }

  /** The SID of `DOMAIN\name` as the member's winbindd resolves it. */
  async sidOf(name: string): Promise<string> {
    const r = await this.wbinfo(['--name-to-sid', `${this.dc.names.domain}\\${name}`]);
    const sid = /^(S-1-5-21-[\d-]+)/.exec(r.stdout)?.[1];
    if (!sid) throw new Error(`the member knows no SID for ${name}: ${r.stdout}${r.stderr}`);
    return sid;
  }

  /**
   * Makes the domain group `group` (created on the DC when missing) a member of the member's own
   * BUILTIN alias `alias` (e.g. 'Backup Operators'), in the member's passdb: `net sam
   * createbuiltingroup` and `net sam addmem`, the member's view that the DC does not share.
   */
  async grantBuiltin(alias: string, group: string): Promise<void> {
    const show = await this.dc.sambaTool(['group', 'show', group]);
    if (show.code !== 0) {
      const add = await this.dc.sambaTool(['group', 'add', group]);
      if (add.code !== 0) throw new Error(`samba-tool group add ${group} failed: ${add.stderr || add.stdout}`);
    }
    const created = await this.net(['sam', 'createbuiltingroup', alias]);
    if (created.code !== 0 && !/exists/i.test(created.stdout + created.stderr)) {
      throw new Error(`net sam createbuiltingroup ${alias} failed (${created.code}): ${created.stdout}${created.stderr}`);
    }
    const r = await this.net(['sam', 'addmem', `BUILTIN\\${alias}`, `${this.dc.names.domain}\\${group}`]);
    if (r.code !== 0 && !/already a member|MEMBER_IN_ALIAS/i.test(r.stdout + r.stderr)) {
      throw new Error(`net sam addmem BUILTIN\\${alias} ${group} failed (${r.code}): ${r.stdout}${r.stderr}`);
    }
  }

  /** Registry shares of the member (exposed shadow copies live there). */
  async registryShares(): Promise<string[]> {
    const r = await this.net(['conf', 'listshares']);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'global');
  }

  /** `klist -k -e` of the member's keytab. */
  keytabEntries(): Promise<RunResult> {
    return runCmd('/usr/bin/klist', ['-k', '-e', this.keytab]);
  }

  /**
   * Stops smbd, winbindd and samba-dcerpcd by process group. The machine account stays in the
   * DC's copy of the domain, and the member's dir goes with the DC's run dir.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const errors: string[] = [];
    for (const c of [this.smbd, this.winbindd, this.dcerpcd]) {
      if (c?.pid === undefined) continue;
      await stopGroup(c.pid).catch((e: Error) => errors.push(e.message));
    }
    rmSync(join(this.root, 'sock'), { recursive: true, force: true });
    if (errors.length > 0) throw new Error(`domain member teardown: ${errors.join('; ')}`);
  }
}

/** Starts a domain member of `dc` (see SambaMember.start). */
export function startMember(dc: AdDc): Promise<SambaMember> {
  return SambaMember.start(dc);
}
