/**
 * The operations that create and expose snapshots: PrepareShadowCopySet, CommitShadowCopySet,
 * ExposeShadowCopySet and RecoveryCompleteShadowCopySet (FSRVP.md §7). Work that touches disks
 * or shares runs under the client's TimeOutInMilliseconds and is rolled back on timeout or
 * failure, so a failed call leaves nothing behind.
 */
import createDebug from 'debug';
import type { SnapshotRef } from '../storage/backend.js';
import type {
  CommitShadowCopySet, ExposeShadowCopySet, PrepareShadowCopySet, RecoveryCompleteShadowCopySet,
  RequestOf, ResponseOf,
} from './idl.js';
import { ATTR, HRESULT } from './codes.js';
import { discardSnapshots, withdrawShares } from './cleanup.js';
import { errorText, FsrvpError, hresultOf, type ServiceCore } from './core.js';
import { withDeadline } from './deadline.js';
import { publishRequest } from './exposure.js';
import {
  filetimeFromMs, mappingsOf, snapshotKey, type ShadowCopySetState, type ShadowCopyState,
} from './state.js';

const debug = createDebug('fsrvp:service');

type ResultOnly = { result: number };

function autoRecovery(set: ShadowCopySetState): boolean {
  return (set.context & ATTR.AUTO_RECOVERY) !== 0;
}

function backendOf(core: ServiceCore, name: string) {
  const b = core.backendNamed(name);
  if (!b) throw new FsrvpError(HRESULT.E_FAIL, `backend ${name} is not configured`);
  return b;
}

export async function prepareShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof PrepareShadowCopySet>,
): Promise<ResponseOf<typeof PrepareShadowCopySet>> {
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: core.cfg.policy.setNotFound };
  if (set.status !== 'Added') return { result: HRESULT.FSRVP_E_BAD_STATE };
  core.timer.stop(set.id);
  // Preparation re-validates every share against its backend's policy: the tree may have
  // changed since Add (a mount point appeared, the share path vanished). The walk of Add is
  // reused while the tree's top is unchanged (core.checkShare).
  const outcome = await withDeadline(core.scheduler, req.TimeOutInMilliseconds >>> 0, core.cfg.abortGraceMs, async (signal) => {
    for (const [copy, m] of mappingsOf(set)) {
      signal.throwIfAborted();
      const refusal = await core.checkShare(backendOf(core, copy.volume.backend), m.share, set.id);
      if (refusal) {
        core.emit({ kind: 'refused', share: m.shareNameUnc, reason: `${refusal.path}: ${refusal.reason}` });
        throw new FsrvpError(HRESULT.FSRVP_E_NOT_SUPPORTED, `${refusal.path}: ${refusal.reason}`);
      }
    }
  });
  if (outcome.kind === 'ok') {
    core.timer.arm('long', set.id);
    return { result: HRESULT.ZERO };
  }
  core.timer.arm('short', set.id);
  if (outcome.kind === 'timeout') return { result: HRESULT.FSRVP_E_WAIT_TIMEOUT };
  debug('Prepare %s failed: %s', set.id, errorText(outcome.error));
  return { result: hresultOf(outcome.error) };
}

const PROGRESS_EVERY_MS = 5000;

/**
 * Takes one snapshot per shadow copy (that is, per volume), concurrently. If any fails, or the
 * signal fires, every snapshot this call made is deleted before it rejects.
 */
async function takeSnapshots(
  core: ServiceCore, copies: readonly ShadowCopyState[], writable: boolean, signal: AbortSignal,
): Promise<SnapshotRef[]> {
  const results = await Promise.allSettled(copies.map(async (c) => {
    signal.throwIfAborted();
    // Long copies report how far they are, at most every PROGRESS_EVERY_MS.
    let last = Date.now();
    const progress = (done: number, total: number | undefined): void => {
      const now = Date.now();
      if (now - last < PROGRESS_EVERY_MS) return;
      last = now;
      core.emit({ kind: 'progress', what: `snapshot of ${c.volume.root}`, done, total });
    };
    return backendOf(core, c.volume.backend).create(c.volume, { shadowCopyId: c.id, writable, signal, progress });
  }));
  const made = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ snapshot: r.value, volume: (copies[i] as ShadowCopyState).volume }] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure || signal.aborted) {
    await discardSnapshots(core, made);
    throw failure ? failure.reason : signal.reason;
  }
  return made.map((m) => m.snapshot);
}

export async function commitShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof CommitShadowCopySet>,
): Promise<ResponseOf<typeof CommitShadowCopySet>> {
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: core.cfg.policy.setNotFound };
  if (set.status !== 'Added') return { result: HRESULT.FSRVP_E_BAD_STATE };
  core.timer.stop(set.id);
  // Persisted first: after a crash mid-commit, reconciliation rolls the set back to Added and
  // deletes whatever snapshots the crash left.
  await core.putSet({ ...set, status: 'CreationInProgress' });
  const back = async (result: number): Promise<ResultOnly> => {
    await core.commitForced([{ t: 'set', set: { ...set, status: 'Added' } }]);
    core.timer.arm('short', set.id);
    return { result };
  };
  const outcome = await withDeadline(core.scheduler, req.TimeOutInMilliseconds >>> 0, core.cfg.abortGraceMs,
    (signal) => takeSnapshots(core, set.copies, autoRecovery(set), signal));
  if (outcome.kind === 'timeout') {
    debug('Commit %s timed out after %d ms (rollback %s)', set.id, req.TimeOutInMilliseconds,
      outcome.settled ? 'done' : 'still running');
    return back(HRESULT.FSSAGENT_E_TIMEOUT);
  }
  if (outcome.kind === 'error') {
    debug('Commit %s failed: %s', set.id, errorText(outcome.error));
    return back(hresultOf(outcome.error));
  }
  const refs = outcome.value;
  const copies = set.copies.map((c, i) => {
    const snap = refs[i] as SnapshotRef;
    // Samba refines the Add-time stamp to the snapshot's own time; SPEC keeps the Add time.
    const creationTimestamp = core.strict ? c.creationTimestamp : filetimeFromMs(snap.createdAt).toString();
    return { ...c, snapshot: snap, creationTimestamp };
  });
  try {
    await core.putSet({ ...set, status: 'Committed', copies });
  } catch (e) {
    debug('Commit %s: persisting failed, deleting its snapshots: %s', set.id, errorText(e));
    await discardSnapshots(core, copies.map((c) => ({ snapshot: c.snapshot, volume: c.volume })));
    return back(HRESULT.E_FAIL);
  }
  core.timer.arm('short', set.id);
  return { result: HRESULT.ZERO };
}

/**
 * Publishes every unexposed mapping at once: in one batch when the publisher has one (all or
 * none), else one publish per share, concurrently. If any fails, or the signal fires, every share
 * this call may have published is withdrawn before it rejects. Returns the shares published
 * (name → key of the snapshot each exposes).
 */
async function publishAll(core: ServiceCore, set: ShadowCopySetState, signal: AbortSignal): Promise<Map<string, string | null>> {
  const readOnly = !autoRecovery(set);
  const todo = [...mappingsOf(set)].filter(([, m]) => !m.exposed);
  const names = new Map<string, string | null>(todo.map(([copy, m]) => [m.exposedName, copy.snapshot ? snapshotKey(copy.snapshot) : null] as const));
  signal.throwIfAborted();
  const reqs = todo.map(([copy, m]) => publishRequest(copy, m, readOnly));
  const pub = core.publisher;
  let failure: unknown;
  let attempted: ReadonlyMap<string, string | null> = names;
  if (pub.publishMany && reqs.length > 1) {
    try {
      await pub.publishMany(reqs);
    } catch (e) {
      failure = e;
    }
  } else {
    const results = await Promise.allSettled(reqs.map((r) => pub.publish(r)));
    // A publish that failed has left nothing (publisher contract); withdraw the others.
    attempted = new Map(reqs.flatMap((r, i) => (results[i]!.status === 'fulfilled' ? [[r.name, names.get(r.name)!] as const] : [])));
    failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
  }
  if (failure !== undefined || signal.aborted) {
    await withdrawShares(core, attempted);
    throw failure ?? signal.reason;
  }
  return names;
}

export async function exposeShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof ExposeShadowCopySet>,
): Promise<ResponseOf<typeof ExposeShadowCopySet>> {
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: core.cfg.policy.setNotFound };
  if (set.status !== 'Committed') return { result: HRESULT.FSRVP_E_BAD_STATE };
  core.timer.stop(set.id);
  const outcome = await withDeadline(core.scheduler, req.TimeOutInMilliseconds >>> 0, core.cfg.abortGraceMs,
    (signal) => publishAll(core, set, signal));
  if (outcome.kind !== 'ok') {
    core.timer.arm('short', set.id);
    if (outcome.kind === 'timeout') return { result: HRESULT.FSRVP_E_WAIT_TIMEOUT };
    debug('Expose %s failed: %s', set.id, errorText(outcome.error));
    return { result: hresultOf(outcome.error) };
  }
  const copies = set.copies.map((c) => ({ ...c, mappings: c.mappings.map((m) => ({ ...m, exposed: true })) }));
  try {
    await core.putSet({ ...set, status: 'Exposed', copies });
  } catch (e) {
    debug('Expose %s: persisting failed, unpublishing: %s', set.id, errorText(e));
    await withdrawShares(core, outcome.value);
    core.timer.arm('short', set.id);
    return { result: HRESULT.E_FAIL };
  }
  core.timer.arm('short', set.id);
  return { result: HRESULT.ZERO };
}

export async function recoveryCompleteShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof RecoveryCompleteShadowCopySet>,
): Promise<ResponseOf<typeof RecoveryCompleteShadowCopySet>> {
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: core.cfg.policy.setNotFound };
  if (set.status !== 'Exposed') return { result: HRESULT.FSRVP_E_BAD_STATE };
  core.timer.stop(set.id);
  let copies = set.copies;
  if (autoRecovery(set)) {
    // Writable since Commit for the client's recovery work; sealed read-only now. All at once:
    // each btrfs flip commits a transaction, and their work outside the kernel overlaps
    // (8 subvolumes: 7 ms instead of 10 one after another).
    const flips = await Promise.allSettled(set.copies.flatMap((c) => (c.snapshot?.writable
      ? [backendOf(core, c.volume.backend).setReadOnly(c.snapshot)] : [])));
    const failed = flips.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const [, m] of mappingsOf(set)) if (m.exposed) await core.publisher.setReadOnly(m.exposedName);
    copies = set.copies.map((c) => (c.snapshot ? { ...c, snapshot: { ...c.snapshot, writable: false } } : c));
  }
  await core.putSet({ ...set, status: 'Recovered', copies });
  const st = core.state;
  st.contextSet = false;
  st.currentContext = 0;
  st.clientAddress = null;
  return { result: HRESULT.ZERO };
}
