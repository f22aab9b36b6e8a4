/**
 * Undoing what the service made: unpublishing snapshot shares, deleting snapshots, removing
 * whole sets. Used by Abort, timer expiry, strict SetContext, rollbacks, DeleteShareMapping and
 * reconciliation.
 *
 * Shares go before snapshots, so no published share ever points at a deleted snapshot. A step
 * that fails is recorded as a pending cleanup (persisted) and retried later — after the next
 * removal, on timer expiry, at start-up, or on request — so nothing is forgotten on disk.
 */
import type { SnapshotRef, Volume } from '../storage/backend.js';
import type { ServiceCore } from './core.js';
import type { Change } from './store.js';
import { snapshotKey, type PendingCleanup, type ShadowCopySetState } from './state.js';

/** One attempt to delete a snapshot; failures are reported, not thrown. */
export async function deleteSnapshot(core: ServiceCore, snap: SnapshotRef): Promise<boolean> {
  const backend = core.backendNamed(snap.backend);
  if (!backend) {
    core.cleanupFailed(`deleting snapshot ${snap.name}`, new Error(`backend ${snap.backend} is not configured`));
    return false;
  }
  try {
    await backend.delete(snap);
    return true;
  } catch (e) {
    core.cleanupFailed(`deleting snapshot ${snap.name} (${snap.path})`, e);
    return false;
  }
}

/** One attempt to unpublish a share; failures are reported, not thrown. */
export async function unpublish(core: ServiceCore, name: string): Promise<boolean> {
  try {
    await core.publisher.unpublish(name);
    return true;
  } catch (e) {
    core.cleanupFailed(`unpublishing share ${name}`, e);
    return false;
  }
}

/**
 * Rolls back shares this call published (name → snapshotKey of the snapshot each exposes); the
 * ones that will not unpublish are recorded as pending cleanups, so they are retried and their
 * snapshots kept until they are gone.
 */
export async function withdrawShares(core: ServiceCore, shares: ReadonlyMap<string, string | null>): Promise<void> {
  const failed: Change[] = [];
  for (const [name, snapshot] of shares) {
    if (!(await unpublish(core, name))) failed.push({ t: 'pending', p: { kind: 'share', name, snapshot } });
  }
  if (failed.length > 0) await core.commitForced(failed);
}

/** Deletes snapshots; the ones that will not go are recorded as pending cleanups. */
export async function discardSnapshots(
  core: ServiceCore, snaps: ReadonlyArray<{ readonly snapshot: SnapshotRef; readonly volume: Volume }>,
): Promise<void> {
  const failed: Change[] = [];
  for (const { snapshot, volume } of snaps) {
    if (!(await deleteSnapshot(core, snapshot))) failed.push({ t: 'pending', p: { kind: 'snapshot', snapshot, volume } });
  }
  if (failed.length > 0) await core.commitForced(failed);
}

/** Exposed share names of a set. */
export function exposedNames(set: ShadowCopySetState): string[] {
  return set.copies.flatMap((c) => c.mappings.filter((m) => m.exposed).map((m) => m.exposedName));
}

/**
 * Removes sets entirely: unpublishes their exposed shares, forgets the sets (persisted), then
 * deletes their snapshots. The state goes before the snapshots so a crash leaves an orphan
 * snapshot (which reconciliation deletes) rather than state pointing at nothing. A share that
 * will not unpublish becomes a pending cleanup, and so does the snapshot below it, which is
 * kept until the share is gone. Earlier pending cleanups are retried first.
 */
export async function removeSets(core: ServiceCore, sets: readonly ShadowCopySetState[]): Promise<void> {
  await collectPending(core);
  if (sets.length === 0) return;
  const pending: PendingCleanup[] = [];
  const kept = new Set<string>();
  for (const set of sets) {
    for (const c of set.copies) {
      for (const m of c.mappings) {
        if (!m.exposed || (await unpublish(core, m.exposedName))) continue;
        const key = c.snapshot ? snapshotKey(c.snapshot) : null;
        pending.push({ kind: 'share', name: m.exposedName, snapshot: key });
        if (c.snapshot && key && !kept.has(key)) {
          kept.add(key);
          pending.push({ kind: 'snapshot', snapshot: c.snapshot, volume: c.volume });
        }
      }
    }
  }
  await core.commitForced([
    ...sets.map((s): Change => ({ t: 'del', id: s.id })),
    ...pending.map((p): Change => ({ t: 'pending', p })),
  ]);
  await discardSnapshots(core, sets.flatMap((s) => s.copies.flatMap((c) =>
    (c.snapshot && !kept.has(snapshotKey(c.snapshot)) ? [{ snapshot: c.snapshot, volume: c.volume }] : []))));
}

/**
 * Retries pending cleanups: shares first, then snapshots no pending share points into.
 * Returns the keys it completed.
 */
export async function collectPending(core: ServiceCore): Promise<string[]> {
  const pending = core.state.pending;
  if (pending.size === 0) return [];
  const done = new Set<string>();
  for (const [key, p] of pending) {
    if (p.kind === 'share' && (await unpublish(core, p.name))) done.add(key);
  }
  const underShares = new Set<string>();
  for (const [key, p] of pending) if (p.kind === 'share' && !done.has(key) && p.snapshot) underShares.add(p.snapshot);
  for (const [key, p] of pending) {
    if (p.kind === 'snapshot' && !underShares.has(snapshotKey(p.snapshot)) && (await deleteSnapshot(core, p.snapshot))) done.add(key);
  }
  if (done.size > 0) await core.commitForced([...done].map((key): Change => ({ t: 'done', key })));
  return [...done];
}
