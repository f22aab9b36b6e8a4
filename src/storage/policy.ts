/**
 * Directory-structure policy checked before a share is added to a shadow copy set. Two profiles:
 *
 * - `hyperv` (the default; today's rules), modelled on NetApp ONTAP's Remote VSS limits for
 *   Hyper-V over SMB (no junctions, a maximum directory depth — the CIFS option
 *   `shadowcopy-dir-depth`, default 5 — because it clones files) and on Hitachi NAS (only plain
 *   files and directories, no hard links): a walk of the whole tree, stopped after `maxEntries`;
 * - `faithful`: only what the backend needs for a faithful copy — no mount point and no nested
 *   btrfs subvolume below the root (their contents would be missing). MS-FSRVP itself requires
 *   refusing mount points below the share root (AddToShadowCopySet → FSRVP_E_NOT_SUPPORTED).
 *   Found without walking where the system can tell: mount points from /proc/self/mountinfo,
 *   nested subvolumes from the btrfs subvolume list (btrfs-subvolumes.ts); a walk of directories
 *   only (comparing st_dev) where it cannot. No entry limit.
 *
 * The walk itself is in tree-walk.ts.
 */
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { lstat, realpath, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import createDebug from 'debug';
import { isInside, readMounts, FS_MAGIC, LOCAL_FS, type MountEntry } from './mounts.js';
import {
  MOUNT_POINT_REASON, SUBVOLUME_REASON, refusal, walkTree, type PolicyRefusal, type WalkProgress, type WalkResult,
} from './tree-walk.js';

export { BTRFS_SUBVOLUME_INO, refusal, type PolicyRefusal, type RefusalKind, type WalkProgress } from './tree-walk.js';

const debug = createDebug('fsrvp:policy');

export interface PolicyOptions {
  /**
   * Deepest allowed directory nesting below the share root: a directory at `root/d1/…/dN` has
   * depth N. Files do not count. ONTAP `shadowcopy-dir-depth`; default 5. Infinity: no limit.
   */
  readonly maxDepth: number;
  /** Refuse regular files with more than one link (ONTAP/Hitachi clone files and cannot keep them). */
  readonly refuseHardLinks: boolean;
  /** Refuse symbolic links. */
  readonly refuseSymlinks: boolean;
  /** Refuse FIFOs, sockets and device nodes (default true). */
  readonly refuseSpecial?: boolean;
  /** Stop (and refuse) after visiting this many entries. Infinity: no limit. */
  readonly maxEntries: number;
  /** Refuse a share root that has no entries at all (Hitachi). */
  readonly refuseEmpty: boolean;
  /** The share lives on btrfs: a directory on another device below the root is a nested subvolume. */
  readonly btrfs: boolean;
  /** A directory whose nested subvolumes are snapshots (shadow:snapdir inside the share): skipped, not refused. */
  readonly snapshotDir?: string;
}

/** The `hyperv` profile (ONTAP/Hitachi rules). */
export const DEFAULT_POLICY: PolicyOptions = {
  maxDepth: 5,
  refuseHardLinks: true,
  refuseSymlinks: true,
  refuseSpecial: true,
  maxEntries: 100_000,
  refuseEmpty: false,
  btrfs: false,
};

/** The `faithful` profile: mount points and nested subvolumes only, no limits. */
export const FAITHFUL_POLICY: PolicyOptions = {
  maxDepth: Infinity,
  refuseHardLinks: false,
  refuseSymlinks: false,
  refuseSpecial: false,
  maxEntries: Infinity,
  refuseEmpty: false,
  btrfs: false,
};

export type PolicyProfile = 'hyperv' | 'faithful';
export const POLICY_PROFILES: readonly PolicyProfile[] = ['hyperv', 'faithful'];

/** A share's policy as configured: a profile and optional limits (absent: the profile's). */
export interface SharePolicy {
  readonly profile: PolicyProfile;
  /** Infinity: no limit. */
  readonly maxDepth?: number;
  /** Infinity: no limit. */
  readonly maxEntries?: number;
  /** hyperv only: refuse hard links (default true). */
  readonly refuseHardLinks?: boolean;
}

/** The options a configured share policy stands for. */
export function policyOptionsFor(p: SharePolicy): PolicyOptions {
  const base = p.profile === 'faithful' ? FAITHFUL_POLICY : DEFAULT_POLICY;
  return {
    ...base,
    ...(p.maxDepth !== undefined ? { maxDepth: p.maxDepth } : {}),
    ...(p.maxEntries !== undefined ? { maxEntries: p.maxEntries } : {}),
    ...(p.refuseHardLinks !== undefined && p.profile === 'hyperv' ? { refuseHardLinks: p.refuseHardLinks } : {}),
  };
}

/** A stable text for a policy (cache keys). */
export function policyKey(p: SharePolicy | undefined): string {
  return p === undefined ? '-' : `${p.profile}:${p.maxDepth ?? ''}:${p.maxEntries ?? ''}:${p.refuseHardLinks ?? ''}`;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** Filesystems whose metadata calls never wait on a network: walked with synchronous calls. */

/** The first mount point strictly below `top` in the mount table, if any. */
function mountBelow(top: string, mounts: readonly MountEntry[]): string | undefined {
  return mounts.map((m) => m.mountPoint).find((m) => m !== top && isInside(m, top));
}

export interface WalkOptions {
  /**
   * true: the caller knows `root` is on a local filesystem, use synchronous calls throughout;
   * false: never; default: decided by the root's filesystem type (see tree-walk.ts).
   */
  readonly sync?: boolean;
  /** The mount table, when the caller has just read it. */
  readonly mounts?: readonly MountEntry[];
  /**
   * The nested btrfs subvolumes below the (real) root, or undefined when the filesystem cannot
   * tell (btrfs-subvolumes.ts); used when `btrfs` is set. Without it, directories are stat'ed.
   */
  readonly subvolumes?: (top: string, mounts: readonly MountEntry[]) => Promise<readonly string[] | undefined>;
  /** Progress of a long walk (also logged on `fsrvp:policy`). */
  readonly progress?: (p: WalkProgress) => void;
  /** Progress every this many entries (default 100,000) … */
  readonly progressEntries?: number;
  /** … or this many ms (default 2,000), whichever comes first. */
  readonly progressMs?: number;
}

export interface TreeInspection {
  readonly refusal: PolicyRefusal | undefined;
  /** The walk, when one was needed (undefined: decided from the mount table and subvolume list). */
  readonly walk: WalkResult | undefined;
}

/**
 * Checks the tree below `root` and returns the first entry that breaks the policy, or undefined
 * when the whole tree is acceptable.
 */
export async function checkTree(
  root: string, options: Partial<PolicyOptions> = {}, walk: WalkOptions = {},
): Promise<PolicyRefusal | undefined> {
  return (await inspectTree(root, options, walk)).refusal;
}

export async function inspectTree(
  root: string, options: Partial<PolicyOptions> = {}, walk: WalkOptions = {},
): Promise<TreeInspection> {
  const opts: PolicyOptions = { ...DEFAULT_POLICY, ...options };
  const done = (r: PolicyRefusal | undefined, w?: WalkResult): TreeInspection => ({ refusal: r, walk: w });
  let top: string;
  let rootStat: Stats;
  let local: boolean;
  let fsType: number | undefined;
  try {
    if (walk.sync === true) {
      top = realpathSync.native(root);
      rootStat = lstatSync(top);
      local = true;
    } else {
      top = await realpath(root);
      [rootStat, fsType] = await Promise.all([lstat(top), statfs(top).then((f) => f.type)]);
      local = walk.sync === undefined && LOCAL_FS.has(fsType);
    }
  } catch (e) {
    return done(refusal('unreadable', root, `cannot read the share root: ${errnoOf(e)}`));
  }
  if (!rootStat.isDirectory()) return done(refusal('not-a-directory', root, 'the share root is not a directory'));
  // Without procfs the walk's st_dev test still finds mount points.
  const mounts = walk.mounts ?? (await readMounts().catch(() => undefined));
  const mount = mounts && mountBelow(top, mounts);
  if (mount !== undefined) return done(refusal('mount-point', mount, MOUNT_POINT_REASON));
  let subvolumesKnown = fsType !== undefined && fsType !== FS_MAGIC.btrfs;
  if (opts.btrfs && walk.subvolumes && mounts) {
    const nested = await walk.subvolumes(top, mounts);
    if (nested !== undefined) {
      subvolumesKnown = true;
      const bad = nested.find((p) => !(opts.snapshotDir !== undefined && dirname(p) === opts.snapshotDir));
      if (bad !== undefined) return done(refusal('nested-subvolume', bad, SUBVOLUME_REASON));
    }
  }
  const statDirs = mounts === undefined || !subvolumesKnown;
  const refuseSpecial = opts.refuseSpecial ?? true;
  const needsWalk = statDirs || opts.refuseEmpty || opts.refuseHardLinks || opts.refuseSymlinks || refuseSpecial ||
    Number.isFinite(opts.maxDepth) || Number.isFinite(opts.maxEntries);
  if (!needsWalk) {
    debug('%s: no walk needed (mount table%s)', top, opts.btrfs ? ' and btrfs subvolume list' : '');
    return done(undefined);
  }
  const result = await walkTree(top, rootStat.dev, {
    maxDepth: opts.maxDepth, maxEntries: opts.maxEntries, refuseHardLinks: opts.refuseHardLinks,
    refuseSymlinks: opts.refuseSymlinks, refuseSpecial, statDirs, btrfs: opts.btrfs,
    ...(opts.snapshotDir !== undefined ? { snapshotDir: opts.snapshotDir } : {}),
  }, {
    sync: local,
    ...(walk.progress ? { progress: walk.progress } : {}),
    ...(walk.progressEntries !== undefined ? { progressEntries: walk.progressEntries } : {}),
    ...(walk.progressMs !== undefined ? { progressMs: walk.progressMs } : {}),
  });
  debug('%s: walked %d entries in %d ms%s', top, result.entries, Math.round(result.elapsedMs),
    result.refusal ? `: refused ${result.refusal.path}` : '');
  if (!result.refusal && opts.refuseEmpty && result.rootEntries === 0) return done(refusal('empty', top, 'the share root is empty'), result);
  return done(result.refusal, result);
}
