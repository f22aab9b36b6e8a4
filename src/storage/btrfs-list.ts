/**
 * The snapshots of one volume (BtrfsBackend.list): names of the README layout in its snapshot
 * directory whose btrfs Parent UUID is the volume's, and the ones placed for shadow_copy2 that
 * the ownership file records (btrfs-placed.ts).
 */
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SnapshotRef, Volume } from './backend.js';
import { listPlaced, type PlacedContext } from './btrfs-placed.js';
import { parseSubvolumeList, type SubvolumeInfo, type SubvolumeListEntry } from './btrfs-tool.js';
import { parseSnapshotName } from './naming.js';
import type { OwnedSnapshots } from './owned.js';
import { BTRFS_SUBVOLUME_INO } from './tree-walk-rules.js';
import { unlessMissing } from '../sys/enoent.js';

/** What the listing needs from the backend. */
export interface BtrfsListContext {
  readonly name: string;
  readonly owned: OwnedSnapshots | undefined;
  snapshotDirFor(volumeRoot: string): Promise<string>;
  subvolumeIdentity(path: string): Promise<Pick<SubvolumeInfo, 'uuid' | 'id'>>;
  btrfs(args: string[]): Promise<{ stdout: string; stderr: string }>;
  placedContext(owned: OwnedSnapshots): PlacedContext;
}

export async function listSnapshots(b: BtrfsListContext, volume: Volume): Promise<SnapshotRef[]> {
  const dir = await b.snapshotDirFor(volume.root);
  const names = (await unlessMissing(readdir(dir))) ?? [];
  const owned = b.owned && (await b.owned.entries()).some((e) => e.volumeId === volume.id);
  if (names.length === 0 && !owned) return [];
  const volumeUuid = /^btrfs:([0-9a-f-]{36})$/.exec(volume.id)?.[1] ?? (await b.subvolumeIdentity(volume.root)).uuid;
  if (!volumeUuid) return [];
  // Two `btrfs subvolume list` runs, whatever the number of snapshots (one `show` per snapshot
  // would mean thousands of processes at start-up). Listed paths are relative to the
  // filesystem's top level, so entries are matched by name: ours embed a unique GUID.
  const [all, readOnly] = await Promise.all([
    b.btrfs(['subvolume', 'list', '-u', '-q', volume.root]),
    b.btrfs(['subvolume', 'list', '-u', '-q', '-r', volume.root]),
  ]);
  const listed = parseSubvolumeList(all.stdout);
  const ro = new Set(parseSubvolumeList(readOnly.stdout).map((e) => e.uuid));
  const byName = new Map<string, SubvolumeListEntry>();
  for (const e of listed) if (e.parentUuid === volumeUuid) byName.set(basename(e.path), e);
  const out: SnapshotRef[] = [];
  for (const name of names.sort()) {
    const parsed = parseSnapshotName(name);
    const entry = byName.get(name);
    if (!parsed || !entry) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory() || st.ino !== BTRFS_SUBVOLUME_INO) continue; // same name elsewhere in the filesystem
    out.push({ backend: b.name, volumeId: volume.id, path, name, writable: !ro.has(entry.uuid), createdAt: parsed.createdAt });
  }
  if (owned && b.owned) out.push(...(await listPlaced(b.placedContext(b.owned), volume, volumeUuid, listed, ro)));
  return out;
}
