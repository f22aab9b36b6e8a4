/**
 * One step of the directory walk (tree-walk.ts), shared by the walk on the main thread and its
 * worker threads (tree-walk-worker.ts): the rules, the verdict on one listed entry, and a slice
 * of the walk that runs on synchronous calls until it has visited a given number of entries.
 * Imports nothing heavy: a worker loads only this.
 */
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { Refusal } from './backend.js';

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
  | 'location'
  | 'backend';

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

export function errnoOf(e: unknown): string {
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
export const SLICE_MS = 10;
/** … or after this many entries (a power of two), whichever comes first. */
export const SLICE_ENTRIES = 1024;
export const LSTAT_OPTS = { throwIfNoEntry: false } as const;
export const READDIR_OPTS = { withFileTypes: true } as const;
const SYMLINK_REASON = 'symbolic links are not allowed in a shadow-copied share';

export interface Pending { readonly path: string; readonly depth: number }

/** What to do with one entry: its type decided from the dirent or from a stat. */
export type Verdict = PolicyRefusal | 'dir' | undefined;

export function judge(path: string, st: Stats | Dirent, stat: Stats | undefined, depth: number, rootDev: number, r: WalkRules): Verdict {
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
export function needsStat(e: Dirent, r: WalkRules): boolean {
  if (e.isFile()) return r.refuseHardLinks;
  if (e.isDirectory()) return r.statDirs;
  // Symbolic links and special files are decided by their type; DT_UNKNOWN needs a stat.
  return !(e.isSymbolicLink() || e.isFIFO() || e.isSocket() || e.isBlockDevice() || e.isCharacterDevice());
}

export function tooMany(dirPath: string, max: number): PolicyRefusal {
  return refusal('too-many-entries', dirPath,
    `more than ${max} entries below the share root; the directory-structure check stops there (raise maxEntries)`);
}

/**
 * Decides one listed entry (`path` is its full path), with an lstat when its type does not
 * decide it: 'dir' to walk it, a refusal, 'gone' (removed meanwhile) or undefined (fine).
 */
export function visitEntry(e: Dirent, path: string, depth: number, rootDev: number, r: WalkRules, statPath = path): Verdict | 'gone' {
  let stat: Stats | undefined;
  if (needsStat(e, r)) {
    try {
      stat = lstatSync(statPath, LSTAT_OPTS);
    } catch (err) {
      return refusal('unreadable', path, `cannot stat: ${errnoOf(err)}`);
    }
    if (stat === undefined) return 'gone';
  }
  return judge(path, stat ?? e, stat, depth, rootDev, r);
}

/**
 * Lists a directory: its entries, undefined when it was removed meanwhile, or a refusal. `enter`:
 * make it the current directory first (only in a walk process of its own), so that each entry
 * is then stat'ed by its name alone — the kernel resolves one component instead of the whole
 * path, as `find` does with fstatat.
 */
export function listDir(dirPath: string, depth: number, enter = false): Dirent[] | PolicyRefusal | undefined {
  try {
    if (enter) process.chdir(dirPath);
    // One call per directory: about half the cost of opendir + Dir.readSync per entry.
    return readdirSync(enter ? '.' : dirPath, READDIR_OPTS);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' && depth > 0) return undefined; // removed while walking
    return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
  }
}

export interface SliceResult {
  readonly refusal: PolicyRefusal | undefined;
  readonly entries: number;
  readonly rootEntries: number;
}

/**
 * Walks directories from `stack` (taken from its end, subdirectories pushed back) until `budget`
 * entries are visited or the stack is empty; whole directories only. Refuses with too-many-entries
 * past `entriesLeft` entries.
 */
export function walkSlice(stack: Pending[], rootDev: number, r: WalkRules, budget: number, entriesLeft: number, enter = false): SliceResult {
  let entries = 0;
  let rootEntries = 0;
  const done = (found: PolicyRefusal | undefined): SliceResult => ({ refusal: found, entries, rootEntries });
  while (stack.length > 0 && entries < budget) {
    const { path: dirPath, depth } = stack.pop()!;
    const listed = listDir(dirPath, depth, enter);
    if (listed === undefined) continue;
    if (!Array.isArray(listed)) return done(listed);
    if (depth === 0) rootEntries = listed.length;
    const prefix = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
    for (let i = 0; i < listed.length; i++) {
      const e = listed[i]!;
      if (++entries > entriesLeft) return done(tooMany(dirPath, r.maxEntries));
      const path = prefix + e.name;
      const v = visitEntry(e, path, depth, rootDev, r, enter ? e.name : path);
      if (v === 'dir') stack.push({ path, depth: depth + 1 });
      else if (v !== undefined && v !== 'gone') return done(v);
    }
  }
  return done(undefined);
}
