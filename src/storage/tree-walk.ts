/**
 * The directory walk behind the directory-structure policy (policy.ts): visits every entry below
 * a share root once and stops at the first entry that breaks the rules.
 *
 * Cost per entry is what `find -printf '%y %n'` pays and no more: the directory listing gives
 * each entry's type (d_type), so only entries whose rules need more are stat'ed — regular files
 * when their link count matters, directories only when mount points or nested subvolumes are not
 * known from the mount table and the btrfs subvolume list, and entries of unknown type.
 *
 * On a local filesystem the walk lists each directory in one readdirSync call (half the cost of
 * opendir + a Dir.readSync per entry) and runs on synchronous calls (a few µs each instead of a
 * thread-pool round trip), yielding to the event loop every SLICE_MS so other connections are
 * served. Elsewhere it uses the thread pool with a bounded number of stat calls in flight.
 * Memory: the stack of directories still to list, and one listing buffer per open directory.
 */
import { lstatSync, readdirSync, type Dir, type Dirent, type Stats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { dirname } from 'node:path';
import createDebug from 'debug';
import type { Refusal } from './backend.js';

const debug = createDebug('fsrvp:policy');

/** Inode number of every btrfs subvolume root (BTRFS_FIRST_FREE_OBJECTID). */
export const BTRFS_SUBVOLUME_INO = 256;

export type RefusalKind =
  | 'not-a-directory'
  | 'unreadable'
  | 'symlink'
  | 'mount-point'
  | 'nested-subvolume'
  | 'special-file'
  | 'hard-link'
  | 'too-deep'
  | 'too-many-entries'
  | 'empty'
  | 'location';

/** A refusal with a machine-readable kind (a `Refusal` for the FSRVP layer). */
export interface PolicyRefusal extends Refusal {
  readonly kind: RefusalKind;
}

export function refusal(kind: RefusalKind, path: string, reason: string): PolicyRefusal {
  return { kind, path, reason };
}

export const MOUNT_POINT_REASON = 'a mount point (junction) below the share root; its contents would not be part of the shadow copy';
export const SUBVOLUME_REASON = 'a nested btrfs subvolume below the share root; it would be missing (an empty directory) in the snapshot';

/** What the walk checks; every rule is about entries strictly below the root. */
export interface WalkRules {
  /** Deepest allowed directory nesting (Infinity: none). */
  readonly maxDepth: number;
  /** Refuse after this many entries (Infinity: none). */
  readonly maxEntries: number;
  readonly refuseHardLinks: boolean;
  readonly refuseSymlinks: boolean;
  /** Refuse FIFOs, sockets and device nodes. */
  readonly refuseSpecial: boolean;
  /** stat directories to find mount points and nested subvolumes by st_dev (when not known otherwise). */
  readonly statDirs: boolean;
  /** The tree is on btrfs: a directory on another device with inode 256 is a nested subvolume. */
  readonly btrfs: boolean;
  /** Nested subvolumes directly in this directory are snapshots: skipped, not refused. */
  readonly snapshotDir?: string;
}

export interface WalkProgress {
  readonly root: string;
  readonly entries: number;
  readonly elapsedMs: number;
  /** Entries per second so far. */
  readonly rate: number;
}

export interface WalkControl {
  /** Synchronous calls (local filesystem) or the thread pool. */
  readonly sync: boolean;
  /** Called every `progressEntries` entries or `progressMs` ms, whichever comes first, and at the end of a long walk. */
  readonly progress?: (p: WalkProgress) => void;
  /** Default 100,000. */
  readonly progressEntries?: number;
  /** Default 2,000 ms. */
  readonly progressMs?: number;
  /** stat calls in flight on the thread pool (default 16). */
  readonly concurrency?: number;
}

export interface WalkResult {
  readonly refusal: PolicyRefusal | undefined;
  readonly entries: number;
  readonly rootEntries: number;
  readonly elapsedMs: number;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

function specialKind(st: Stats | Dirent): string | undefined {
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return undefined;
}

/** A synchronous walk yields to the event loop after about this long. */
const SLICE_MS = 10;
/** … or after this many entries (a power of two), whichever comes first. */
const SLICE_ENTRIES = 1024;
const LSTAT_OPTS = { throwIfNoEntry: false } as const;
const READDIR_OPTS = { withFileTypes: true } as const;
const SYMLINK_REASON = 'symbolic links are not allowed in a shadow-copied share';

interface Pending { readonly path: string; readonly depth: number }

/** What to do with one entry: its type decided from the dirent or from a stat. */
type Verdict = PolicyRefusal | 'dir' | undefined;

function judge(path: string, st: Stats | Dirent, stat: Stats | undefined, depth: number, rootDev: number, r: WalkRules): Verdict {
  if (st.isSymbolicLink()) return r.refuseSymlinks ? refusal('symlink', path, SYMLINK_REASON) : undefined;
  if (st.isDirectory()) {
    if (stat !== undefined && stat.dev !== rootDev) {
      if (r.btrfs && stat.ino === BTRFS_SUBVOLUME_INO) {
        if (r.snapshotDir !== undefined && dirname(path) === r.snapshotDir) return undefined;
        return refusal('nested-subvolume', path, SUBVOLUME_REASON);
      }
      return refusal('mount-point', path, MOUNT_POINT_REASON);
    }
    const childDepth = depth + 1;
    if (childDepth > r.maxDepth) {
      return refusal('too-deep', path, `directory depth ${childDepth} exceeds the maximum of ${r.maxDepth} (shadowcopy-dir-depth)`);
    }
    return 'dir';
  }
  if (st.isFile()) {
    if (stat !== undefined && r.refuseHardLinks && stat.nlink > 1) {
      return refusal('hard-link', path, `a hard-linked file (${stat.nlink} links); hard links are not allowed in a shadow-copied share`);
    }
    return undefined;
  }
  const special = specialKind(st);
  if (special && r.refuseSpecial) return refusal('special-file', path, `${special}; only regular files and directories are allowed`);
  return undefined;
}

/** Whether the dirent alone does not decide the entry (a stat is needed). */
function needsStat(e: Dirent, r: WalkRules): boolean {
  if (e.isFile()) return r.refuseHardLinks;
  if (e.isDirectory()) return r.statDirs;
  // Symbolic links and special files are decided by their type; DT_UNKNOWN needs a stat.
  return !(e.isSymbolicLink() || e.isFIFO() || e.isSocket() || e.isBlockDevice() || e.isCharacterDevice());
}

class Counter {
  entries = 0;
  rootEntries = 0;
  private readonly t0 = performance.now();
  private nextAt: number;
  private nextMs: number;
  private reported = false;
  constructor(private readonly root: string, private readonly c: WalkControl) {
    this.nextAt = c.progressEntries ?? 100_000;
    this.nextMs = this.t0 + (c.progressMs ?? 2000);
  }
  elapsed(): number {
    return performance.now() - this.t0;
  }
  /** Called every 256 entries (and at the end). */
  tick(final = false): void {
    const now = performance.now();
    if (!final && this.entries < this.nextAt && now < this.nextMs) return;
    if (final && !this.reported) return;
    this.reported = true;
    this.nextAt = this.entries + (this.c.progressEntries ?? 100_000);
    this.nextMs = now + (this.c.progressMs ?? 2000);
    const elapsedMs = now - this.t0;
    const rate = elapsedMs > 0 ? Math.round(this.entries / (elapsedMs / 1000)) : 0;
    debug('walk %s: %d entries in %d ms (%d entries/s)%s', this.root, this.entries, Math.round(elapsedMs), rate, final ? ', done' : '');
    this.c.progress?.({ root: this.root, entries: this.entries, elapsedMs, rate });
  }
}

/** Walks below `top` (a directory on device `rootDev`); returns the first refusal, if any. */
export async function walkTree(top: string, rootDev: number, rules: WalkRules, control: WalkControl): Promise<WalkResult> {
  const count = new Counter(top, control);
  const found = control.sync ? await walkSync(top, rootDev, rules, count) : await walkAsync(top, rootDev, rules, count, control.concurrency ?? 16);
  count.tick(true);
  return { refusal: found, entries: count.entries, rootEntries: count.rootEntries, elapsedMs: count.elapsed() };
}

function tooMany(dirPath: string, max: number): PolicyRefusal {
  return refusal('too-many-entries', dirPath,
    `more than ${max} entries below the share root; the directory-structure check stops there (raise maxEntries)`);
}

async function walkSync(top: string, rootDev: number, r: WalkRules, count: Counter): Promise<PolicyRefusal | undefined> {
  const stack: Pending[] = [{ path: top, depth: 0 }];
  let sliceEnd = performance.now() + SLICE_MS;
  while (stack.length > 0) {
    const { path: dirPath, depth } = stack.pop()!;
    let entries: Dirent[];
    try {
      // One call per directory: about half the cost of opendir + Dir.readSync per entry.
      entries = readdirSync(dirPath, READDIR_OPTS);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' && depth > 0) continue; // removed while walking
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    }
    const prefix = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
    if (depth === 0) count.rootEntries = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (++count.entries > r.maxEntries) return tooMany(dirPath, r.maxEntries);
      if ((count.entries & 255) === 0) {
        count.tick();
        if ((count.entries & (SLICE_ENTRIES - 1)) === 0 || performance.now() > sliceEnd) {
          await new Promise<void>((res) => setImmediate(res));
          sliceEnd = performance.now() + SLICE_MS;
        }
      }
      const path = prefix + e.name;
      let stat: Stats | undefined;
      if (needsStat(e, r)) {
        try {
          stat = lstatSync(path, LSTAT_OPTS);
        } catch (err) {
          return refusal('unreadable', path, `cannot stat: ${errnoOf(err)}`);
        }
        if (stat === undefined) continue; // removed while walking
      }
      const v = judge(path, stat ?? e, stat, depth, rootDev, r);
      if (v === 'dir') stack.push({ path, depth: depth + 1 });
      else if (v !== undefined) return v;
    }
  }
  return undefined;
}

async function walkAsync(top: string, rootDev: number, r: WalkRules, count: Counter, concurrency: number): Promise<PolicyRefusal | undefined> {
  const stack: Pending[] = [{ path: top, depth: 0 }];
  while (stack.length > 0) {
    const { path: dirPath, depth } = stack.pop()!;
    let dir: Dir;
    try {
      dir = await opendir(dirPath, { bufferSize: 256 });
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' && depth > 0) continue;
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    }
    const prefix = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
    // Entries that need a stat are stat'ed in batches of `concurrency`, in listing order.
    let batch: Array<{ path: string; entry: Dirent }> = [];
    const flush = async (): Promise<PolicyRefusal | undefined> => {
      const stats = await Promise.all(batch.map((b) => lstat(b.path).catch((err: unknown) => err as NodeJS.ErrnoException)));
      const items = batch;
      batch = [];
      for (let i = 0; i < items.length; i++) {
        const { path } = items[i]!;
        const st = stats[i]!;
        if (!(st instanceof Object && 'dev' in st)) {
          if (errnoOf(st) === 'ENOENT') continue;
          return refusal('unreadable', path, `cannot stat: ${errnoOf(st)}`);
        }
        const v = judge(path, st as Stats, st as Stats, depth, rootDev, r);
        if (v === 'dir') stack.push({ path, depth: depth + 1 });
        else if (v !== undefined) return v;
      }
      return undefined;
    };
    try {
      for (let e = await dir.read(); e !== null; e = await dir.read()) {
        if (depth === 0) count.rootEntries++;
        if (++count.entries > r.maxEntries) return tooMany(dirPath, r.maxEntries);
        if ((count.entries & 255) === 0) count.tick();
        const path = prefix + e.name;
        if (needsStat(e, r)) {
          batch.push({ path, entry: e });
          if (batch.length >= concurrency) {
            const v = await flush();
            if (v) return v;
          }
          continue;
        }
        const v = judge(path, e, undefined, depth, rootDev, r);
        if (v === 'dir') stack.push({ path, depth: depth + 1 });
        else if (v !== undefined) return v;
      }
      const v = await flush();
      if (v) return v;
    } catch (e) {
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    } finally {
      await dir.close().catch(() => undefined);
    }
  }
  return undefined;
}
