/**
 * A private, real Samba for integration tests (SAMBA.md §5/§6): smbd on 127.0.0.1:445 only,
 * every Samba directory under one temp dir, a btrfs loop filesystem whose subvolume is
 * `fsrvp_share`, two users (one with SeBackupPrivilege + SeDiskOperatorPrivilege, one without).
 *
 * Modes:
 *  - 'agent': `external_rpc_pipe:socket_dir` points at `socketDir`; every pipe but FssagentRpc is
 *    symlinked to samba-dcerpcd's sockets, which runs standalone without rpcd_fsrvp. The test
 *    starts our listener in `socketDir`.
 *  - 'samba': Samba's own rpcd_fsrvp serves FSRVP (the reference for the comparison).
 *
 * One harness at a time (a lock file; port 445 must be free). Everything started is stopped by
 * PID — smbd's and samba-dcerpcd's process groups — and the mount, loop device, temp dir and
 * users created are removed by stop(), also when a test failed, and by an exit hook if the
 * runner dies first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../../src/cli/agent.js';
import type { AgentConfig } from '../../src/cli/config.js';
import { SNAPSHOT_DIR_NAME } from '../../src/storage/btrfs.js';
import { checkPipeLinks, DEFAULT_LIBEXEC, fixPipeLinks, listSambaPipes } from '../../src/transport/npa-links.js';
import { ensureSambaTools } from './samba-tools.js';
import { sambaAgentConfig } from './samba-agent-config.js';
import { closingOnce } from './temp-agent.js';
import { must, runCmd, type RunResult } from './run-cmd.js';
import { extraShare, layoutOf, smbConf, type SambaLayout, type SambaMode, type SambaOptions } from './samba-conf.js';
import {
  abandonStart, acquireLock, LOCK, listeningOn, processGroupOf, saveLock, stopGroup, undoSync, type Resources,
} from './samba-resources.js';

export { extraShare, SHARE, type SambaLayout, type SambaMode, type SambaOptions } from './samba-conf.js';
export type { RunResult } from './run-cmd.js';
export { ensureSambaTools } from './samba-tools.js';
export const HOST = '127.0.0.1';
export interface SambaUser {
  readonly name: string;
  readonly password: string;
}

export interface TortureResult extends RunResult {
  readonly passed: string[];
  readonly failed: string[];
  readonly skipped: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class SambaHarness {
  readonly admin: SambaUser = { name: 'fsrvptest', password: `Pw-${randomBytes(6).toString('hex')}` };
  readonly plain: SambaUser = { name: 'fsrvpnopriv', password: `Pw-${randomBytes(6).toString('hex')}` };
  readonly conf: string;
  readonly mount: string;
  readonly sharePath: string;
  /** `external_rpc_pipe:socket_dir` in agent mode; our listener goes to `<socketDir>/np/fssagentrpc`. */
  readonly socketDir: string | undefined;
  readonly ncalrpcDir: string;
  /** Where the btrfs backend puts snapshots of the share (agent mode). */
  readonly snapshotDir: string;
  readonly seqTimeout: number;
  /** The share's shadow_copy2 layout (samba-conf.ts). */
  readonly layout: SambaLayout;
  private smbd: ChildProcess | undefined;
  private dcerpcd: ChildProcess | undefined;
  private readonly exitHook = (): void => undoSync(this.res);
  private stopped = false;
  private readonly cleanups: Array<() => Promise<void>> = [];

  private constructor(readonly root: string, readonly mode: SambaMode, private readonly res: Resources, opts: SambaOptions) {
    this.conf = join(root, 'smb.conf');
    this.mount = join(root, 'mnt');
    this.sharePath = join(this.mount, 'share');
    this.socketDir = mode === 'agent' ? join(root, 'sock') : undefined;
    this.ncalrpcDir = join(root, 'ncalrpc');
    this.layout = layoutOf(opts);
    // Where the agent's btrfs backend puts the share's snapshots for this layout.
    this.snapshotDir = this.layout === 'samba' ? this.sharePath : join(this.mount, SNAPSHOT_DIR_NAME, 'share');
    this.seqTimeout = opts.seqTimeout ?? 1;
  }

  /** Starts a private Samba; on any failure everything done so far is undone before throwing. */
  static async start(opts: SambaOptions): Promise<SambaHarness> {
    await ensureSambaTools();
    const res = await acquireLock();
    let h: SambaHarness | undefined;
    try {
      if (listeningOn(445)) throw new Error('something already listens on port 445; stop it (a system smbd?) before the Samba tests');
      const root = await mkdtemp(join(tmpdir(), 'fsrvp-samba-'));
      res.root = root;
      saveLock(res);
      h = new SambaHarness(root, opts.mode, res, opts);
      process.once('exit', h.exitHook);
      await h.setup(opts);
      return h;
    } catch (e) {
      await abandonStart(h, res);
      throw e;
    }
  }

  private record(): void {
    saveLock(this.res);
  }

  private async setup(opts: SambaOptions): Promise<void> {
    await chmod(this.root, 0o755); // test users must traverse to the share
    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'log', 'mnt']) await mkdir(join(this.root, d));
    await chmod(join(this.root, 'private'), 0o700);
    await this.makeFilesystem(opts.sizeMiB ?? 320, opts.extraShares ?? 0);
    if (this.socketDir) await this.makeSocketDir();
    await writeFile(this.conf, smbConf(this, opts));
    await must('/usr/bin/testparm', ['-s', this.conf]);
    await this.makeUsers();
    await this.startDcerpcd();
    await this.startSmbd();
  }

  private async makeFilesystem(sizeMiB: number, extraShares: number): Promise<void> {
    const img = join(this.root, 'btrfs.img');
    await must('truncate', ['-s', `${sizeMiB}M`, img]);
    this.res.loop = (await must('losetup', ['--find', '--show', img])).trim();
    this.record();
    await must('/usr/sbin/mkfs.btrfs', ['-q', '-f', this.res.loop]);
    await must('mount', [this.res.loop, this.mount]);
    this.res.mount = this.mount;
    this.record();
    await must('/usr/bin/btrfs', ['subvolume', 'create', this.sharePath]);
    await chmod(this.sharePath, 0o777);
    // shadow_copy2 fails FSCTL_SRV_ENUMERATE_SNAPSHOTS while its snapdir does not exist yet.
    if (this.mode === 'agent' && this.layout === 'readme') await mkdir(this.snapshotDir, { recursive: true });
    for (let i = 1; i <= extraShares; i++) {
      const dir = join(this.mount, extraShare(i).dir);
      await must('/usr/bin/btrfs', ['subvolume', 'create', dir]);
      await chmod(dir, 0o777);
      if (this.mode === 'agent' && this.layout === 'readme') await mkdir(join(this.mount, SNAPSHOT_DIR_NAME, extraShare(i).dir), { recursive: true });
    }
  }

  private async makeSocketDir(): Promise<void> {
    const np = join(this.socketDir as string, 'np');
    await mkdir(np, { recursive: true, mode: 0o700 });
    await chmod(np, 0o700);
    const pipes = await listSambaPipes();
    await fixPipeLinks(await checkPipeLinks(np, join(this.ncalrpcDir, 'np'), pipes));
  }

  private async makeUsers(): Promise<void> {
    for (const u of [this.admin, this.plain]) {
      if ((await runCmd('id', ['-u', u.name])).code !== 0) {
        await must('useradd', ['-M', '-N', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', u.name]);
        this.res.users.push(u.name);
        this.record();
      }
      await must('/usr/bin/pdbedit', ['-s', this.conf, '-a', '-u', u.name, '-t'], { input: `${u.password}\n${u.password}\n` });
    }
    await must('/usr/bin/net', ['-s', this.conf, 'sam', 'rights', 'grant', this.admin.name, 'SeBackupPrivilege', 'SeDiskOperatorPrivilege']);
  }

  /**
   * Starts a daemon in a process group of its own, so kill(-pid) stops it with its workers and
   * its own kill(0, …) never reaches the test runner (trap 1). smbd -F calls setsid() itself
   * (and fails to start if it already leads a session); samba-dcerpcd -F does not, so we detach it.
   */
  private spawnDaemon(file: string, args: string[], logName: string, detached: boolean): ChildProcess {
    const out = openSync(join(this.root, 'log', logName), 'a');
    const child = spawn(file, args, { stdio: ['ignore', out, out], cwd: this.root, detached });
    closeSync(out);
    if (child.pid === undefined) throw new Error(`could not start ${file}`);
    this.res.pgids.push(child.pid);
    this.record();
    return child;
  }

  private async startDcerpcd(): Promise<void> {
    const libexec = DEFAULT_LIBEXEC;
    const helpers = this.mode === 'samba'
      ? ['--libexec-rpcds']
      : readdirSync(libexec).filter((f) => f.startsWith('rpcd_') && f !== 'rpcd_fsrvp').map((f) => join(libexec, f));
    this.dcerpcd = this.spawnDaemon(join(libexec, 'samba-dcerpcd'), ['-F', '-s', this.conf, '--debug-stdout', '-d', '1', ...helpers], 'samba-dcerpcd.out', true);
    // samba-dcerpcd opens each helper's pipes as that helper lists its interfaces, so srvsvc can
    // be there well before fssagentrpc under load: in samba mode wait for both.
    const pipes = this.mode === 'samba' ? ['srvsvc', 'fssagentrpc'] : ['srvsvc'];
    await this.waitFor('samba-dcerpcd', this.dcerpcd, async () => pipes.every((p) => existsSync(join(this.ncalrpcDir, 'np', p))));
  }

  private async startSmbd(): Promise<void> {
    this.smbd = this.spawnDaemon('/usr/sbin/smbd', ['-F', '-s', this.conf, '--debug-stdout', '-d', '1'], 'smbd.out', false);
    await this.waitFor('smbd', this.smbd, () => new Promise<boolean>((resolve) => {
      const s = connect(445, HOST);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    }));
    // Trap 4 (Samba bug 15265): non-root NetShareGetInfo(502) needs share_info.tdb readable.
    const tdb = join(this.root, 'state', 'share_info.tdb');
    for (let i = 0; i < 50 && !existsSync(tdb); i++) await sleep(100);
    if (!existsSync(tdb)) throw new Error(`smbd did not create ${tdb}`);
    await chmod(tdb, 0o666);
  }

  private async waitFor(what: string, child: ChildProcess, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}): ${await this.logTail(what === 'smbd' ? 'smbd.out' : 'samba-dcerpcd.out')}`);
      }
      // Ready only once it also leads its own process group (smbd calls setsid itself, a moment
      // after it may already answer): that group is what stop() and crash cleanup kill.
      if ((await ready()) && processGroupOf(child.pid as number) === child.pid) return;
      await sleep(100);
    }
    const pgid = processGroupOf(child.pid as number);
    child.kill('SIGKILL');
    if (pgid !== child.pid) throw new Error(`${what} (pid ${child.pid}) is in process group ${pgid}, not its own`);
    throw new Error(`${what} not ready after ${timeoutMs} ms: ${await this.logTail(what === 'smbd' ? 'smbd.out' : 'samba-dcerpcd.out')}`);
  }

  /** The last part of a log file in the harness's log dir (for failure messages). */
  async logTail(name: string, bytes = 4000): Promise<string> {
    try {
      const text = await readFile(join(this.root, 'log', name), 'utf8');
      return text.slice(-bytes);
    } catch {
      return '(no log)';
    }
  }

  /** rpcclient against 127.0.0.1 with `-c` commands (joined with ';'). */
  rpcclient(commands: string | readonly string[], user: SambaUser = this.admin): Promise<RunResult> {
    const c = typeof commands === 'string' ? commands : commands.join(';');
    return runCmd('/usr/bin/rpcclient', ['-s', this.conf, '-U', `${user.name}%${user.password}`, '-c', c, HOST], { timeoutMs: 300_000 });
  }

  /** smbclient on //127.0.0.1/<share> with `-c` commands. */
  smbclient(share: string, commands: string, user: SambaUser = this.admin): Promise<RunResult> {
    return runCmd('/usr/bin/smbclient', ['-s', this.conf, `//${HOST}/${share}`, '-U', `${user.name}%${user.password}`, '-c', commands], { timeoutMs: 120_000 });
  }

  /** Lists the shares smbd announces. */
  async listShares(user: SambaUser = this.admin): Promise<string[]> {
    const r = await runCmd('/usr/bin/smbclient', ['-s', this.conf, '-L', HOST, '-g', '-U', `${user.name}%${user.password}`]);
    return r.stdout.split('\n').filter((l) => l.startsWith('Disk|')).map((l) => l.split('|')[1] as string);
  }

  /** smbtorture `ncacn_np:127.0.0.1 <test>`, with this harness's sequence timeout. */
  async smbtorture(test: string, user: SambaUser = this.admin): Promise<TortureResult> {
    const r = await runCmd('/usr/bin/smbtorture', [
      `ncacn_np:${HOST}`, test, '-U', `${user.name}%${user.password}`, `--option=fss:sequence timeout=${this.seqTimeout}`,
    ], { timeoutMs: 600_000 });
    const pick = (kind: string): string[] => [...r.stdout.matchAll(new RegExp(`^${kind}: (\\S+)`, 'gm'))].map((m) => m[1] as string);
    return { ...r, passed: pick('success'), failed: [...pick('failure'), ...pick('error')], skipped: pick('skip') };
  }

  /** `net -s <conf> …` (registry shares: `conf listshares`, `conf showshare`, …). */
  net(args: readonly string[]): Promise<RunResult> {
    return runCmd('/usr/bin/net', ['-s', this.conf, ...args]);
  }

  /** Registry shares (exposed shadow copies live there). */
  async registryShares(): Promise<string[]> {
    const r = await this.net(['conf', 'listshares']);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'global');
  }

  /** Every subvolume on the test filesystem except the shares' own (i.e. snapshots), relative to the mount. */
  async snapshotSubvolumes(): Promise<string[]> {
    const out = await must('/usr/bin/btrfs', ['subvolume', 'list', this.mount]);
    return out.split('\n').filter(Boolean).map((l) => l.replace(/^.* path /, '')).filter((p) => !/^share\d*$/.test(p));
  }

  /** Writes a file into the share directly (as root), e.g. content to snapshot. */
  async writeShareFile(name: string, content: string): Promise<void> {
    await writeFile(join(this.sharePath, name), content, { mode: 0o666 });
    await chmod(join(this.sharePath, name), 0o666);
  }

  /** True while smbd and samba-dcerpcd run. */
  get running(): boolean {
    return [this.smbd, this.dcerpcd].every((c) => c !== undefined && c.exitCode === null && c.signalCode === null);
  }

  /** Runs `fn` at stop(), before Samba goes down (last registered first). */
  onStop(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Stops everything this harness started and removes what it made. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const errors: string[] = [];
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(String(e));
      }
    }
    for (const pgid of [...this.res.pgids].reverse()) {
      try {
        await stopGroup(pgid);
      } catch (e) {
        errors.push(String(e));
      }
    }
    if (this.res.mount) {
      let r = await runCmd('umount', [this.res.mount]);
      for (let i = 0; i < 10 && r.code !== 0; i++) {
        await sleep(300);
        r = await runCmd('umount', [this.res.mount]);
      }
      if (r.code !== 0) {
        errors.push(`umount ${this.res.mount}: ${r.stderr}`);
        await runCmd('umount', ['-l', this.res.mount]);
      }
    }
    if (this.res.loop) {
      const r = await runCmd('losetup', ['-d', this.res.loop]);
      if (r.code !== 0) errors.push(`losetup -d ${this.res.loop}: ${r.stderr}`);
    }
    for (const u of this.res.users) await runCmd('userdel', [u]);
    rmSync(this.root, { recursive: true, force: true });
    process.off('exit', this.exitHook);
    try {
      unlinkSync(LOCK);
    } catch {
      // already gone
    }
    if (errors.length > 0) throw new Error(`Samba harness teardown: ${errors.join('; ')}`);
  }
}

/** Whether a file or directory exists (async). */
export async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** The agent configuration for a harness in agent mode: the full fsrvpd, served over its socket. */
export function agentConfig(h: SambaHarness): AgentConfig {
  if (!h.socketDir) throw new Error('the harness is not in agent mode');
  return sambaAgentConfig({
    root: h.root, netbiosName: 'FSRVPH', localNames: [HOST], seqTimeout: h.seqTimeout,
    socketDir: h.socketDir, smbConf: h.conf, minLevel: 'none',
  });
}

/** Starts the full agent (service, btrfs backend, Samba registry publisher, npa listener) for `h`. */
export async function startTestAgent(h: SambaHarness, patch?: (c: AgentConfig) => void): Promise<Agent> {
  const c = agentConfig(h);
  patch?.(c);
  const agent = closingOnce(await startAgent(c));
  h.onStop(agent.close);
  return agent;
}

/** smbtorture 4.17's rpc.fsrvp subtests, in run order (`rpc.fsrvp.fsrvp.<name>` runs one alone). */
export const FSRVP_SUBTESTS = [
  'share_sd', 'enum_created', 'sc_share_io', 'bad_id', 'sc_set_abort', 'create_simple', 'set_ctx', 'get_version',
  'is_path_supported', 'seq_timeout',
] as const;

/** What rpcclient's fss_create_expose printed: set id, shadow copy id and the exposed share. */
export interface Exposed {
  readonly setId: string;
  readonly copyId: string;
  readonly share: string;
}

/** Parses fss_create_expose output ("<set>(<copy>): share <name> exposed as a snapshot of …"). */
export function parseExposed(out: string): Exposed | undefined {
  const m = /([0-9a-f-]{36})\(([0-9a-f-]{36})\): share (\S+) exposed as a snapshot of/i.exec(out);
  return m ? { setId: m[1] as string, copyId: m[2] as string, share: m[3] as string } : undefined;
}
