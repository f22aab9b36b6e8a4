/**
 * Start-up reconciliation: the persisted state, the backends' snapshots and the publisher's
 * shares are brought back into agreement, each repair reported with its reason.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { LOCK_FILE } from '../../src/fsrvp/lock.js';
import { JOURNAL_FILE } from '../../src/fsrvp/store.js';
import type { SnapshotRef } from '../../src/storage/backend.js';
import { ADMIN, Harness, unc } from '../helpers/fsrvp.js';
import { sleep } from '../helpers/fsrvp-fakes.js';

let h: Harness;
beforeEach(async () => {
  h = await Harness.create();
});
afterEach(async () => {
  await h.cleanup();
});

const actions = () => h.svc.reconcileReport.repairs.map((r) => `${r.action} ${r.target}`);

function orphan(volumeId: string, name: string): SnapshotRef {
  const ref: SnapshotRef = { backend: 'fake', volumeId, path: `/srv/${volumeId}/.snapshots/${name}`, name, writable: false, createdAt: 1 };
  h.backend.snapshots.set(name, ref);
  return ref;
}

describe('reconciliation at start-up', () => {
  it('finds nothing to repair in a consistent world', async () => {
    await h.exposed([unc('fsrvp_share'), unc('data')]);
    await h.restart();
    expect(h.svc.reconcileReport.repairs).toEqual([]);
    expect(h.svc.reconcileReport).toMatchObject({ snapshotsOnDisk: 2, sharesPublished: 2 });
  });

  it('deletes snapshots no state refers to, on volumes of configured shares too', async () => {
    const { setId } = await h.exposed([unc('fsrvp_share')]);
    orphan('vol1', 'stray-1');
    orphan('vol2', 'stray-2');
    await h.restart();
    expect(actions().sort()).toEqual(['delete-orphan-snapshot stray-1', 'delete-orphan-snapshot stray-2']);
    expect(h.svc.reconcileReport.repairs[0]!.reason).toMatch(/no shadow copy refers to/);
    expect([...h.backend.snapshots.keys()]).toHaveLength(1);
    expect(h.status(setId)).toBe('Exposed');
  });

  it('keeps retained snapshots, and forgets retained snapshots that vanished', async () => {
    await h.restart({ retainSnapshots: true });
    const a = await h.exposed([unc('fsrvp_share')]);
    await h.svc.deleteShareMapping({ ShadowCopySetId: a.setId, ShadowCopyId: a.copyIds[0]!, ShareName: unc('fsrvp_share') }, ADMIN);
    const b = await h.exposed([unc('data')]);
    await h.svc.deleteShareMapping({ ShadowCopySetId: b.setId, ShadowCopyId: b.copyIds[0]!, ShareName: unc('data') }, ADMIN);
    expect(h.backend.snapshots.size).toBe(2);
    const gone = [...h.backend.snapshots.values()].find((s) => s.volumeId === 'vol2')!;
    h.backend.snapshots.delete(gone.name);
    await h.restart({ retainSnapshots: true });
    expect(actions()).toEqual([`forget-retained ${gone.name}`]);
    expect(h.svc.view().retained.map((r) => r.snapshot.volumeId)).toEqual(['vol1']);
    expect(h.backend.snapshots.size).toBe(1);
  });

  it('drops a set whose snapshot is gone, with its other snapshots and its shares', async () => {
    const { setId } = await h.exposed([unc('fsrvp_share'), unc('data')]);
    const vol1 = [...h.backend.snapshots.values()].find((s) => s.volumeId === 'vol1')!;
    h.backend.snapshots.delete(vol1.name);
    await h.restart();
    expect(actions()).toEqual([`drop-set ${setId}`]);
    expect(h.svc.reconcileReport.repairs[0]!.reason).toMatch(/no longer exists/);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
    await h.restart();
    expect(h.svc.reconcileReport.repairs).toEqual([]);
  });

  it('unpublishes shares no exposed mapping refers to, and republishes exposed ones that vanished', async () => {
    const { copyIds } = await h.exposed([unc('fsrvp_share')]);
    const name = `fsrvp_share@{${copyIds[0]}}`;
    const req = h.publisher.shares.get(name)!;
    h.publisher.shares.delete(name);
    h.publisher.shares.set('stale@{0}', { ...req, name: 'stale@{0}' });
    await h.restart();
    expect(actions().sort()).toEqual([`republish-share ${name}`, 'unpublish-orphan-share stale@{0}']);
    expect([...h.publisher.shares.keys()]).toEqual([name]);
    expect(h.publisher.shares.get(name)).toEqual(req);
  });

  it('rolls a crash mid-commit back to Added and deletes the partial snapshots', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    await h.add(setId, unc('data'));
    // Simulate the crash: vol1's snapshot exists, vol2's create hangs, the process "dies".
    let hang!: (e: Error) => void;
    const hung = new Promise<never>((_, reject) => { hang = reject; });
    h.backend.create = (async (v: { id: string }) => {
      if (v.id === 'vol2') await hung;
      return orphan('vol1', 'partial-1');
    }) as typeof h.backend.create;
    const crashed = h.svc;
    const pending = crashed.commitShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 0 }, ADMIN);
    await sleep(20);
    expect(h.status(setId)).toBe('CreationInProgress');
    // A second service instance on the same state dir stands in for the restarted process. The
    // dead process's lock names a PID that no longer exists, which the new one takes over; here
    // the "dead" instance shares our PID, so its lock file is removed by hand.
    h.backend.create = Object.getPrototypeOf(h.backend).create.bind(h.backend);
    rmSync(join(h.dir, LOCK_FILE), { force: true });
    await h.open();
    expect(h.status(setId)).toBe('Added');
    expect(actions()).toEqual([`rollback-commit ${setId}`, 'delete-orphan-snapshot partial-1']);
    expect(h.backend.snapshots.size).toBe(0);
    // It can be committed again.
    expect((await h.svc.commitShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 1000 }, ADMIN)).result).toBe(HRESULT.ZERO);
    // Let the "dead" instance finish so nothing keeps running after the test. Its journal
    // handle points at the file the new instance replaced, so it cannot disturb the new state.
    hang(new Error('process died'));
    expect((await pending).result).toBe(HRESULT.E_FAIL);
    await crashed.close();
    expect(h.status(setId)).toBe('Committed');
  });

  it('a power loss that took the CreationInProgress record (not fsync\'d) leaves an orphan snapshot, which is deleted', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    let hang!: (e: Error) => void;
    const hung = new Promise<never>((_, reject) => { hang = reject; });
    h.backend.create = (async () => {
      orphan('vol1', 'made-before-power-loss');
      return hung;
    }) as typeof h.backend.create;
    const crashed = h.svc;
    const pending = crashed.commitShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 0 }, ADMIN);
    await sleep(20);
    expect(h.status(setId)).toBe('CreationInProgress');
    // What reached the disk: everything up to the last fsync'd record, so not the
    // CreationInProgress record (nor the Started/Added ones before it, which are not fsync'd either).
    const journal = join(h.dir, JOURNAL_FILE);
    const lines = readFileSync(journal, 'utf8').split('\n').filter(Boolean);
    expect(lines.at(-1)).toMatch(/CreationInProgress/);
    writeFileSync(journal, lines.filter((l) => !/CreationInProgress|"Added"|"Started"/.test(l)).map((l) => `${l}\n`).join(''));
    h.backend.create = Object.getPrototypeOf(h.backend).create.bind(h.backend);
    rmSync(join(h.dir, LOCK_FILE), { force: true });
    await h.open();
    expect(h.svc.view().sets).toEqual([]);
    expect(actions()).toEqual(['delete-orphan-snapshot made-before-power-loss']);
    expect(h.backend.snapshots.size).toBe(0);
    hang(new Error('power lost'));
    await pending;
    await crashed.close();
  });

  it('keeps state it cannot verify and says so', async () => {
    const { setId } = await h.exposed([unc('fsrvp_share')]);
    h.backend.failures.list = new Error('EIO');
    await h.restart();
    expect(actions()).toContain('unverifiable fake:vol1');
    expect(h.status(setId)).toBe('Exposed');
    expect(h.backend.snapshots.size).toBe(1);
  });
});
