/**
 * `fsrvpd doctor [--apply] [--config smb.conf] [--socket-dir DIR]`: checks that a Samba host is
 * set up for fsrvpd to serve \PIPE\FssagentRpc (docs SAMBA.md §1, §5) and says exactly what is
 * missing, with the smb.conf lines to add.
 *
 * --apply fixes what is ours to fix: creates `<socket_dir>/np/` (0700), tightens its mode, and
 * creates/repoints the symlinks for every other pipe. It never edits smb.conf files. Missing
 * [global] parameters are set with `net conf setparm` only when the configuration already reads
 * the registry (`include = registry` or `config backend = registry`), followed by
 * `smbcontrol smbd reload-config`; otherwise the lines are printed for the administrator.
 *
 * `--agent-config FILE` adds the authentication mechanisms section (doctor-auth.ts) and, when
 * the configuration has snapshot hooks, whether they answer (doctor-hooks.ts); `--auth-only`
 * prints only the mechanisms.
 */
import { constants as fsc, existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPipeLinks, DEFAULT_LIBEXEC, fixPipeLinks, listSambaPipes } from '../transport/npa-links.js';
import { DEFAULT_PYTHON } from '../sys/helpers/fsrvp-helper.js';
import { DEFAULT_PIPE } from '../transport/npa-listener.js';
import { execTool, Report, type Exec, type Finding, type Status } from './doctor-common.js';
import { missingVfsModules, npaLevelFor, parseSambaBuild, parseSambaVersion, parseTestparm, rawGlobals, yes } from './doctor-samba.js';

export { execTool, Report, type Exec, type ExecResult, type Finding, type Status } from './doctor-common.js';
export {
  missingVfsModules, normalizeKey, npaLevelFor, parseSambaBuild, parseSambaVersion, parseTestparm, rawGlobals, type SambaBuild,
} from './doctor-samba.js';

export const DEFAULT_SOCKET_DIR = '/run/fsrvpd';
const BTRFS_SUPER_MAGIC = 0x9123683e;

export interface DoctorOptions {
  readonly apply?: boolean;
  /** smb.conf to inspect (default: smbd's CONFIGFILE). */
  readonly config?: string;
  /** Socket dir fsrvpd will use (default: the configured external_rpc_pipe:socket_dir, else /run/fsrvpd). */
  readonly socketDir?: string;
  readonly libexecDir?: string;
  readonly exec?: Exec;
}

export interface DoctorReport {
  readonly config: string;
  readonly findings: Finding[];
  /** Lines to add to [global] (in this order; `include = registry` last). */
  readonly confLines: string[];
  /** True when nothing is missing or broken. */
  readonly healthy: boolean;
}

async function checkNpDir(r: Report, np: string, apply: boolean): Promise<boolean> {
  let st;
  try {
    st = await lstat(np);
  } catch {
    if (!apply) {
      r.add('missing', 'np dir', `${np} does not exist (created by --apply or by fsrvpd at start)`);
      return false;
    }
    await mkdir(np, { recursive: true, mode: 0o700 });
    await chmod(np, 0o700);
    r.add('fixed', 'np dir', `created ${np} (0700)`);
    return true;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    r.add('error', 'np dir', `${np} is not a directory; remove it`);
    return false;
  }
  if (st.uid !== 0) {
    r.add('error', 'np dir', `${np} is owned by uid ${st.uid}; it must be root's (chown root ${np})`);
    return false;
  }
  if ((st.mode & 0o077) !== 0) {
    if (!apply) {
      r.add('missing', 'np dir', `${np} has mode ${(st.mode & 0o777).toString(8)}; it must be 0700`);
      return true;
    }
    await chmod(np, 0o700);
    r.add('fixed', 'np dir', `${np} mode set to 0700`);
    return true;
  }
  r.add('ok', 'np dir', `${np} (root, 0700)`);
  return true;
}

async function checkLinks(r: Report, np: string, ncalrpcNp: string, libexec: string, apply: boolean, npExists: boolean): Promise<void> {
  let pipes: string[];
  try {
    pipes = await listSambaPipes(libexec);
  } catch (e) {
    r.add('error', 'pipe links', `cannot list Samba's pipes with ${libexec}/rpcd_* --list-interfaces: ${String(e)}`);
    return;
  }
  const links = npExists ? await checkPipeLinks(np, ncalrpcNp, pipes) : pipes.map((pipe) => ({ pipe, path: join(np, pipe), target: join(ncalrpcNp, pipe), state: 'missing' as const }));
  const bad = links.filter((l) => l.state !== 'ok');
  for (const l of links.filter((x) => x.state === 'not-a-link')) {
    r.add('error', 'pipe links', `${l.path} exists and is not a symlink; move it away (it should point at ${l.target})`);
  }
  const fixable = bad.filter((l) => l.state !== 'not-a-link');
  if (fixable.length === 0) {
    if (bad.length === 0) r.add('ok', 'pipe links', `${links.length} pipes linked to ${ncalrpcNp}`);
    return;
  }
  if (apply && npExists) {
    await fixPipeLinks(fixable);
    r.add('fixed', 'pipe links', `linked ${fixable.map((l) => l.pipe).join(' ')} → ${ncalrpcNp}`);
  } else {
    r.add('missing', 'pipe links', `no symlink for ${fixable.map((l) => l.pipe).join(' ')} (ln -s ${ncalrpcNp}/<pipe> ${np}/<pipe>; or --apply)`);
  }
}

/**
 * The Python helper that makes registry edits and btrfs ioctls fast (python3-samba, a dependency
 * of samba). Without it everything still works through Samba's tools, 40–60 ms a call.
 */
async function checkHelper(r: Report, exec: Exec): Promise<void> {
  const py = await exec(DEFAULT_PYTHON, ['-I', '-c', 'import samba.samba3.smbconf, samba.smbconf, samba.messaging, samba.param, tdb']);
  if (py.code === 0) r.add('ok', 'helper', `${DEFAULT_PYTHON} with Samba's Python bindings: registry shares and btrfs ioctls take about 1 ms`);
  else {
    r.add('info', 'helper', `${DEFAULT_PYTHON} cannot import Samba's Python bindings (Debian package python3-samba): `
      + `publishing falls back to net conf, testparm and sharesec (40–60 ms a call): ${(py.stderr.trim().split('\n').pop() ?? '').slice(0, 200)}`);
  }
}

/** Reports how the share at `path` can be shadow-copied; true when it is on btrfs. */
async function checkShare(r: Report, name: string, path: string): Promise<boolean> {
  let st;
  try {
    st = await stat(path);
  } catch {
    r.add('error', `share ${name}`, `path ${path} does not exist`);
    return false;
  }
  const fs = await statfs(path);
  if (fs.type === BTRFS_SUPER_MAGIC) {
    if (st.ino === 256) r.add('ok', `share ${name}`, `${path} is a btrfs subvolume (snapshots)`);
    else r.add('info', `share ${name}`, `${path} is on btrfs but not a subvolume root: snapshots would be of the enclosing subvolume, or use the copy backend`);
    return true;
  }
  const probe = join(path, `.fsrvpd-doctor-${process.pid}`);
  try {
    await writeFile(probe, 'x');
    await copyFile(probe, `${probe}.clone`, fsc.COPYFILE_FICLONE_FORCE);
    r.add('ok', `share ${name}`, `${path} supports reflink copies (copy backend, cheap)`);
  } catch {
    r.add('info', `share ${name}`, `${path}: no btrfs subvolume and no reflinks; only full copies are possible`);
  } finally {
    await rm(probe, { force: true });
    await rm(`${probe}.clone`, { force: true });
  }
  return false;
}

/** Inspects the host; with apply, fixes what doctor may fix. */
export async function inspect(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const exec = opts.exec ?? execTool;
  const apply = opts.apply === true;
  const r = new Report();
  const build = parseSambaBuild((await exec('smbd', ['-b'])).stdout);
  const config = opts.config ?? build.configFile ?? '/etc/samba/smb.conf';

  const ver = await exec('smbd', ['-V']);
  const v = parseSambaVersion(ver.stdout);
  if (!v) r.add('error', 'samba', `cannot run smbd -V: ${ver.stderr.trim() || ver.stdout.trim()}`);
  else {
    const level = npaLevelFor(v);
    const text = ver.stdout.trim().replace(/^Version\s+/, '');
    if (level) r.add('ok', 'samba', `${text} (named_pipe_auth level ${level})`);
    else r.add('error', 'samba', `${text}: its named_pipe_auth level is not supported (need 4.17.9+, 4.18.3+, 4.19 or 4.20+)`);
  }

  const tp = await exec('testparm', ['-s', '-v', config]);
  if (tp.code !== 0) {
    r.add('error', 'testparm', `testparm -s ${config} failed: ${tp.stderr.trim().split('\n').slice(-3).join(' ')}`);
    return { config, findings: r.findings, confLines: r.confLines, healthy: false };
  }
  r.add('ok', 'testparm', `${config} parses`);
  const sections = parseTestparm(tp.stdout);
  const g = sections.get('global') ?? new Map<string, string>();
  let raw = new Map<string, string>();
  try {
    raw = rawGlobals(await readFile(config, 'utf8'));
  } catch (e) {
    r.add('error', 'smb.conf', `cannot read ${config}: ${String(e)}`);
  }
  const registryBacked = raw.get('include')?.toLowerCase() === 'registry' || raw.get('configbackend')?.toLowerCase() === 'registry'
    || g.get('configbackend')?.toLowerCase() === 'registry';
  const setLater: Array<[check: string, param: string, value: string]> = [];

  if (yes(g.get('registryshares'))) r.add('ok', 'registry shares', 'registry shares = yes');
  else {
    r.add('missing', 'registry shares', 'exposed shadow copies are registry shares: registry shares = yes');
    setLater.push(['registry shares', 'registry shares', 'yes']);
  }

  const configured = g.get('external_rpc_pipe:socket_dir');
  const socketDir = opts.socketDir ?? configured ?? DEFAULT_SOCKET_DIR;
  if (configured === undefined) {
    r.add('missing', 'socket dir', `smbd must send pipes to fsrvpd: external_rpc_pipe:socket_dir = ${socketDir}`);
    setLater.push(['socket dir', 'external_rpc_pipe:socket_dir', socketDir]);
  } else if (configured !== socketDir) {
    r.add('error', 'socket dir', `smb.conf has external_rpc_pipe:socket_dir = ${configured}, fsrvpd uses ${socketDir}`);
  } else {
    r.add('ok', 'socket dir', `external_rpc_pipe:socket_dir = ${configured}`);
  }

  const ncalrpcNp = join(g.get('ncalrpcdir') ?? '/run/samba/ncalrpc', 'np');
  const onDemand = g.get('rpcstartondemandhelpers');
  const dcerpcdUp = await stat(join(ncalrpcNp, 'srvsvc')).then((s) => s.isSocket(), () => false);
  if (yes(onDemand) || onDemand === undefined) r.add('info', 'samba-dcerpcd', `started on demand by smbd (rpc start on demand helpers = yes)${dcerpcdUp ? ', running now' : ''}`);
  else if (dcerpcdUp) r.add('ok', 'samba-dcerpcd', `running standalone (sockets in ${ncalrpcNp})`);
  else r.add('error', 'samba-dcerpcd', `rpc start on demand helpers = no, but nothing serves ${ncalrpcNp}/srvsvc: start samba-dcerpcd`);

  const np = join(socketDir, 'np');
  const npOk = await checkNpDir(r, np, apply);
  await checkLinks(r, np, ncalrpcNp, opts.libexecDir ?? DEFAULT_LIBEXEC, apply, npOk);
  const sock = join(np, DEFAULT_PIPE);
  const sockUp = await lstat(sock).then((s) => s.isSocket(), () => false);
  r.add('info', 'fsrvpd', sockUp ? `${sock} exists (fsrvpd listening)` : `${sock} absent (fsrvpd not running)`);

  if (raw.get('include')?.toLowerCase() === 'registry' || raw.get('configbackend')?.toLowerCase() === 'registry') {
    r.add('ok', 'include = registry', 'registry settings are read');
  } else {
    r.add('missing', 'include = registry', 'add `include = registry` as the last line of [global]');
  }

  await checkHelper(r, exec);

  let btrfsShares = 0;
  let copyShares = 0;
  for (const [name, params] of sections) {
    if (name === 'global' || name.includes('@{') || ['ipc$', 'homes', 'printers', 'print$'].includes(name)) continue;
    const path = params.get('path');
    if (!path || yes(params.get('printable')) || yes(params.get('printok'))) continue;
    if (await checkShare(r, name, path)) btrfsShares++;
    else copyShares++;
    const missingVfs = missingVfsModules(params.get('vfsobjects'), build, existsSync);
    if (missingVfs.length > 0) {
      r.add('error', `share ${name}`, `vfs objects ${missingVfs.join(', ')} not installed in ${build.modulesDir}/vfs `
        + '(Debian package samba-vfs-modules): smbd refuses connections to the share and to its shadow copies');
    }
  }

  if (btrfsShares > 0) {
    const tool = await exec('btrfs', ['--version']);
    if (tool.code === 0) r.add('ok', 'btrfs tool', tool.stdout.trim());
    else r.add('error', 'btrfs tool', 'btrfs shares need the btrfs tool (Debian package btrfs-progs) to identify and list snapshots');
  }

  if (copyShares > 0 && (await exec('getfattr', ['--version'])).code !== 0) {
    r.add('info', 'attr tools', 'getfattr/setfattr missing (Debian package attr): copies of non-btrfs shares will not carry '
      + 'extended attributes (POSIX ACLs, Samba NT ACLs, DOS attributes)');
  }

  if (apply && registryBacked && setLater.length > 0) {
    for (const [check, k, val] of setLater) {
      const s = await exec('net', ['-s', config, 'conf', 'setparm', 'global', k, val]);
      if (s.code === 0) r.resolve(check, 'fixed', `net conf setparm global "${k}" "${val}"`);
      else r.resolve(check, 'error', `net conf setparm global "${k}" failed: ${s.stderr.trim()}`);
    }
    await exec('smbcontrol', ['-s', config, 'smbd', 'reload-config']);
  } else {
    for (const [, k, val] of setLater) r.confLines.push(`${k} = ${val}`);
  }
  if (r.findings.some((f) => f.check === 'include = registry' && f.status === 'missing')) r.confLines.push('include = registry');

  const healthy = !r.findings.some((f) => f.status === 'missing' || f.status === 'error');
  return { config, findings: r.findings, confLines: r.confLines, healthy };
}

/** Renders a report as the CLI prints it. */
export function formatReport(rep: DoctorReport): string {
  const tag: Record<Status, string> = { ok: 'ok', info: 'info', missing: 'MISSING', error: 'ERROR', fixed: 'fixed' };
  const lines = [`fsrvpd doctor: ${rep.config}`];
  for (const f of rep.findings) lines.push(`  ${tag[f.status].padEnd(8)} ${f.check}: ${f.detail}`);
  if (rep.confLines.length > 0) {
    lines.push('', `Add to [global] of ${rep.config} (then: smbcontrol smbd reload-config):`);
    for (const l of rep.confLines) lines.push(`  ${l}`);
  }
  lines.push('', rep.healthy ? 'Samba is ready for fsrvpd.' : 'Samba is not ready for fsrvpd yet.');
  return lines.join('\n');
}

const USAGE = 'usage: fsrvpd doctor [--apply] [--config smb.conf] [--socket-dir DIR] [--agent-config FILE [--auth-only]]\n'
  + '  --agent-config FILE  also report which authentication mechanisms of this agent configuration\n'
  + '                       will work here and why not (keytab, clock skew, winbind, passdb, levels),\n'
  + '                       and whether its snapshot hooks answer and serve the shares that name them\n'
  + '  --auth-only          only the mechanisms report (no Samba or hook checks)';

/** The `fsrvpd doctor` subcommand. Returns the exit code: 0 healthy, 1 not, 2 usage error. */
export async function runDoctor(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  let apply = false;
  let authOnly = false;
  const values: Record<'--config' | '--socket-dir' | '--agent-config', string | undefined> = { '--config': undefined, '--socket-dir': undefined, '--agent-config': undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const key = (eq >= 0 ? a.slice(0, eq) : a) as keyof typeof values;
    if (a === '--apply') apply = true;
    else if (a === '--auth-only') authOnly = true;
    else if (key in values) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') {
        out(`${key} needs a value\n${USAGE}`);
        return 2;
      }
      values[key] = v;
    } else if (a === '--help' || a === '-h') {
      out(USAGE);
      return 0;
    } else {
      out(`unknown argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  const agentConfig = values['--agent-config'];
  if (authOnly && agentConfig === undefined) {
    out(`--auth-only needs --agent-config\n${USAGE}`);
    return 2;
  }
  let healthy = true;
  if (!authOnly) {
    const config = values['--config'];
    const socketDir = values['--socket-dir'];
    const rep = await inspect({ apply, ...(config !== undefined ? { config } : {}), ...(socketDir !== undefined ? { socketDir } : {}) });
    out(formatReport(rep));
    healthy = rep.healthy;
  }
  if (agentConfig !== undefined) {
    const { loadConfig } = await import('./config.js');
    const { inspectMechanisms, formatMechanisms } = await import('./doctor-auth.js');
    const { mechanismProbes } = await import('./doctor-probes.js');
    const parsed = loadConfig(agentConfig);
    const findings = await inspectMechanisms(parsed, mechanismProbes(execTool));
    out(`${authOnly ? '' : '\n'}${formatMechanisms(agentConfig, findings)}`);
    healthy &&= !findings.some((f) => f.status === 'error' || f.status === 'missing');
    if (!authOnly && parsed.storage.hooks && Object.keys(parsed.storage.hooks).length > 0) {
      const { inspectHooks, formatHooks } = await import('./doctor-hooks.js');
      const hooks = await inspectHooks(parsed);
      out(`\n${formatHooks(agentConfig, hooks)}`);
      healthy &&= !hooks.some((f) => f.status === 'error');
    }
  }
  return healthy ? 0 : 1;
}
