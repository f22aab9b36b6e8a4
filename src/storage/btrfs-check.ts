/**
 * The btrfs backend's check of a share (BtrfsBackend.check): where its snapshots would go must
 * be outside the share and on the same filesystem, then the directory-structure policy
 * (policy.ts) with nested subvolumes taken from the btrfs subvolume list.
 */
import { realpathSync } from 'node:fs';
import type { CheckOptions, Volume } from './backend.js';
import { which } from '../sys/exec.js';
import { listNestedSubvolumes } from './btrfs-subvolumes.js';
import { subvolumeRootOf } from './btrfs-tool.js';
import type { Placement } from './layout.js';
import { isInside, mountOf, nearestExisting, readMounts, type MountEntry } from './mounts.js';
import { checkTree, policyOptionsFor, refusal, type PolicyOptions, type PolicyRefusal, type WalkOptions } from './policy.js';

/** The directory name of the README layout's snapshot directories. */
export const SNAPSHOT_DIR_NAME = '.fsrvp-snapshots';

/** What the check needs from the backend. */
export interface BtrfsCheckContext {
  readonly cmd: string;
  readonly timeoutMs: number;
  readonly options: { readonly snapshotDir?: string; readonly policy?: Partial<PolicyOptions> };
  supports(path: string): Promise<boolean>;
  volumeOfRoot(root: string): Promise<Volume>;
  placementOf(volumeRoot: string, mounts?: readonly MountEntry[], shareName?: string): Promise<Placement>;
  snapshotDirFor(volumeRoot: string, mounts?: readonly MountEntry[]): Promise<string>;
  /** The nested subvolumes below `top` (undefined: the filesystem cannot tell, walk instead); default `btrfs subvolume list -o`. */
  nestedSubvolumes?(top: string, mounts: readonly MountEntry[]): Promise<string[] | undefined>;
}

/**
 * After one statfs says the share is on btrfs (a local filesystem), everything else runs on
 * synchronous calls: the real path, the subvolume root, the mount table read once, the tree walk.
 */
export async function checkBtrfsShare(b: BtrfsCheckContext, sharePath: string, options: CheckOptions = {}): Promise<PolicyRefusal | undefined> {
  if (!(await b.supports(sharePath))) {
    return refusal('location', sharePath, (await which(b.cmd))
      ? 'the share is not on a btrfs filesystem'
      : `the ${b.cmd} tool is not installed (Debian package btrfs-progs)`);
  }
  let volume: Volume;
  let share: string;
  try {
    share = realpathSync.native(sharePath);
    volume = await b.volumeOfRoot(subvolumeRootOf(share));
  } catch (e) {
    return refusal('location', sharePath, (e as Error).message);
  }
  const mounts = await readMounts();
  const placement = await b.placementOf(volume.root, mounts, options.shareName);
  const placed = placement.kind === 'shadow_copy2';
  const snapDir = placed ? placement.dir : await b.snapshotDirFor(volume.root, mounts);
  if (!placed && isInside(snapDir, share)) {
    return refusal('location', share,
      `snapshots would be stored inside the share (${snapDir}): the share is the root of a mounted subvolume; configure snapshotDir on the same btrfs filesystem outside the share`);
  }
  if (share.split('/').includes(SNAPSHOT_DIR_NAME) || (b.options.snapshotDir && isInside(share, b.options.snapshotDir))) {
    return refusal('location', share, 'the share is inside a snapshot directory');
  }
  if (b.options.snapshotDir || placed) {
    const target = await nearestExisting(snapDir);
    const snapMount = mountOf(target, mounts);
    const volMount = mountOf(volume.root, mounts);
    if (!snapMount || !volMount || snapMount.fsType !== 'btrfs' || snapMount.device !== volMount.device) {
      return refusal('location', snapDir, `the snapshot directory is not on the same btrfs filesystem as ${volume.root}`);
    }
  }
  // Nested subvolumes from the filesystem (no walk), mount points from the mount table.
  const policy = { ...(options.policy ? policyOptionsFor(options.policy) : b.options.policy), btrfs: true };
  const walk: WalkOptions = {
    sync: true, mounts,
    subvolumes: (top, m) => (b.nestedSubvolumes ? b.nestedSubvolumes(top, m) : listNestedSubvolumes(top, m, b.cmd, b.timeoutMs)),
    ...(options.progress ? { progress: options.progress } : {}),
  };
  // Snapshots in the share (shadow:snapdir inside it) are nested subvolumes there: empty
  // directories in later snapshots, as with Samba's own FSRVP; not a reason to refuse.
  return checkTree(share, placed ? { ...policy, snapshotDir: snapDir } : policy, walk);
}
