/**
 * Start-up reconciliation: make persisted state, the snapshots on disk and the published
 * shares agree again after a crash, a failed cleanup step or outside interference.
 *
 * Repairs, in order:
 *  0. pending cleanups (steps that failed earlier) are retried;
 *  1. sets caught in CreationInProgress (crash mid-Commit) go back to Added; snapshots they
 *     recorded are deleted (unrecorded ones are orphans, see 4);
 *  2. sets whose recorded snapshot is gone are dropped (their other snapshots and their shares
 *     go too); retained or pending snapshots that are gone are forgotten;
 *  3. published snapshot shares that no exposed mapping refers to are unpublished; exposed
 *     mappings whose share is missing are published again;
 *  4. snapshots our backends made that nothing refers to are deleted (retained ones are kept).
 * Each repair is logged with its reason and returned in the report.
 */
import createDebug from 'debug';
import type { SnapshotBackend, SnapshotRef, Volume } from '../storage/backend.js';
import { ATTR } from './codes.js';
import { collectPending, deleteSnapshot, discardSnapshots, exposedNames, removeSets, unpublish } from './cleanup.js';
import { errorText, type ServiceCore } from './core.js';
import type { Change } from './store.js';
import { publishRequest } from './exposure.js';
import { isExposedShareName } from './unc.js';
import { mappingsOf, snapshotKey, type ShadowCopySetState } from './state.js';

const debug = createDebug('fsrvp:reconcile');

export type RepairAction =
  | 'finish-cleanup'
  | 'rollback-commit'
  | 'drop-set'
  | 'forget-retained'
  | 'delete-orphan-snapshot'
  | 'unpublish-orphan-share'
  | 'republish-share'
  | 'unverifiable'
  | 'failed';

export interface Repair {
  readonly action: RepairAction;
  /** Set id, snapshot name or share name. */
  readonly target: string;
  readonly reason: string;
}

export interface ReconcileReport {
  readonly repairs: readonly Repair[];
  /** Snapshots found on disk across all listed volumes. */
  readonly snapshotsOnDisk: number;
  readonly sharesPublished: number;
  readonly ms: number;
}

interface VolumeEntry {
  readonly backend: SnapshotBackend;
  readonly volume: Volume;
}

function volumeKey(backend: string, volumeId: string): string {
  return `${backend}\u0000${volumeId}`;
}

/** Every volume we might have snapshots on: those in state, and those of the configured shares. */
async function volumesToList(core: ServiceCore, repairs: Repair[]): Promise<Map<string, VolumeEntry>> {
  const out = new Map<string, VolumeEntry>();
  const add = (volume: Volume): void => {
    const backend = core.backendNamed(volume.backend);
    if (backend) out.set(volumeKey(volume.backend, volume.id), { backend, volume });
  };
  for (const set of core.state.sets.values()) for (const c of set.copies) add(c.volume);
  for (const r of core.state.retained.values()) add(r.volume);
  for (const p of core.state.pending.values()) if (p.kind === 'snapshot') add(p.volume);
  let shares: Awaited<ReturnType<typeof core.registry.list>> = [];
  try {
    shares = await core.registry.list();
  } catch (e) {
    repairs.push({ action: 'failed', target: 'share registry', reason: `listing shares: ${errorText(e)}` });
  }
  for (const share of shares) {
    if (isExposedShareName(share.name)) continue;
    const candidates = share.backend !== undefined
      ? core.backends.filter((b) => b.name === share.backend)
      : core.backends;
    for (const b of candidates) {
      try {
        if (share.backend === undefined && !(await b.supports(share.path))) continue;
        add(await b.volumeOf(share.path));
        break;
      } catch (e) {
        debug('volume of share %s via %s: %s', share.name, b.name, errorText(e));
      }
    }
  }
  return out;
}

export async function reconcile(core: ServiceCore): Promise<ReconcileReport> {
  const t0 = performance.now();
  const repairs: Repair[] = [];
  const note = (r: Repair): void => {
    repairs.push(r);
    debug('%s %s: %s', r.action, r.target, r.reason);
  };
  const changes: Change[] = [];
  const st = core.state;

  // 0. Cleanups that failed before: retry them first.
  const before = new Map(st.pending);
  for (const key of await collectPending(core)) {
    const p = before.get(key);
    const target = p?.kind === 'share' ? p.name : p?.snapshot.name ?? key;
    note({ action: 'finish-cleanup', target, reason: 'a cleanup step that had failed earlier succeeded now' });
  }

  // 1. Interrupted commits.
  for (const set of [...st.sets.values()]) {
    if (set.status !== 'CreationInProgress') continue;
    await discardSnapshots(core, set.copies.flatMap((c) => (c.snapshot ? [{ snapshot: c.snapshot, volume: c.volume }] : [])));
    const rolled: ShadowCopySetState = { ...set, status: 'Added', copies: set.copies.map((c) => ({ ...c, snapshot: null })) };
    st.sets.set(set.id, rolled);
    changes.push({ t: 'set', set: rolled });
    note({ action: 'rollback-commit', target: set.id, reason: 'the service stopped during CommitShadowCopySet' });
  }

  // What is on disk, per volume we can list.
  const volumes = await volumesToList(core, repairs);
  const onDisk = new Map<string, SnapshotRef>();
  const listed = new Set<string>();
  for (const [key, { backend, volume }] of volumes) {
    try {
      for (const s of await backend.list(volume)) onDisk.set(snapshotKey(s), s);
      listed.add(key);
    } catch (e) {
      note({ action: 'unverifiable', target: `${backend.name}:${volume.id}`, reason: `listing snapshots failed: ${errorText(e)}` });
    }
  }
  const snapshotsOnDisk = onDisk.size;
  const verifiable = (s: SnapshotRef): boolean => listed.has(volumeKey(s.backend, s.volumeId));

  // 2. State pointing at snapshots that are gone.
  for (const set of [...st.sets.values()]) {
    const missing = set.copies.find((c) => c.snapshot && verifiable(c.snapshot) && !onDisk.has(snapshotKey(c.snapshot)));
    if (!missing) continue;
    await removeSets(core, [set]);
    for (const c of set.copies) if (c.snapshot) onDisk.delete(snapshotKey(c.snapshot));
    note({ action: 'drop-set', target: set.id, reason: `snapshot ${missing.snapshot?.name} of shadow copy ${missing.id} no longer exists` });
  }
  for (const [key, r] of [...st.retained]) {
    if (verifiable(r.snapshot) && !onDisk.has(key)) {
      st.retained.delete(key);
      changes.push({ t: 'release', key });
      note({ action: 'forget-retained', target: r.snapshot.name, reason: 'retained snapshot no longer exists' });
    }
  }
  for (const [key, p] of [...st.pending]) {
    if (p.kind === 'snapshot' && verifiable(p.snapshot) && !onDisk.has(snapshotKey(p.snapshot))) {
      changes.push({ t: 'done', key });
      note({ action: 'finish-cleanup', target: p.snapshot.name, reason: 'snapshot pending deletion no longer exists' });
    }
  }
  for (const set of st.sets.values()) {
    for (const c of set.copies) {
      if (c.snapshot && !verifiable(c.snapshot)) {
        note({ action: 'unverifiable', target: c.snapshot.name, reason: `backend ${c.snapshot.backend} could not list volume ${c.snapshot.volumeId}; kept` });
      }
    }
  }

  // 3. Published shares: shares before snapshots, so no share is left pointing at nothing.
  let published: string[] = [];
  try {
    published = await core.publisher.list();
  } catch (e) {
    note({ action: 'failed', target: core.publisher.name, reason: `listing published shares: ${errorText(e)}` });
  }
  const publishedSet = new Set(published.map((n) => n.toLowerCase()));
  const wanted = new Set<string>();
  for (const set of st.sets.values()) for (const name of exposedNames(set)) wanted.add(name.toLowerCase());
  for (const p of st.pending.values()) if (p.kind === 'share') wanted.add(p.name.toLowerCase());
  for (const name of published) {
    if (wanted.has(name.toLowerCase())) continue;
    if (await unpublish(core, name)) {
      note({ action: 'unpublish-orphan-share', target: name, reason: 'no exposed shadow copy maps to it' });
    } else {
      changes.push({ t: 'pending', p: { kind: 'share', name, snapshot: null } });
      note({ action: 'failed', target: name, reason: 'unpublishing the orphan share failed; retried later' });
    }
  }
  for (const set of st.sets.values()) {
    const readOnly = (set.context & ATTR.AUTO_RECOVERY) === 0 || set.status === 'Recovered';
    for (const [copy, m] of mappingsOf(set)) {
      if (!m.exposed || publishedSet.has(m.exposedName.toLowerCase()) || !copy.snapshot) continue;
      try {
        await core.publisher.publish(publishRequest(copy, m, readOnly));
        note({ action: 'republish-share', target: m.exposedName, reason: 'exposed in state but not published' });
      } catch (e) {
        note({ action: 'failed', target: m.exposedName, reason: `publishing again failed: ${errorText(e)}` });
      }
    }
  }

  // 4. Snapshots nobody refers to.
  const referenced = new Set<string>(st.retained.keys());
  for (const set of st.sets.values()) for (const c of set.copies) if (c.snapshot) referenced.add(snapshotKey(c.snapshot));
  for (const p of st.pending.values()) if (p.kind === 'snapshot') referenced.add(snapshotKey(p.snapshot));
  for (const [key, s] of onDisk) {
    if (referenced.has(key)) continue;
    if (await deleteSnapshot(core, s)) {
      note({ action: 'delete-orphan-snapshot', target: s.name, reason: `no shadow copy refers to ${s.path}` });
      continue;
    }
    const volume = volumes.get(volumeKey(s.backend, s.volumeId))?.volume;
    if (volume) changes.push({ t: 'pending', p: { kind: 'snapshot', snapshot: s, volume } });
    note({ action: 'failed', target: s.name, reason: 'deleting the orphan snapshot failed; retried later' });
  }

  if (changes.length > 0) await core.commitForced(changes);
  return { repairs, snapshotsOnDisk, sharesPublished: published.length, ms: performance.now() - t0 };
}
