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
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { startAgent, type Agent } from '../../src/cli/agent.js';
import { aptInstall } from './apt.js';
import { PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import type { Operation } from '../../src/dcerpc/interface.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import type { Pdu } from '../../src/dcerpc/pdu-types.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import { FSRVP_UUID, FSRVP_VERSION } from '../../src/fsrvp/codes.js';
import { decode, encode } from '../../src/ndr/index.js';
import { decodeNpaReply, FILE_TYPE_MESSAGE_MODE_PIPE, NPA_REP_SIZE } from '../../src/transport/npa-codec.js';
import { frameMessages, MessageDeframer } from '../../src/transport/npa-framing.js';
import { defaultConfig, type AgentConfig } from '../../src/cli/config.js';
import { SNAPSHOT_DIR_NAME } from '../../src/storage/btrfs.js';
import { shadowCopy2Options } from '../../src/storage/naming.js';
import { checkPipeLinks, DEFAULT_LIBEXEC, fixPipeLinks, listSambaPipes } from '../../src/transport/npa-links.js';

export const SHARE = 'fsrvp_share';
export const HOST = '127.0.0.1';
/** Debian's Samba module directory (`smbd -b` MODULESDIR) for this machine's multiarch triplet. */
const SAMBA_MODULES_DIR = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/samba`;
const LOCK = join(existsSync('/run/lock') ? '/run/lock' : tmpdir(), 'fsrvp-samba-harness.lock');
// samba-vfs-modules: the test shares use vfs objects btrfs and shadow_copy2; without them smbd
// refuses every tree connect to the share (and Samba's own FSRVP fails with E_ACCESSDENIED).
const PACKAGES = ['samba', 'samba-vfs-modules', 'smbclient', 'samba-testsuite', 'btrfs-progs'];
const TOOLS = [
  `${SAMBA_MODULES_DIR}/vfs/btrfs.so`, `${SAMBA_MODULES_DIR}/vfs/shadow_copy2.so`,
  '/usr/sbin/smbd', `${DEFAULT_LIBEXEC}/samba-dcerpcd`, `${DEFAULT_LIBEXEC}/rpcd_fsrvp`, '/usr/bin/rpcclient',
  '/usr/bin/smbclient', '/usr/bin/smbtorture', '/usr/bin/net', '/usr/bin/pdbedit', '/usr/bin/smbcontrol',
  '/usr/bin/testparm', '/usr/sbin/mkfs.btrfs', '/usr/bin/btrfs',
];

export type SambaMode = 'agent' | 'samba';

export interface SambaUser {
  readonly name: string;
  readonly password: string;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TortureResult extends RunResult {
  readonly passed: string[];
  readonly failed: string[];
  readonly skipped: string[];
}

export interface SambaOptions {
  readonly mode: SambaMode;
  /** `fss: sequence timeout` (seconds); the agent must use the same value. Default 1. */
  readonly seqTimeout?: number;
  /** Extra [global] lines. */
  readonly global?: Readonly<Record<string, string>>;
  /** Extra [fsrvp_share] lines (e.g. shadow_copy2 options matching the btrfs backend). */
  readonly share?: Readonly<Record<string, string>>;
  /** Loop filesystem size in MiB (default 320). */
  readonly sizeMiB?: number;
}

/** Cleanup facts, recorded in the lock file so a later run can undo a crashed one. */
interface Resources {
  owner: number;
  root?: string;
  loop?: string;
  mount?: string;
  pgids: number[];
  users: string[];
}

function runCmd(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      const raw = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof raw === 'number' ? raw : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err ? err.message : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function must(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await runCmd(file, args, opts);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Installs the Debian packages when a tool is missing; a clear error when that is impossible. */
export async function ensureSambaTools(): Promise<void> {
  const missing = (): string[] => TOOLS.filter((t) => !existsSync(t));
  if (missing().length === 0) return;
  const ci = process.env.CI === 'true';
  try {
    await aptInstall(PACKAGES);
  } catch (e) {
    throw new Error(`missing ${missing().join(', ')} and installing failed${ci ? ' (CI=true)' : ''}: ${(e as Error).message}`);
  }
  const still = missing();
  if (still.length > 0) throw new Error(`still missing after installing ${PACKAGES.join(' ')}: ${still.join(', ')}`);
}

/** Ports in LISTEN state on any address (from /proc/net/tcp{,6}). */
function listeningOn(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') return true;
    }
  }
  return false;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live (non-zombie) processes in a process group. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(d));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Only paths and names this harness creates are ever undone from a (possibly stale) record. */
function ours(r: Resources): { root?: string; loop?: string; mount?: string; users: string[] } {
  const root = r.root && /^fsrvp-samba-/.test(basename(r.root)) && dirname(r.root) === tmpdir() ? r.root : undefined;
  let loop: string | undefined;
  if (root && r.loop && /^\/dev\/loop\d+$/.test(r.loop)) {
    try {
      const backing = readFileSync(`/sys/block/${basename(r.loop)}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(`${root}/`)) loop = r.loop;
    } catch {
      // not attached
    }
  }
  const mount = root && r.mount === join(root, 'mnt') ? r.mount : undefined;
  const users = r.users.filter((u) => u === 'fsrvptest' || u === 'fsrvpnopriv');
  return { ...(root ? { root } : {}), ...(loop ? { loop } : {}), ...(mount ? { mount } : {}), users };
}

/** Synchronous best-effort undo of recorded resources (exit hook and stale-lock recovery). */
function undoSync(r: Resources): void {
  for (const pgid of r.pgids) {
    if (groupMembers(pgid).some((p) => /smbd|samba-dcerpcd|rpcd_/.test(commandOf(p)))) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const o = ours(r);
  const quiet = { stdio: 'ignore' as const };
  if (o.mount) {
    try {
      execFileSync('umount', ['-l', o.mount], quiet);
    } catch {
      // not mounted
    }
  }
  if (o.loop) {
    try {
      execFileSync('losetup', ['-d', o.loop], quiet);
    } catch {
      // already detached
    }
  }
  if (o.root) rmSync(o.root, { recursive: true, force: true });
  for (const u of o.users) {
    try {
      execFileSync('userdel', [u], quiet);
    } catch {
      // not there
    }
  }
}

async function acquireLock(): Promise<Resources> {
  const deadline = Date.now() + 10 * 60_000;
  const mine: Resources = { owner: process.pid, pgids: [], users: [] };
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx', 0o600);
      writeFileSync(fd, JSON.stringify(mine));
      closeSync(fd);
      return mine;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let held: Resources | undefined;
    try {
      held = JSON.parse(readFileSync(LOCK, 'utf8')) as Resources;
    } catch {
      held = undefined;
    }
    if (held && held.owner !== process.pid && pidAlive(held.owner)) {
      if (Date.now() > deadline) throw new Error(`another Samba harness (pid ${held.owner}) holds ${LOCK}`);
      await sleep(500);
      continue;
    }
    if (held && held.owner === process.pid) throw new Error('a Samba harness is already running in this process');
    if (held) undoSync(held);
    rmSync(LOCK, { force: true });
  }
}

function saveLock(r: Resources): void {
  writeFileSync(LOCK, JSON.stringify(r));
}

function smbConf(h: { root: string; mount: string; socketDir?: string }, opts: SambaOptions): string {
  const d = (n: string): string => join(h.root, n);
  const global: Record<string, string> = {
    'netbios name': 'FSRVPH',
    workgroup: 'FSRVPH',
    'server role': 'standalone server',
    interfaces: '127.0.0.1/8',
    'bind interfaces only': 'yes',
    'smb ports': '445',
    'disable netbios': 'yes',
    'lock directory': d('lock'),
    'state directory': d('state'),
    'cache directory': d('cache'),
    'private dir': d('private'),
    'pid directory': d('pid'),
    'ncalrpc dir': d('ncalrpc'),
    'log file': join(d('log'), 'log.%m'),
    'max log size': '0',
    'passdb backend': `tdbsam:${join(d('private'), 'passdb.tdb')}`,
    'rpc start on demand helpers': 'no',
    'registry shares': 'yes',
    'fss: sequence timeout': String(opts.seqTimeout ?? 1),
    'printing': 'bsd',
    'printcap name': '/dev/null',
    'load printers': 'no',
    'map to guest': 'never',
  };
  if (opts.mode === 'samba') global['rpcd_fsrvp:num_workers'] = '1';
  if (h.socketDir) global['external_rpc_pipe:socket_dir'] = h.socketDir;
  Object.assign(global, opts.global ?? {});
  // Samba's own FSRVP: vfs_btrfs snapshots into the share as @GMT-… (SAMBA.md §5). Ours: the btrfs
  // backend keeps them beside the subvolume in ../.fsrvp-snapshots/share; shadow_copy2 finds them
  // through a *relative* snapdir (relative to the share subvolume). An absolute snapdir would be
  // inherited by the exposed clones, whose paths lie inside it, and break writes to writable
  // snapshot shares (trap 3).
  const shadow: Record<string, string> = opts.mode === 'samba'
    ? { 'btrfs: manipulate snapshots': 'yes', 'shadow: snapdir': '.', 'hide files': '/@GMT-*/' }
    : { 'btrfs: manipulate snapshots': 'no', ...shadowCopy2Options(`../${SNAPSHOT_DIR_NAME}/share`) };
  const share: Record<string, string> = {
    path: join(h.mount, 'share'),
    'read only': 'no',
    'vfs objects': 'btrfs shadow_copy2',
    'shadow: sort': 'desc',
    ...shadow,
    ...(opts.share ?? {}),
  };
  const lines = ['[global]', ...Object.entries(global).map(([k, v]) => `  ${k} = ${v}`), '  include = registry', '', `[${SHARE}]`,
    ...Object.entries(share).map(([k, v]) => `  ${k} = ${v}`), ''];
  return lines.join('\n');
}

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
    this.snapshotDir = join(this.mount, SNAPSHOT_DIR_NAME, 'share');
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
      if (h) await h.stop();
      else {
        undoSync(res);
        rmSync(LOCK, { force: true });
      }
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
    await this.makeFilesystem(opts.sizeMiB ?? 320);
    if (this.socketDir) await this.makeSocketDir();
    await writeFile(this.conf, smbConf(this, opts));
    await must('/usr/bin/testparm', ['-s', this.conf]);
    await this.makeUsers();
    await this.startDcerpcd();
    await this.startSmbd();
  }

  private async makeFilesystem(sizeMiB: number): Promise<void> {
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
    if (this.mode === 'agent') await mkdir(this.snapshotDir, { recursive: true });
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
    await this.waitFor('samba-dcerpcd', this.dcerpcd, async () => existsSync(join(this.ncalrpcDir, 'np', 'srvsvc')));
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
      if (await ready()) {
        const pgid = processGroupOf(child.pid as number);
        if (pgid !== child.pid) throw new Error(`${what} (pid ${child.pid}) is in process group ${pgid}, not its own`);
        return;
      }
      await sleep(100);
    }
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

  /** Every subvolume on the test filesystem except the share itself (i.e. snapshots), relative to the mount. */
  async snapshotSubvolumes(): Promise<string[]> {
    const out = await must('/usr/bin/btrfs', ['subvolume', 'list', this.mount]);
    return out.split('\n').filter(Boolean).map((l) => l.replace(/^.* path /, '')).filter((p) => p !== 'share');
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

/** SIGTERM to a process group, SIGKILL after 10 s; waits until no live member remains. */
async function stopGroup(pgid: number): Promise<void> {
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, s);
    } catch {
      // group already empty
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 100 && groupMembers(pgid).length > 0; i++) await sleep(100);
  if (groupMembers(pgid).length === 0) return;
  signal('SIGKILL');
  for (let i = 0; i < 50 && groupMembers(pgid).length > 0; i++) await sleep(100);
  if (groupMembers(pgid).length > 0) throw new Error(`process group ${pgid} survived SIGKILL`);
}

/** Whether a file or directory exists (async). */
export async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** The agent configuration for a harness in agent mode: the full fsrvpd, served over its socket. */
export function agentConfig(h: SambaHarness): AgentConfig {
  if (!h.socketDir) throw new Error('the harness is not in agent mode');
  const c = defaultConfig(join(h.root, 'agent'));
  c.netbiosName = 'FSRVPH';
  c.localNames = [HOST];
  c.mode = 'samba';
  c.stateDir = join(h.root, 'agent', 'state');
  c.sequenceTimeoutSeconds = h.seqTimeout;
  c.listen = { samba: { socketDir: h.socketDir, byteMode: false } };
  c.shares = { samba: { smbConf: h.conf } };
  c.publisher = { type: 'samba', smbConf: h.conf };
  c.storage = { defaultBackend: 'btrfs', maxDepth: 5, refuseHardLinks: true };
  return c;
}

/** Starts the full agent (service, btrfs backend, Samba registry publisher, npa listener) for `h`. */
export async function startTestAgent(h: SambaHarness, patch?: (c: AgentConfig) => void): Promise<Agent> {
  const c = agentConfig(h);
  patch?.(c);
  const agent = await startAgent(c);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await agent.close();
  };
  h.onStop(close);
  return { ...agent, close };
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

/**
 * Records the named_pipe_auth request smbd sends when `user` opens \PIPE\FssagentRpc (agent mode,
 * before the agent listens): a plain socket takes the handshake bytes and hangs up.
 */
export async function captureHandshake(h: SambaHarness, user: SambaUser): Promise<Uint8Array> {
  if (!h.socketDir) throw new Error('the harness is not in agent mode');
  const path = join(h.socketDir, 'np', 'fssagentrpc');
  let got: Uint8Array | undefined;
  const server = createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
        got = Uint8Array.from(all.subarray(0, 4 + all.readUInt32BE(0)));
        s.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await h.rpcclient('fss_get_sup_version', user);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(path, { force: true });
  }
  if (!got) throw new Error(`smbd sent no handshake for ${user.name}`);
  return got;
}

/**
 * A DCE/RPC client that talks to the agent's socket the way smbd does: the recorded
 * named_pipe_auth request, then message-mode PDUs. Binds FileServerVssAgent with NDR32.
 */
export class NpaPipeClient {
  private readonly deframer = new MessageDeframer();
  private readonly inbox: Buffer[] = [];
  private waiter: ((b: Buffer | null) => void) | undefined;
  private buffered: Buffer[] = [];
  private callId = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (b: Buffer) => this.buffered.push(b));
    socket.on('close', () => this.deliver(null));
  }

  static async open(path: string, handshake: Uint8Array): Promise<NpaPipeClient> {
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new NpaPipeClient(socket);
    socket.write(handshake);
    const rep = await c.readRaw(NPA_REP_SIZE);
    if (decodeNpaReply(rep).fileType !== FILE_TYPE_MESSAGE_MODE_PIPE) throw new Error('expected a message-mode pipe');
    socket.removeAllListeners('data');
    const rest = Buffer.concat(c.buffered);
    c.buffered = [];
    socket.on('data', (b: Buffer) => c.feed(b));
    if (rest.length > 0) c.feed(rest);
    return c;
  }

  private async readRaw(n: number): Promise<Buffer> {
    for (let i = 0; i < 100; i++) {
      const all = Buffer.concat(this.buffered);
      if (all.length >= n) {
        this.buffered = [all.subarray(n)];
        return all.subarray(0, n);
      }
      await sleep(20);
    }
    throw new Error('no named_pipe_auth reply');
  }

  private feed(b: Buffer): void {
    for (const m of this.deframer.push(b)) this.deliver(m);
  }

  private deliver(m: Buffer | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(m);
    else if (m) this.inbox.push(m);
  }

  private next(): Promise<Pdu> {
    const queued = this.inbox.shift();
    const got = queued ? Promise.resolve(queued) : new Promise<Buffer | null>((resolve) => {
      this.waiter = resolve;
    });
    return got.then((m) => {
      if (!m) throw new Error('pipe closed');
      return decodePdu(m);
    });
  }

  private send(pdu: Uint8Array): void {
    for (const m of frameMessages(pdu)) this.socket.write(m);
  }

  async bind(): Promise<void> {
    this.send(encodePdu({
      kind: 'bind',
      header: { callId: this.callId++, pfcFlags: PFC_FIRST_LAST },
      maxXmitFrag: 4280,
      maxRecvFrag: 4280,
      assocGroupId: 0,
      contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, FSRVP_VERSION.major, FSRVP_VERSION.minor), transferSyntaxes: [NDR20] }],
      authInfo: new Uint8Array(0),
    }));
    const ack = await this.next();
    if (ack.kind !== 'bind_ack') throw new Error(`bind answered with ${ack.kind}`);
  }

  /** Calls one operation (single-fragment request); returns the decoded response. */
  async call<Req, Res>(op: Operation<Req, Res>, req: Req): Promise<Res> {
    const callId = this.callId++;
    const stub = encode(op.request, req);
    this.send(encodePdu({
      kind: 'request',
      header: { callId, pfcFlags: PFC_FIRST_LAST },
      allocHint: stub.length,
      contextId: 0,
      opnum: op.opnum,
      stubAndVerifier: stub,
    }));
    const r = await this.next();
    if (r.kind !== 'response') throw new Error(`${op.name} answered with ${r.kind}`);
    return decode(op.response, r.stubAndVerifier).value;
  }

  close(): void {
    this.socket.destroy();
  }
}
