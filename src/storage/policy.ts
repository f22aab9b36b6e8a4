/**
 * Directory-structure policy checked before a share is added to a shadow copy set, modelled on
 * NetApp ONTAP's Remote VSS limits (no junctions, a maximum directory depth — the CIFS option
 * `shadowcopy-dir-depth`, default 5 — because it clones files) and on Hitachi NAS (only plain
 * files and directories, no hard links). MS-FSRVP itself requires refusing mount points below
 * the share root (AddToShadowCopySet → FSRVP_E_NOT_SUPPORTED).
 *
 * The walk is iterative and bounded: it stops at the first refusal and after `maxEntries`
 * entries.
 */
import { lstatSync, opendirSync, realpathSync, type Dir, type Dirent, type Stats } from 'node:fs';
import { lstat, opendir, realpath, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Refusal } from './backend.js';
import { isInside, readMounts, type MountEntry } from './mounts.js';

/** Inode number of every btrfs subvolume root (BTRFS_FIRST_FREE_OBJECTID). */
export const BTRFS_SUBVOLUME_INO = 256;

export interface PolicyOptions {
  /**
   * Deepest allowed directory nesting below the share root: a directory at `root/d1/…/dN` has
   * depth N. Files do not count. ONTAP `shadowcopy-dir-depth`; default 5.
   */
  readonly maxDepth: number;
  /** Refuse regular files with more than one link (ONTAP/Hitachi clone files and cannot keep them). */
  readonly refuseHardLinks: boolean;
  /** Refuse symbolic links. */
  readonly refuseSymlinks: boolean;
  /** Stop (and refuse) after visiting this many entries. */
  readonly maxEntries: number;
  /** Refuse a share root that has no entries at all (Hitachi). */
  readonly refuseEmpty: boolean;
  /** The share lives on btrfs: a directory on another device below the root is a nested subvolume. */
  readonly btrfs: boolean;
  /** A directory whose nested subvolumes are snapshots (shadow:snapdir inside the share): skipped, not refused. */
  readonly snapshotDir?: string;
}

export const DEFAULT_POLICY: PolicyOptions = {
  maxDepth: 5,
  refuseHardLinks: true,
  refuseSymlinks: true,
  maxEntries: 100_000,
  refuseEmpty: false,
  btrfs: false,
};

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

function specialKind(st: Stats): string | undefined {
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return undefined;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** Filesystems whose metadata calls never wait on a network: walked with synchronous calls. */
const LOCAL_FS = new Set([0x9123683e /* btrfs */, 0x58465342 /* xfs */, 0xef53 /* ext2/3/4 */, 0x01021994 /* tmpfs */]);
/** Entries a synchronous walk visits before it yields to the event loop (about a millisecond). */
const SLICE = 512;

/**
 * How the walk reads the tree. On a local filesystem it uses synchronous calls: a few µs per
 * entry instead of a thread-pool round trip (tens of µs), yielding every SLICE entries so other
 * connections are served. It never stats a mount below the root (those are refused from the
 * mount table first), so it cannot block on a network filesystem mounted inside the share.
 */
interface WalkIo {
  open(path: string): Dir | Promise<Dir>;
  next(dir: Dir): Dirent | null | Promise<Dirent | null>;
  lstat(path: string): Stats | Promise<Stats>;
  close(dir: Dir): void | Promise<void>;
}

const SYNC_IO: WalkIo = {
  open: (p) => opendirSync(p, { bufferSize: 256 }),
  next: (d) => d.readSync(),
  lstat: (p) => lstatSync(p),
  close: (d) => d.closeSync(),
};

const ASYNC_IO: WalkIo = {
  open: (p) => opendir(p, { bufferSize: 256 }),
  next: (d) => d.read(),
  lstat: (p) => lstat(p),
  close: (d) => d.close(),
};

/** The first mount point strictly below `top` in this process's mount table, if any. */
async function mountBelow(top: string, mounts: readonly MountEntry[] | undefined): Promise<string | undefined> {
  // Without procfs the walk's st_dev test still finds mount points.
  const list = mounts ?? (await readMounts().catch(() => []));
  return list.map((m) => m.mountPoint).find((m) => m !== top && isInside(m, top));
}

export interface WalkOptions {
  /**
   * true: the caller knows `root` is on a local filesystem, use synchronous calls throughout;
   * false: never; default: decided by the root's filesystem type (see WalkIo).
   */
  readonly sync?: boolean;
  /** The mount table, when the caller has just read it. */
  readonly mounts?: readonly MountEntry[];
}

/**
 * Walks the tree below `root` and returns the first entry that breaks the policy, or undefined
 * when the whole tree is acceptable.
 */
export async function checkTree(
  root: string, options: Partial<PolicyOptions> = {}, walk: WalkOptions = {},
): Promise<PolicyRefusal | undefined> {
  const opts: PolicyOptions = { ...DEFAULT_POLICY, ...options };
  let top: string;
  let rootStat: Stats;
  let local: boolean;
  try {
    if (walk.sync === true) {
      top = realpathSync.native(root);
      rootStat = lstatSync(top);
      local = true;
    } else {
      top = await realpath(root);
      let fsType: number;
      [rootStat, fsType] = await Promise.all([lstat(top), statfs(top).then((f) => f.type)]);
      local = walk.sync === undefined && LOCAL_FS.has(fsType);
    }
  } catch (e) {
    return refusal('unreadable', root, `cannot read the share root: ${errnoOf(e)}`);
  }
  if (!rootStat.isDirectory()) return refusal('not-a-directory', root, 'the share root is not a directory');
  const mount = await mountBelow(top, walk.mounts);
  if (mount !== undefined) {
    return refusal('mount-point', mount, 'a mount point (junction) below the share root; its contents would not be part of the shadow copy');
  }
  const io = local ? SYNC_IO : ASYNC_IO;

  const stack: Array<{ path: string; depth: number }> = [{ path: top, depth: 0 }];
  let visited = 0;
  let rootEntries = 0;
  while (stack.length > 0) {
    const { path: dirPath, depth } = stack.pop()!;
    let dir: Dir;
    try {
      dir = await io.open(dirPath);
    } catch (e) {
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    }
    try {
      for (let entry = await io.next(dir); entry !== null; entry = await io.next(dir)) {
        if (depth === 0) rootEntries++;
        if (++visited > opts.maxEntries) {
          return refusal('too-many-entries', dirPath,
            `more than ${opts.maxEntries} entries below the share root; the directory-structure check stops there (raise maxEntries)`);
        }
        if (io === SYNC_IO && visited % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
        const path = join(dirPath, entry.name);
        const found = await checkEntry(io, path, entry, depth, rootStat, opts, stack);
        if (found) return found;
      }
    } catch (e) {
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    } finally {
      await Promise.resolve(io.close(dir)).catch(() => undefined);
    }
  }
  if (opts.refuseEmpty && rootEntries === 0) return refusal('empty', top, 'the share root is empty');
  return undefined;
}

/** Checks one directory entry; pushes directories to walk onto `stack`. */
async function checkEntry(
  io: WalkIo, path: string, entry: Dirent, depth: number, rootStat: Stats, opts: PolicyOptions,
  stack: Array<{ path: string; depth: number }>,
): Promise<PolicyRefusal | undefined> {
  if (entry.isSymbolicLink()) {
    return opts.refuseSymlinks ? refusal('symlink', path, 'symbolic links are not allowed in a shadow-copied share') : undefined;
  }
  // A regular file reported by d_type needs no lstat unless its link count matters.
  if (entry.isFile() && !opts.refuseHardLinks) return undefined;
  // lstat every other entry: directories need st_dev/st_ino, files st_nlink, and a
  // filesystem without d_type reports DT_UNKNOWN.
  let st: Stats;
  try {
    st = await io.lstat(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined; // removed while walking
    return refusal('unreadable', path, `cannot stat: ${errnoOf(e)}`);
  }
  if (st.isSymbolicLink()) {
    return opts.refuseSymlinks ? refusal('symlink', path, 'symbolic links are not allowed in a shadow-copied share') : undefined;
  }
  const special = specialKind(st);
  if (special) return refusal('special-file', path, `${special}; only regular files and directories are allowed`);
  if (st.isDirectory()) {
    if (st.dev !== rootStat.dev) {
      if (opts.btrfs && st.ino === BTRFS_SUBVOLUME_INO) {
        if (opts.snapshotDir !== undefined && dirname(path) === opts.snapshotDir) return undefined;
        return refusal('nested-subvolume', path,
          'a nested btrfs subvolume below the share root; it would be missing (an empty directory) in the snapshot');
      }
      return refusal('mount-point', path,
        'a mount point (junction) below the share root; its contents would not be part of the shadow copy');
    }
    const childDepth = depth + 1;
    if (childDepth > opts.maxDepth) {
      return refusal('too-deep', path, `directory depth ${childDepth} exceeds the maximum of ${opts.maxDepth} (shadowcopy-dir-depth)`);
    }
    stack.push({ path, depth: childDepth });
  } else if (st.isFile() && opts.refuseHardLinks && st.nlink > 1) {
    return refusal('hard-link', path, `a hard-linked file (${st.nlink} links); hard links are not allowed in a shadow-copied share`);
  }
  return undefined;
}
