/** Where a share's content is inside a snapshot of its volume. */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { SnapshotRef, Volume } from './backend.js';

/**
 * The directory in `snap` that corresponds to the share at `sharePath`: the snapshot root plus
 * the share's place inside the volume (a btrfs share may be a subdirectory of its subvolume).
 * This is the path to publish as `share@{guid}`.
 */
export async function sharePathInSnapshot(snap: SnapshotRef, volume: Volume, sharePath: string): Promise<string> {
  const [share, root] = await Promise.all([realpath(sharePath), realpath(volume.root)]);
  const rel = relative(root, share);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${share} is not inside the volume ${root}`);
  return rel ? join(snap.path, rel) : snap.path;
}
