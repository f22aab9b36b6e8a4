/**
 * Many-share sets: Commit snapshots the distinct volumes concurrently (one snapshot per volume),
 * Expose publishes all shares concurrently or in one batch, and a failure of any one of them,
 * or a crash in the middle, leaves no snapshot or share behind once reconciled.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { LOCK_FILE } from '../../src/fsrvp/lock.js';
import type { PublishRequest, Share } from '../../src/shares/types.js';
import { ADMIN, Harness, unc } from '../helpers/fsrvp.js';
import { sleep } from '../helpers/fsrvp-fakes.js';

const VOLUMES = 4;
/** Two shares per volume: s1a, s1b on vol1 … s4a, s4b on vol4. */
const SHARES: Share[] = Array.from({ length: VOLUMES }, (_, i) => [
  { name: `s${i + 1}a`, path: `/srv/vol${i + 1}/a` },
  { name: `s${i + 1}b`, path: `/srv/vol${i + 1}/b` },
]).flat();
const ALL = SHARES.map((s) => unc(s.name));

let h: Harness;
beforeEach(async () => {
  h = await Harness.create({ shares: SHARES });
  for (let i = 3; i <= VOLUMES; i++) h.backend.volumes.push({ id: `vol${i}`, root: `/srv/vol${i}` });
});
afterEach(async () => {
  await h.cleanup();
});

/** Counts how many calls of `fn` run at once. */
function concurrency(): { enter(): void; leave(): void; readonly max: number } {
  let now = 0;
  let max = 0;
  return {
    enter() { max = Math.max(max, ++now); },
    leave() { now--; },
    get max() { return max; },
  };
}

async function addedSet(shares: readonly string[] = ALL): Promise<string> {
  const { setId } = await h.start();
  for (const s of shares) expect((await h.add(setId, s)).result).toBe(HRESULT.ZERO);
  return setId;
}

const commit = (setId: string) => h.svc.commitShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 60_000 }, ADMIN);
const expose = (setId: string) => h.svc.exposeShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 60_000 }, ADMIN);

describe('Commit of a many-volume set', () => {
  it('takes one snapshot per volume, all at once, and persists the set once', async () => {
    const setId = await addedSet();
    const c = concurrency();
    const create = h.backend.create.bind(h.backend);
    h.backend.create = (async (v, o) => {
      c.enter();
      try {
        await sleep(20);
        return await create(v, o);
      } finally {
        c.leave();
      }
    }) as typeof h.backend.create;
    const before = h.svc.view();
    expect(before.sets).toHaveLength(1);
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    expect(h.backend.count('create')).toBe(VOLUMES);
    expect(c.max).toBe(VOLUMES);
    expect(h.status(setId)).toBe('Committed');
    expect(h.backend.snapshots.size).toBe(VOLUMES);
  });

  it('a failure of one volume rolls back the snapshots of the others', async () => {
    const setId = await addedSet();
    h.backend.delays.create = 10;
    h.backend.failures.create = (v: { id: string }) => (v.id === 'vol3' ? new Error('ENOSPC on vol3') : undefined);
    const r = await commit(setId);
    expect(r.result).not.toBe(HRESULT.ZERO);
    expect(h.backend.count('create')).toBe(VOLUMES);
    expect(h.backend.count('delete')).toBe(VOLUMES - 1);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.status(setId)).toBe('Added');
    // and it can be committed again
    h.backend.failures.create = undefined;
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    expect(h.backend.snapshots.size).toBe(VOLUMES);
  });

  it('a crash while the volumes are being snapshotted leaves no snapshot after reconciliation', async () => {
    const setId = await addedSet();
    let hang!: (e: Error) => void;
    const hung = new Promise<never>((_, reject) => { hang = reject; });
    const create = h.backend.create.bind(h.backend);
    h.backend.create = (async (v, o) => {
      const ref = await create(v, o); // on disk
      if (v.id === 'vol4') return hung; // the last one never returns: the process dies meanwhile
      return ref;
    }) as typeof h.backend.create;
    const crashed = h.svc;
    const pending = commit(setId);
    await sleep(20);
    expect(h.status(setId)).toBe('CreationInProgress');
    expect(h.backend.snapshots.size).toBe(VOLUMES);
    h.backend.create = Object.getPrototypeOf(h.backend).create.bind(h.backend);
    rmSync(join(h.dir, LOCK_FILE), { force: true });
    await h.open();
    expect(h.status(setId)).toBe('Added');
    expect(h.backend.snapshots.size).toBe(0);
    const actions = h.svc.reconcileReport.repairs.map((x) => x.action);
    expect(actions.filter((a) => a === 'delete-orphan-snapshot')).toHaveLength(VOLUMES);
    hang(new Error('process died'));
    await pending;
    await crashed.close();
  });
});

describe('Expose of a many-share set', () => {
  it('publishes every share at once', async () => {
    const setId = await addedSet();
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    const c = concurrency();
    const publish = h.publisher.publish.bind(h.publisher);
    h.publisher.publish = async (req: PublishRequest) => {
      c.enter();
      try {
        await sleep(10);
        await publish(req);
      } finally {
        c.leave();
      }
    };
    expect((await expose(setId)).result).toBe(HRESULT.ZERO);
    expect(c.max).toBe(SHARES.length);
    expect(h.publisher.shares.size).toBe(SHARES.length);
    expect(h.status(setId)).toBe('Exposed');
  });

  it('a failure of one share withdraws the others; the set stays Committed and can be exposed again', async () => {
    const setId = await addedSet();
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    h.publisher.delays.publish = 5;
    h.publisher.failures.publish = (req: PublishRequest) => (req.base.name === 's2b' ? new Error('net conf failed') : undefined);
    expect((await expose(setId)).result).not.toBe(HRESULT.ZERO);
    expect(h.publisher.shares.size).toBe(0);
    expect(h.status(setId)).toBe('Committed');
    h.publisher.failures.publish = undefined;
    expect((await expose(setId)).result).toBe(HRESULT.ZERO);
    expect(h.publisher.shares.size).toBe(SHARES.length);
  });

  it('uses the publisher batch when there is one; a failed batch leaves nothing published', async () => {
    const setId = await addedSet();
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    const batches: number[] = [];
    let fail = true;
    const pub = h.publisher as typeof h.publisher & { publishMany?(reqs: readonly PublishRequest[]): Promise<void> };
    pub.publishMany = async (reqs) => {
      batches.push(reqs.length);
      for (const r of reqs) h.publisher.shares.set(r.name, r);
      if (fail) {
        for (const r of reqs) h.publisher.shares.delete(r.name); // all or none
        throw new Error('registry transaction failed');
      }
    };
    expect((await expose(setId)).result).not.toBe(HRESULT.ZERO);
    expect(h.publisher.shares.size).toBe(0);
    fail = false;
    expect((await expose(setId)).result).toBe(HRESULT.ZERO);
    expect(batches).toEqual([SHARES.length, SHARES.length]);
    expect(h.publisher.count('publish')).toBe(0);
    expect(h.publisher.shares.size).toBe(SHARES.length);
  });

  it('a crash while the shares are being published leaves no share after reconciliation', async () => {
    const setId = await addedSet();
    expect((await commit(setId)).result).toBe(HRESULT.ZERO);
    let hang!: (e: Error) => void;
    const hung = new Promise<never>((_, reject) => { hang = reject; });
    const publish = h.publisher.publish.bind(h.publisher);
    h.publisher.publish = async (req: PublishRequest) => {
      await publish(req);
      if (req.base.name === 's4b') await hung;
    };
    const crashed = h.svc;
    const pending = expose(setId);
    await sleep(20);
    expect(h.publisher.shares.size).toBe(SHARES.length);
    h.publisher.publish = Object.getPrototypeOf(h.publisher).publish.bind(h.publisher);
    rmSync(join(h.dir, LOCK_FILE), { force: true });
    await h.open();
    expect(h.status(setId)).toBe('Committed');
    expect(h.publisher.shares.size).toBe(0);
    expect(h.backend.snapshots.size).toBe(VOLUMES); // the committed set keeps its snapshots
    const actions = h.svc.reconcileReport.repairs.map((x) => x.action);
    expect(actions.filter((a) => a === 'unpublish-orphan-share')).toHaveLength(SHARES.length);
    hang(new Error('process died'));
    await pending;
    await crashed.close();
  });
});
