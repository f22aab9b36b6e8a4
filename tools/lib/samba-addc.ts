/**
 * A private, real Samba AD DC for the Kerberos integration tests (issue 8): `samba` (KDC, LDAP,
 * the DC's DCE/RPC server, winbindd and smbd) and samba-dcerpcd, on 127.0.0.1 only, every
 * directory under one temp dir, the domain copied from a cached provisioned template
 * (samba-addc-template.ts). Never a mock KDC.
 *
 * As in samba-harness.ts, smbd sends every named pipe to `<socketDir>/np/<name>`
 * (`external_rpc_pipe:socket_dir`): fssagentrpc is for our agent's listener, every other pipe a
 * symlink to the socket Samba's own servers (samba's rpc task, samba-dcerpcd) made in
 * `<ncalrpc dir>/np`.
 *
 * It takes the port-445 lock of samba-resources.ts (one Samba of any kind at a time) and records
 * what it starts and makes there, so stop(), an exit hook or the next run's undoSync undo it:
 * the process groups (samba's; samba-dcerpcd's; smbd's and winbindd's, which lead sessions of
 * their own), the run dir, the template build dir while provisioning, and winbindd's socket dir
 * /run/samba/winbindd when it made it (libwbclient only looks there; Samba's test-only override
 * needs nss_wrapper).
 *
 * Kerberos clients get env(ccache): KRB5_CONFIG (krb5.conf of the run: KDC 127.0.0.1, no DNS)
 * and KRB5CCNAME (a file in the run dir). See samba-addc-conf.ts for name resolution.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPipeLinks, DEFAULT_LIBEXEC, fixPipeLinks, listSambaPipes, OWN_PIPES } from '../../src/transport/npa-links.js';
import { must, runCmd, type RunResult } from './run-cmd.js';
import { ensureAdDcTools } from './samba-addc-tools.js';
import { clientSmbConf, dcSmbConf, DC_TCP_PORTS, DEFAULT_NAMES, fqdnOf, krb5Conf, RUN_DIRS, type DcNames } from './samba-addc-conf.js';
import { makeShareFs, privateWinbindEnv, removeShareFs, type DcShareOptions, type DcSharePaths } from './samba-addc-share.js';
import { copyTemplate, dcTemplate, SAMBA_TOOL, type DcTemplate, type DcUser } from './samba-addc-template.js';
import {
  abandonStart, acquireLock, groupsUsing, LOCK, listeningOn, processGroupOf, saveLock, sleep, stopGroup, tcpOpen, undoSync, type Resources,
} from './samba-resources.js';

export { fqdnOf, type DcNames } from './samba-addc-conf.js';
export type { DcUser } from './samba-addc-template.js';
export const DC_ADDRESS = '127.0.0.1';
const WINBINDD_DIR = '/run/samba/winbindd';

export interface AdDcOptions {
  /** Domain names (default FSRVP.TEST / FSRVPTEST / dc1); part of the template cache key. */
  readonly names?: Partial<DcNames>;
  /** Extra [global] lines of the DC's smb.conf (e.g. a log level). */
  readonly global?: Readonly<Record<string, string>>;
  /** Serve `fsrvp_share` from a btrfs loop filesystem, with registry shares (samba-addc-share.ts). */
  readonly share?: DcShareOptions;
  /** How long to wait for the DC to answer (default 120 s). */
  readonly readyTimeoutMs?: number;
  /** winbindd in <run>/winbindd (privateWinbindEnv), /run/samba/winbindd left to a member (samba-member.ts). */
  readonly privateWinbind?: boolean;
}

export interface AdDcTimings {
  /** Provisioning time of the template (when it was built, now or for the cache). */
  readonly provisionMs: number;
  readonly fromCache: boolean;
  /** Getting the template: provisioning when not cached, else validating the cache. */
  readonly templateMs: number;
  readonly copyMs: number;
  /** From spawning samba to every service answering. */
  readonly startToReadyMs: number;
  readonly totalMs: number;
}

export class AdDc {
  readonly names: DcNames;
  readonly realm: string;
  /** dc1.fsrvp.test: the name clients use (with -I 127.0.0.1) and the host part of its SPNs. */
  readonly fqdn: string;
  /** The DC's sAMAccountName (DC1$): its machine password's keys are those of host/ and cifs/. */
  readonly machineAccount: string;
  readonly conf: string;
  readonly clientConf: string;
  readonly krb5Conf: string;
  /** `external_rpc_pipe:socket_dir`: our listener goes to `<socketDir>/np/fssagentrpc`. */
  readonly socketDir: string;
  readonly ncalrpcDir: string;
  readonly admin: DcUser;
  /** The template's users: [0] is in Backup Operators, [1] is not. */
  readonly users: readonly DcUser[];
  timings!: AdDcTimings;
  /** Environment of the DC's daemons and of wbinfo against the DC's winbindd (option privateWinbind). */
  daemonEnv: NodeJS.ProcessEnv = process.env;
  /** The btrfs share's paths (option `share`). */
  share: DcSharePaths | undefined;
  /** `fss: sequence timeout` of the share (option `share`). */
  seqTimeout = 1;
  private samba: ChildProcess | undefined;
  private dcerpcd: ChildProcess | undefined;
  private stopped = false;
  private readonly cleanups: Array<() => Promise<void>> = [];
  private readonly exitHook = (): void => undoSync(this.res);

  private constructor(readonly root: string, private readonly res: Resources, t: DcTemplate) {
    this.names = t.names;
    this.realm = t.names.realm;
    this.fqdn = fqdnOf(t.names);
    this.machineAccount = `${t.names.host.toUpperCase()}$`;
    this.conf = join(root, 'smb.conf');
    this.clientConf = join(root, 'client.conf');
    this.krb5Conf = join(root, 'krb5.conf');
    this.socketDir = join(root, 'sock');
    this.ncalrpcDir = join(root, 'ncalrpc');
    this.admin = { name: 'Administrator', password: t.adminPassword, groups: ['Domain Admins'] };
    this.users = t.users;
  }

  /** Provisions (or copies the cached domain) and starts a DC; on failure undoes everything first. */
  static async start(opts: AdDcOptions = {}): Promise<AdDc> {
    const t0 = Date.now();
    await ensureAdDcTools();
    const names: DcNames = { ...DEFAULT_NAMES, ...(opts.names ?? {}) };
    const res = await acquireLock();
    let dc: AdDc | undefined;
    try {
      const busy = DC_TCP_PORTS.filter((p) => listeningOn(p));
      if (busy.length > 0) throw new Error(`ports ${busy.join(', ')} are in use; the AD DC needs them on 127.0.0.1 (a system samba/smbd?)`);
      if ((await runCmd('/usr/bin/wbinfo', ['--ping'])).code === 0) throw new Error(`a winbindd already answers in ${WINBINDD_DIR}; stop it first`);
      const tt = Date.now();
      const t = await dcTemplate(names, (build) => {
        res.dirs = build ? [build] : [];
        saveLock(res);
      });
      const templateMs = Date.now() - tt;
      const root = await mkdtemp(join(tmpdir(), 'fsrvp-addc-'));
      res.root = root;
      saveLock(res);
      dc = new AdDc(root, res, t);
      process.once('exit', dc.exitHook);
      const tc = Date.now();
      await copyTemplate(t, root);
      const copyMs = Date.now() - tc;
      const startToReadyMs = await dc.setup(opts);
      dc.timings = { provisionMs: t.provisionMs, fromCache: t.fromCache, templateMs, copyMs, startToReadyMs, totalMs: Date.now() - t0 };
      return dc;
    } catch (e) {
      await abandonStart(dc, res);
      throw e;
    }
  }

  private record(): void {
    saveLock(this.res);
  }

  /** Records in this run's lock what a domain member (samba-member.ts) started or made (CREATED_PATHS). */
  adopt(r: { readonly pgids?: readonly number[]; readonly created?: readonly string[] }): void {
    for (const g of r.pgids ?? []) if (!this.res.pgids.includes(g)) this.res.pgids.push(g);
    for (const c of r.created ?? []) if (!(this.res.created ?? []).includes(c)) this.res.created = [...(this.res.created ?? []), c];
    this.record();
  }

  /** Writes the configuration, starts the daemons; returns start-to-ready milliseconds. */
  private async setup(opts: AdDcOptions): Promise<number> {
    for (const d of RUN_DIRS) await mkdir(join(this.root, d), { recursive: true });
    await mkdir(join(this.socketDir, 'np'), { mode: 0o700 });
    if (opts.share) {
      this.seqTimeout = opts.share.seqTimeout ?? 1;
      this.share = await makeShareFs(this.root, opts.share, (r) => {
        Object.assign(this.res, r);
        this.record();
      });
    }
    const share = this.share && opts.share ? { paths: this.share, opts: opts.share } : undefined;
    const wbDir = join(this.root, 'winbindd');
    if (opts.privateWinbind) {
      await mkdir(wbDir, { mode: 0o755 });
      this.daemonEnv = await privateWinbindEnv(wbDir);
    }
    const global = { ...(opts.privateWinbind ? { 'winbindd socket directory': wbDir } : {}), ...opts.global };
    await writeFile(this.conf, dcSmbConf(this.root, this.names, global, share));
    await writeFile(this.clientConf, clientSmbConf(this.names));
    await writeFile(this.krb5Conf, krb5Conf(this.names));
    await must('/usr/bin/testparm', ['-s', this.conf]);
    if (!opts.privateWinbind && !existsSync(WINBINDD_DIR)) {
      this.res.created = existsSync('/run/samba') ? [WINBINDD_DIR] : ['/run/samba', WINBINDD_DIR];
      this.record();
      await mkdir(WINBINDD_DIR, { recursive: true, mode: 0o755 });
      await chmod(WINBINDD_DIR, 0o755);
    }
    const t0 = Date.now();
    // Neither samba -F nor samba-dcerpcd -F makes a group of its own: we detach both.
    this.samba = this.spawnDaemon('/usr/sbin/samba', ['-F', '-s', this.conf, '--debug-stdout'], 'samba.out', true);
    const helpers = readdirSync(DEFAULT_LIBEXEC).filter((f) => f.startsWith('rpcd_') && f !== 'rpcd_fsrvp').map((f) => join(DEFAULT_LIBEXEC, f));
    this.dcerpcd = this.spawnDaemon(join(DEFAULT_LIBEXEC, 'samba-dcerpcd'), ['-F', '-s', this.conf, '--debug-stdout', '-d', '1', ...helpers], 'samba-dcerpcd.out', true);
    const np = join(this.ncalrpcDir, 'np');
    await this.waitReady(opts.readyTimeoutMs ?? 120_000, async () =>
      existsSync(join(np, 'lsarpc')) && existsSync(join(np, 'srvsvc')) && (await tcpOpen(DC_ADDRESS, 88)) && (await tcpOpen(DC_ADDRESS, 389)) &&
      (await tcpOpen(DC_ADDRESS, 445)) && (await runCmd('/usr/bin/wbinfo', ['--ping'], { env: this.daemonEnv })).code === 0);
    const ready = Date.now() - t0;
    for (const c of [this.samba, this.dcerpcd]) {
      const pgid = processGroupOf(c.pid as number);
      if (pgid !== c.pid) throw new Error(`${c.spawnfile} (pid ${c.pid}) is in process group ${pgid}, not its own`);
    }
    // smbd and winbindd lead sessions of their own: record their groups too.
    for (const g of groupsUsing(this.conf)) if (!this.res.pgids.includes(g)) this.res.pgids.push(g);
    this.record();
    await this.linkPipes();
    if (this.share) await this.shareInfoReadable();
    return ready;
  }

  /**
   * Samba bug 15265 (trap 4 of SAMBA.md, fixed in 4.20): a non-root caller's NetShareGetInfo(502)
   * gets no security descriptor and smbtorture's share_sd crashes; share_info.tdb readable works
   * around it, as in samba-harness.ts.
   */
  private async shareInfoReadable(): Promise<void> {
    const tdb = join(this.root, 'state', 'share_info.tdb');
    for (let i = 0; i < 50 && !existsSync(tdb); i++) await sleep(100);
    if (!existsSync(tdb)) throw new Error(`smbd did not create ${tdb}`);
    await chmod(tdb, 0o666);
    await chmod(join(this.root, 'state'), 0o755);
  }

  /** Links every pipe Samba serves (samba's rpc task and samba-dcerpcd's helpers) but ours. */
  private async linkPipes(): Promise<void> {
    const np = join(this.ncalrpcDir, 'np');
    const pipes = new Set([...(await listSambaPipes()), ...readdirSync(np)]);
    for (const own of OWN_PIPES) pipes.delete(own);
    await fixPipeLinks(await checkPipeLinks(join(this.socketDir, 'np'), np, [...pipes].sort()));
  }

  private spawnDaemon(file: string, args: string[], logName: string, detached: boolean): ChildProcess {
    const out = openSync(join(this.root, 'log', logName), 'a');
    const child = spawn(file, args, { stdio: ['ignore', out, out], cwd: this.root, detached, env: this.daemonEnv });
    closeSync(out);
    if (child.pid === undefined) throw new Error(`could not start ${file}`);
    this.res.pgids.push(child.pid);
    this.record();
    return child;
  }

  private async waitReady(timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const [c, log] of [[this.samba, 'samba.out'], [this.dcerpcd, 'samba-dcerpcd.out']] as const) {
        if (c && (c.exitCode !== null || c.signalCode !== null)) {
          throw new Error(`${c.spawnfile} exited (${c.exitCode ?? c.signalCode}): ${await this.logTail(log)}`);
        }
      }
      if (await ready()) return;
      await sleep(200);
    }
    throw new Error(`the AD DC did not answer within ${timeoutMs} ms: ${await this.logTail('samba.out')}`);
  }

  /** The last part of a log file of the run (for failure messages). */
  async logTail(name: string, bytes = 4000): Promise<string> {
    try {
      return (await readFile(join(this.root, 'log', name), 'utf8')).slice(-bytes);
    } catch {
      return '(no log)';
    }
  }

  /** Environment for Kerberos clients: the run's krb5.conf and `ccache` (default: the run's own). */
  env(ccache = join(this.root, 'ccache', 'default')): NodeJS.ProcessEnv {
    return { ...process.env, KRB5_CONFIG: this.krb5Conf, KRB5CCNAME: `FILE:${ccache}` };
  }

  /** `kinit user@REALM` (MIT; the password on stdin) into a ccache of its own; returns its path. */
  async kinit(user: { name: string; password: string }, ccName = user.name): Promise<string> {
    const cc = join(this.root, 'ccache', ccName);
    await must('/usr/bin/kinit', [`${user.name}@${this.realm}`], { input: `${user.password}\n`, env: this.env(cc) });
    return cc;
  }

  klist(ccache: string, args: readonly string[] = []): Promise<RunResult> {
    return runCmd('/usr/bin/klist', [...args], { env: this.env(ccache) });
  }

  /** `kvno <principal>` with `ccache` (with `keytab`: `-k`, which also decrypts the ticket with it). */
  kvno(ccache: string, principal: string, keytab?: string): Promise<RunResult> {
    return runCmd('/usr/bin/kvno', [...(keytab ? ['-k', keytab] : []), principal], { env: this.env(ccache) });
  }

  /** `samba-tool … -s <the DC's smb.conf>`. */
  sambaTool(args: readonly string[]): Promise<RunResult> {
    return runCmd(SAMBA_TOOL, [...args, '-s', this.conf], { timeoutMs: 180_000, env: this.env() });
  }

  /** Adds a domain user (and to `groups`, e.g. 'Backup Operators'). */
  async addUser(name: string, password: string, groups: readonly string[] = []): Promise<DcUser> {
    const check = async (args: readonly string[]): Promise<void> => {
      const r = await this.sambaTool(args);
      if (r.code !== 0) throw new Error(`samba-tool ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
    };
    await check(['user', 'add', name, password]);
    for (const g of groups) await check(['group', 'addmembers', g, name]);
    return { name, password, groups };
  }

  /** `net rpc rights grant DOMAIN\\<user> <privileges>` as the administrator (LSA on the DC, Kerberos). */
  async grantRights(user: string, privileges: readonly string[]): Promise<void> {
    const cc = await this.kinit(this.admin, 'rights-admin');
    const r = await runCmd('/usr/bin/net', [
      '-s', this.clientConf, 'rpc', 'rights', 'grant', `${this.names.domain}\\${user}`, ...privileges,
      '--use-kerberos=required', '-S', this.fqdn, '-I', DC_ADDRESS, '-U', `${this.names.domain}\\${this.admin.name}`, '-N',
    ], { env: this.env(cc), timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`net rpc rights grant ${user} failed (${r.code}): ${r.stdout}${r.stderr}`);
  }

  /** The DC's own service principals: host/<fqdn> and cifs/<fqdn> (keys of its machine password). */
  servicePrincipals(): string[] {
    return [`cifs/${this.fqdn}`, `host/${this.fqdn}`];
  }

  /**
   * `samba-tool domain exportkeytab` of `principals` (default: cifs/ and host/ of the DC and its
   * machine account DC1$, whose keys they all are) into `file` (default <run>/agent.keytab).
   */
  async exportKeytab(file = join(this.root, 'agent.keytab'), principals = [...this.servicePrincipals(), this.machineAccount]): Promise<string> {
    rmSync(file, { force: true });
    for (const p of principals) {
      const r = await this.sambaTool(['domain', 'exportkeytab', file, `--principal=${p}`]);
      if (r.code !== 0) throw new Error(`exportkeytab ${p} failed (${r.code}): ${r.stderr || r.stdout}`);
    }
    await chmod(file, 0o600);
    return file;
  }

  /** msDS-KeyVersionNumber of the DC's machine account (the kvno of its host/ and cifs/ keys). */
  async machineKvno(): Promise<number> {
    const r = await this.sambaTool(['computer', 'show', this.names.host.toUpperCase(), '--attributes=msDS-KeyVersionNumber']);
    const m = /^msDS-KeyVersionNumber:\s*(\d+)/m.exec(r.stdout);
    if (r.code !== 0 || !m) throw new Error(`no msDS-KeyVersionNumber for ${this.machineAccount} (${r.code}): ${r.stderr || r.stdout}`);
    return Number(m[1]);
  }

  /** smbclient with the client smb.conf, against 127.0.0.1 (`-I`), Kerberos from `ccache`. */
  smbclient(args: readonly string[], ccache: string): Promise<RunResult> {
    return runCmd('/usr/bin/smbclient', ['-s', this.clientConf, '-I', DC_ADDRESS, ...args], { env: this.env(ccache), timeoutMs: 120_000 });
  }

  /** Shares `smbclient -L //<fqdn> --use-kerberos=required` lists (Disk shares). */
  async listShares(ccache: string): Promise<{ shares: string[]; result: RunResult }> {
    const result = await this.smbclient(['-L', `//${this.fqdn}`, '--use-kerberos=required', '-N', '-g'], ccache);
    const shares = result.stdout.split('\n').filter((l) => l.startsWith('Disk|')).map((l) => l.split('|')[1] as string);
    return { shares, result };
  }

  /** `rpcclient --use-kerberos=required <fqdn> -c <commands>` (joined with ';') over 127.0.0.1. */
  rpcclient(commands: string | readonly string[], ccache: string): Promise<RunResult> {
    const c = typeof commands === 'string' ? commands : commands.join(';');
    return runCmd('/usr/bin/rpcclient', ['-s', this.clientConf, '--use-kerberos=required', '-N', '-I', DC_ADDRESS, '-c', c, this.fqdn], {
      env: this.env(ccache), timeoutMs: 120_000,
    });
  }

  /** True while samba and samba-dcerpcd run. */
  get running(): boolean {
    return [this.samba, this.dcerpcd].every((c) => c !== undefined && c.exitCode === null && c.signalCode === null);
  }

  /** Runs `fn` at stop(), before the DC goes down (last registered first). */
  onStop(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Stops the DC by process group, removes the run dir (and winbindd's dir if made), releases the lock. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const errors: string[] = [];
    const attempt = async (fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(String(e));
      }
    };
    for (const fn of this.cleanups.splice(0).reverse()) await attempt(fn);
    // samba first: it ends the smbd and winbindd it started; then whatever is left.
    const first = this.samba?.pid;
    const order = [...(first ? [first] : []), ...this.res.pgids.filter((g) => g !== first).reverse()];
    for (const pgid of order) await attempt(() => stopGroup(pgid));
    for (const pgid of groupsUsing(this.conf)) await attempt(() => stopGroup(pgid));
    errors.push(...(await removeShareFs(this.res.loop, this.res.mount)));
    rmSync(this.root, { recursive: true, force: true });
    for (const p of [...(this.res.created ?? [])].reverse()) rmSync(p, { recursive: true, force: true });
    process.off('exit', this.exitHook);
    try {
      unlinkSync(LOCK);
    } catch {
      // already gone
    }
    if (errors.length > 0) throw new Error(`AD DC teardown: ${errors.join('; ')}`);
  }
}

/** Starts a private AD DC (see AdDc.start). */
export function startAdDc(opts: AdDcOptions = {}): Promise<AdDc> {
  return AdDc.start(opts);
}
