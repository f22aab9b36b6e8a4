/** Mount table (Linux /proc/self/mountinfo) and filesystem-type helpers. */
import { readFileSync, statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, sep } from 'node:path';

/** statfs f_type values. */
export const FS_MAGIC = {
  btrfs: 0x9123683e,
  xfs: 0x58465342,
  ext4: 0xef53,
  tmpfs: 0x01021994,
} as const;

export interface MountEntry {
  readonly mountPoint: string;
  /** Root of the mount within its filesystem (e.g. `/share` for a btrfs `subvol=share` mount). */
  readonly root: string;
  readonly fsType: string;
  readonly source: string;
  /** `major:minor` of the filesystem (the same for every mount of one btrfs filesystem). */
  readonly device: string;
}

/** Undoes mountinfo's octal escapes (`\040` for a space, …). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    if (l.length < 5 || r.length < 2) continue;
    out.push({
      device: l[2]!,
      root: unescapeMountField(l[3]!),
      mountPoint: unescapeMountField(l[4]!),
      fsType: r[0]!,
      source: unescapeMountField(r[1]!),
    });
  }
  return out;
}

/** The last text read and its parse: the table rarely changes, and comparing is cheaper than parsing. */
let lastMounts: { readonly text: string; readonly entries: readonly MountEntry[] } | undefined;

/** The read made in the current synchronous run of code, until the next microtask. */
let thisRun: Promise<readonly MountEntry[]> | undefined;

/**
 * The current mount table, read fresh for each run of code. Read synchronously on purpose: the
 * kernel generates this file in memory (it never waits on a disk), and one read call is much
 * cheaper than the four thread-pool round trips of an async read; it is on the
 * Add/Prepare/Commit path. Calls before the next microtask share one read (about 50 us each
 * here): the volumes of one Commit start their snapshots in one loop. The parse of an unchanged
 * text is reused.
 */
export function readMounts(): Promise<readonly MountEntry[]> {
  if (thisRun) return thisRun;
  try {
    const text = readFileSync('/proc/self/mountinfo', 'utf8');
    if (lastMounts?.text !== text) lastMounts = { text, entries: parseMountInfo(text) };
    thisRun = Promise.resolve(lastMounts.entries);
  } catch (e) {
    thisRun = Promise.reject(e);
    thisRun.catch(() => undefined);
  }
  queueMicrotask(() => {
    thisRun = undefined;
  });
  return thisRun;
}

/** Whether `a` is `b` or inside it (both absolute and normalised). */
export function isInside(a: string, b: string): boolean {
  if (a === b) return true;
  const base = b.endsWith(sep) ? b : b + sep;
  return a.startsWith(base);
}

/** The mount that holds the (real, absolute) path: the longest mount point that contains it; later mounts win ties. */
export function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    if (isInside(path, m.mountPoint) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export async function isMountPoint(path: string, mounts?: readonly MountEntry[]): Promise<boolean> {
  const list = mounts ?? (await readMounts());
  return list.some((m) => m.mountPoint === path);
}

/** Local filesystems: a statfs or stat there never waits on a network. */
export const LOCAL_FS: ReadonlySet<number> = new Set<number>([FS_MAGIC.btrfs, FS_MAGIC.xfs, FS_MAGIC.ext4, FS_MAGIC.tmpfs]);

/** How long a path stays known as local after an asynchronous statfs said so, ms. */
const KNOWN_LOCAL_MS = 5000;
const KNOWN_LOCAL_MAX = 1024;
/** Paths an asynchronous statfs found on a local filesystem, with when that stops counting. */
const knownLocal = new Map<string, number>();

/**
 * The statfs filesystem type number of `path`. The first call for a path, and the first after
 * KNOWN_LOCAL_MS, is asynchronous: a path on a hung network filesystem must not block the event
 * loop. When that call finds a local filesystem, the following calls for the same path within the
 * window are synchronous: one thread-pool round trip less on every Add, for a path that was
 * local a moment ago.
 */
export async function fsTypeOf(path: string): Promise<number> {
  const until = knownLocal.get(path);
  if (until !== undefined && Date.now() < until) {
    const type = statfsSync(path).type;
    if (!LOCAL_FS.has(type)) knownLocal.delete(path);
    return type;
  }
  const type = (await statfs(path)).type;
  if (LOCAL_FS.has(type)) {
    if (knownLocal.size >= KNOWN_LOCAL_MAX) knownLocal.clear();
    knownLocal.set(path, Date.now() + KNOWN_LOCAL_MS);
  } else {
    knownLocal.delete(path);
  }
  return type;
}

/** Whether a recent asynchronous statfs found `path` on a local filesystem (see fsTypeOf). */
export function isKnownLocal(path: string): boolean {
  const until = knownLocal.get(path);
  return until !== undefined && Date.now() < until;
}

/** `path` or its nearest existing ancestor (for a snapshot directory that does not exist yet). */
export async function nearestExisting(path: string): Promise<string> {
  let p = path;
  for (;;) {
    try {
      await statfs(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}
