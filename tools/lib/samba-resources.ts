/**
 * What a Samba harness run owns and how it is undone, even after a crash: one run at a time
 * (a lock file that records the run's resources: its temp dir, loop device, mount, process
 * groups and users), a synchronous undo for exit hooks and stale locks, and process-group helpers.
 * Only paths and names a harness creates are ever undone from a record.
 *
 * Two kinds of run share the lock: the standalone smbd harness (samba-harness.ts, temp dir
 * fsrvp-samba-*) and the AD DC harness (samba-addc.ts, temp dir fsrvp-addc-*, a provisioning
 * dir fsrvp-addc-build-* while it builds its template, winbindd's socket dir when it made it).
 * The DC's `samba` daemon renames its processes ("samba: root process", "samba: task[kdc] …"),
 * and smbd and winbindd, which it starts, lead sessions of their own: undo also stops every
 * process group one of whose members runs with the run's own smb.conf on its command line.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export const LOCK = join(existsSync('/run/lock') ? '/run/lock' : tmpdir(), 'fsrvp-samba-harness.lock');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a TCP connection to host:port opens. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Cleanup facts, recorded in the lock file so a later run can undo a crashed one. */
export interface Resources {
  owner: number;
  root?: string;
  loop?: string;
  mount?: string;
  pgids: number[];
  users: string[];
  /** Further temp dirs of the run (the AD DC harness's provisioning dir). */
  dirs?: string[];
  /** Paths outside the temp dirs the run created (winbindd's socket dir of the AD DC). */
  created?: string[];
}

/**
 * Names (in tmpdir(), as mkdtemp makes them) of the dirs an undo may remove; never the AD DC's
 * template cache (fsrvp-addc-cache-<key>), which outlives runs.
 */
const ROOT_PREFIX = /^fsrvp-(samba|addc)-[A-Za-z0-9]{6}$/;
const EXTRA_DIR_PREFIX = /^fsrvp-addc-build-[A-Za-z0-9]{6}$/;
/** The only paths outside tmpdir() a run may record as created by it. */
export const CREATED_PATHS: readonly string[] = ['/run/samba/winbindd'];
/** Commands of the processes a harness starts (the DC's `samba` shows as "samba: …"). */
const SAMBA_PROCESS = /smbd|samba-dcerpcd|rpcd_|winbindd|^samba: |\/sbin\/samba /;

/** Ports in LISTEN state on any address (from /proc/net/tcp{,6}). */
export function listeningOn(port: number): boolean {
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

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live (non-zombie) processes in a process group. */
export function groupMembers(pgid: number): number[] {
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

export function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Only paths and names this harness creates are ever undone from a (possibly stale) record. */
function ours(r: Resources): { root?: string; loop?: string; mount?: string; users: string[]; dirs: string[]; created: string[] } {
  const inTmp = (p: string, re: RegExp): boolean => re.test(basename(p)) && dirname(p) === tmpdir();
  const root = r.root && inTmp(r.root, ROOT_PREFIX) ? r.root : undefined;
  const dirs = (r.dirs ?? []).filter((d) => inTmp(d, EXTRA_DIR_PREFIX));
  const created = (r.created ?? []).filter((p) => CREATED_PATHS.includes(p));
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
  return { ...(root ? { root } : {}), ...(loop ? { loop } : {}), ...(mount ? { mount } : {}), users, dirs, created };
}

/** Process groups with a live member whose command line names `path` (e.g. a run's smb.conf). */
export function groupsUsing(path: string): number[] {
  const out = new Set<number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    if (!commandOf(Number(d)).includes(path)) continue;
    try {
      out.add(processGroupOf(Number(d)));
    } catch {
      // the process went away while we looked
    }
  }
  // never our own group (a tool we run with that smb.conf, or the test runner itself)
  out.delete(processGroupOf(process.pid));
  out.delete(0);
  return [...out];
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Synchronous best-effort undo of recorded resources (exit hook and stale-lock recovery). */
export function undoSync(r: Resources): void {
  const o = ours(r);
  // Every group at once (a daemon outliving its parent for a moment may otherwise recreate files
  // with default paths), then until none is left; daemons of the run in sessions of their own
  // (the DC's smbd, winbindd) are found by the run's smb.conf on their command lines.
  const doomed = (): number[] => {
    const groups = new Set(r.pgids);
    if (o.root) for (const g of groupsUsing(join(o.root, 'smb.conf'))) groups.add(g);
    return [...groups].filter((g) => groupMembers(g).some((p) => SAMBA_PROCESS.test(commandOf(p))));
  };
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let round = 0; round < 30; round++) {
    const left = doomed();
    if (left.length === 0) break;
    for (const g of left) killGroup(g);
    Atomics.wait(nap, 0, 0, 100);
  }
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
  for (const d of [...o.dirs, ...o.created]) rmSync(d, { recursive: true, force: true });
  for (const u of o.users) {
    try {
      execFileSync('userdel', [u], quiet);
    } catch {
      // not there
    }
  }
}

export async function acquireLock(): Promise<Resources> {
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

export function saveLock(r: Resources): void {
  writeFileSync(LOCK, JSON.stringify(r));
}

/** SIGTERM to a process group, SIGKILL after 10 s; waits until no live member remains. */
export async function stopGroup(pgid: number): Promise<void> {
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

/**
 * After a start that failed: stops what was built (`run`, once constructed; its own failure is
 * ignored so the start's error is the one reported), else undoes the recorded resources and
 * releases the lock.
 */
export async function abandonStart(run: { stop(): Promise<void> } | undefined, res: Resources): Promise<void> {
  if (run) {
    await run.stop().catch(() => undefined);
    return;
  }
  undoSync(res);
  rmSync(LOCK, { force: true });
}
