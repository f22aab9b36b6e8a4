/**
 * btrfs snapshots kept where a share's vfs_shadow_copy2 looks for them (layout.ts), with the
 * names it expects (sc2-names.ts), e.g. `@GMT-YYYY.MM.DD-HH.MM.SS` in the share root for
 * `shadow:snapdir = .`. Such names carry no mark of ours, so ownership is recorded in the
 * agent's state (owned.ts) before the snapshot is made; only recorded snapshots are listed,
 * made read-only or deleted.
 *
 * A SnapshotRef's `name` is `<directory name>~fsrvp-<shadow copy id>`: unique across volumes
 * (two volumes snapshotted in one second get the same directory name) and stable for the journal.
 */
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import createDebug from 'debug';
import type { CreateOptions, SnapshotRef, Volume } from './backend.js';
import type { Placement } from './layout.js';
import type { OwnedEntry, OwnedSnapshots } from './owned.js';
import { BTRFS_SUBVOLUME_INO } from './policy.js';
import { chooseName, sambaTimeOf } from './sc2-names.js';
import { abortError } from '../sys/exec.js';
import { unlessMissing } from '../sys/enoent.js';

const debug = createDebug('fsrvp:storage');

/** What the btrfs backend lends to this module. */
export interface PlacedContext {
  readonly backend: string;
  readonly owned: OwnedSnapshots;
  /** Paths being created by this process now (names chosen but not on disk yet). */
  readonly reserved: Set<string>;
  ensureDir(dir: string): Promise<void>;
  makeAt(source: string, dir: string, path: string, opts: CreateOptions): Promise<'made' | 'exists'>;
  uuidOf(path: string): Promise<string | undefined>;
  removeSubvolume(path: string): Promise<void>;
}

export const refName = (dirName: string, guid: string): string => `${dirName}~fsrvp-${guid}`;

/** Takes the snapshot of `volume` into `placement`: the first free second from now (see sc2-names.ts). */
export async function createPlaced(
  ctx: PlacedContext, volume: Volume, placement: Extract<Placement, { kind: 'shadow_copy2' }>, guid: string, opts: CreateOptions,
): Promise<SnapshotRef> {
  const dir = placement.dir;
  await ctx.ensureDir(dir);
  const names = new Set<string>();
  const taken = new Set<number>();
  const note = (name: string): void => {
    names.add(name);
    const t = sambaTimeOf(placement.naming, name);
    if (t !== undefined) taken.add(t);
  };
  for (const n of (await unlessMissing(readdir(dir))) ?? []) note(n);
  for (const p of ctx.reserved) if (p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/')) note(basename(p));
  for (let attempt = 0; attempt < 20; attempt++) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const pick = chooseName(placement.naming, Date.now(), guid, taken, names);
    if (!pick) throw new Error(`no free snapshot name in ${dir} for the next seconds (shadow:format ${placement.naming.format})`);
    const path = join(dir, pick.name);
    const entry: OwnedEntry = { path, volumeId: volume.id, name: refName(pick.name, guid), createdAt: pick.at };
    ctx.reserved.add(path);
    try {
      await ctx.owned.record(entry);
      let made: 'made' | 'exists';
      try {
        made = await ctx.makeAt(volume.root, dir, path, opts);
      } catch (e) {
        await ctx.owned.forget(path).catch((fe: Error) => debug('forgetting %s failed: %s', path, fe.message));
        throw e;
      }
      if (made === 'exists') {
        await ctx.owned.forget(path);
        note(pick.name);
        continue;
      }
      try {
        await ctx.owned.record({ ...entry, uuid: await ctx.uuidOf(path) });
      } catch (e) {
        await ctx.removeSubvolume(path).catch((re: Error) => debug('cleanup of %s failed: %s', path, re.message));
        await ctx.owned.forget(path).catch(() => undefined);
        throw e;
      }
      debug('snapshot %s of %s for share %s (shadow_copy2 placement)', path, volume.root, placement.share);
      return { backend: ctx.backend, volumeId: volume.id, path, name: entry.name, writable: opts.writable, createdAt: pick.at };
    } finally {
      ctx.reserved.delete(path);
    }
  }
  throw new Error(`could not find a free snapshot name in ${dir}`);
}

/** One line of `btrfs subvolume list -u -q` as list() needs it. */
export interface ListedSubvolume {
  readonly uuid: string;
  readonly parentUuid: string | undefined;
  readonly path: string;
}

/**
 * The recorded snapshots of `volume` that exist: a subvolume at the recorded path whose parent
 * is the volume and whose UUID is the recorded one. An intent without UUID (a crash between
 * snapshot and record) is checked by path and completed. Entries whose path is gone are dropped.
 */
export async function listPlaced(
  ctx: PlacedContext, volume: Volume, volumeUuid: string, listed: readonly ListedSubvolume[], readOnly: ReadonlySet<string>,
): Promise<SnapshotRef[]> {
  const out: SnapshotRef[] = [];
  const byUuid = new Map(listed.map((e) => [e.uuid, e] as const));
  for (const e of await ctx.owned.entries()) {
    if (e.volumeId !== volume.id || ctx.reserved.has(e.path)) continue;
    const st = await unlessMissing(lstat(e.path));
    if (st === undefined) {
      debug('owned snapshot %s is gone; forgetting it', e.path);
      await ctx.owned.forget(e.path);
      continue;
    }
    if (!st.isDirectory() || st.ino !== BTRFS_SUBVOLUME_INO) continue;
    let uuid = e.uuid;
    if (uuid === undefined) {
      uuid = await ctx.uuidOf(e.path);
      if (uuid === undefined) continue;
      await ctx.owned.record({ ...e, uuid });
    }
    const l = byUuid.get(uuid);
    if (!l || l.parentUuid !== volumeUuid || basename(l.path) !== basename(e.path)) continue;
    const actual = await ctx.uuidOf(e.path).catch(() => undefined);
    if (actual !== uuid) continue; // another subvolume now has that path
    out.push({ backend: ctx.backend, volumeId: volume.id, path: e.path, name: e.name, writable: !readOnly.has(uuid), createdAt: e.createdAt });
  }
  return out;
}
