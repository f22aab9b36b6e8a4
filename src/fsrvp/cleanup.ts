/**
 * Undoing what the service made: unpublishing snapshot shares, deleting snapshots, removing
 * whole sets. Used by Abort, timer expiry, strict SetContext, rollbacks and reconciliation.
 * Each step is attempted even when an earlier one failed; failures are reported, and start-up
 * reconciliation removes whatever a failed step left on disk.
 */
import type { SnapshotRef } from '../storage/backend.js';
import type { ServiceCore } from './core.js';
import type { ShadowCopySetState } from './state.js';

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

export async function deleteSnapshots(core: ServiceCore, snaps: readonly SnapshotRef[]): Promise<void> {
  for (const s of snaps) await deleteSnapshot(core, s);
}

export async function unpublish(core: ServiceCore, name: string): Promise<boolean> {
  try {
    await core.publisher.unpublish(name);
    return true;
  } catch (e) {
    core.cleanupFailed(`unpublishing share ${name}`, e);
    return false;
  }
}

/** Exposed share names of a set. */
export function exposedNames(set: ShadowCopySetState): string[] {
  return set.copies.flatMap((c) => c.mappings.filter((m) => m.exposed).map((m) => m.exposedName));
}

/**
 * Removes sets entirely: unpublishes their exposed shares, forgets them (persisted), then
 * deletes their snapshots. Shares go first so no client is left on a share whose snapshot is
 * gone; the state goes before the snapshots so a crash leaves an orphan snapshot (which
 * reconciliation deletes) rather than state pointing at nothing.
 */
export async function removeSets(core: ServiceCore, sets: readonly ShadowCopySetState[]): Promise<void> {
  if (sets.length === 0) return;
  for (const set of sets) for (const name of exposedNames(set)) await unpublish(core, name);
  await core.commitForced(sets.map((s) => ({ t: 'del', id: s.id })));
  for (const set of sets) {
    await deleteSnapshots(core, set.copies.flatMap((c) => (c.snapshot ? [c.snapshot] : [])));
  }
}
