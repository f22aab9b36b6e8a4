/**
 * TimeOutInMilliseconds on Prepare/Commit/Expose (real timers, short delays), rollback of
 * half-done work, and the serialisation of concurrent calls from several connections.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { ADMIN, callAs, Harness, unc } from '../helpers/fsrvp.js';
import { sleep } from '../helpers/fsrvp-fakes.js';

const H = HRESULT;
let h: Harness;
beforeEach(async () => {
  h = await Harness.create({ realTime: true, config: { abortGraceMs: 2000 } });
});
afterEach(async () => {
  await h.cleanup();
});

const T = (id: string, ms: number) => ({ ShadowCopySetId: id, TimeOutInMilliseconds: ms });

async function added(shares: string[]): Promise<string> {
  const { setId } = await h.start();
  for (const s of shares) expect((await h.add(setId, s)).result).toBe(0);
  return setId;
}

describe('CommitShadowCopySet timeout', () => {
  it('answers FSSAGENT_E_TIMEOUT, aborts the backend and goes back to Added', async () => {
    const setId = await added([unc('fsrvp_share')]);
    let aborted = false;
    const create = h.backend.create.bind(h.backend);
    h.backend.create = async (v, o) => {
      o.signal?.addEventListener('abort', () => { aborted = true; });
      return create(v, o);
    };
    h.backend.delays.create = 5000;
    expect((await h.svc.commitShadowCopySet(T(setId, 50), ADMIN)).result).toBe(H.FSSAGENT_E_TIMEOUT);
    expect(aborted).toBe(true);
    expect(h.status(setId)).toBe('Added');
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.svc.view().timer).toMatchObject({ length: 'short', setId });
    h.backend.delays.create = 0;
    expect((await h.svc.commitShadowCopySet(T(setId, 1000), ADMIN)).result).toBe(0);
  });

  it('deletes the snapshots already taken on other volumes', async () => {
    const setId = await added([unc('fsrvp_share'), unc('data')]);
    h.backend.delays.create = 0;
    const slow = h.backend.create.bind(h.backend);
    h.backend.create = async (v, o) => {
      if (v.id === 'vol2') await sleep(400, o.signal);
      return slow(v, o);
    };
    expect((await h.svc.commitShadowCopySet(T(setId, 60), ADMIN)).result).toBe(H.FSSAGENT_E_TIMEOUT);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.backend.calls.filter((c) => c.method === 'delete')).toHaveLength(1);
  });

  it('waits for a backend that ignores the abort, then deletes what it made', async () => {
    const setId = await added([unc('fsrvp_share')]);
    h.backend.delays.create = 200;
    h.backend.ignoreAbort = true;
    expect((await h.svc.commitShadowCopySet(T(setId, 30), ADMIN)).result).toBe(H.FSSAGENT_E_TIMEOUT);
    expect(h.backend.count('create')).toBe(1);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.backend.count('delete')).toBe(1);
  });

  it('after the grace period replies anyway; the late snapshot is still deleted', async () => {
    await h.restart({ abortGraceMs: 20 });
    const setId = await added([unc('fsrvp_share')]);
    let finished = false;
    const create = h.backend.create.bind(h.backend);
    h.backend.create = async (v, o) => {
      const ref = await create(v, o);
      finished = true;
      return ref;
    };
    h.backend.delays.create = 300;
    h.backend.ignoreAbort = true;
    expect((await h.svc.commitShadowCopySet(T(setId, 30), ADMIN)).result).toBe(H.FSSAGENT_E_TIMEOUT);
    expect(finished).toBe(false);
    expect(h.status(setId)).toBe('Added');
    while (!finished) await sleep(20);
    await sleep(20);
    expect(h.backend.count('create')).toBe(1);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.backend.count('delete')).toBe(1);
  });

  it('treats a timeout of 0 as no limit', async () => {
    const setId = await added([unc('fsrvp_share')]);
    h.backend.delays.create = 100;
    expect((await h.svc.commitShadowCopySet(T(setId, 0), ADMIN)).result).toBe(0);
  });
});

describe('ExposeShadowCopySet timeout', () => {
  it('answers FSRVP_E_WAIT_TIMEOUT and unpublishes the shares it published', async () => {
    const setId = await added([unc('fsrvp_share'), unc('other'), unc('data')]);
    expect((await h.svc.commitShadowCopySet(T(setId, 1000), ADMIN)).result).toBe(0);
    // Shares are published in parallel: each publish alone outlasts the timeout.
    h.publisher.delays.publish = 200;
    expect((await h.svc.exposeShadowCopySet(T(setId, 120), ADMIN)).result).toBe(H.FSRVP_E_WAIT_TIMEOUT);
    expect(h.publisher.count('publish')).toBeGreaterThanOrEqual(2);
    expect(h.publisher.shares.size).toBe(0);
    // Publishes still running at the timeout are withdrawn when they land: nothing is left behind.
    await new Promise((r) => setTimeout(r, 250));
    expect(h.publisher.shares.size).toBe(0);
    h.publisher.delays.publish = 0;
    expect(h.status(setId)).toBe('Committed');
    expect(h.backend.snapshots.size).toBe(2);
    expect((await h.svc.exposeShadowCopySet(T(setId, 5000), ADMIN)).result).toBe(0);
    expect(h.publisher.shares.size).toBe(3);
  });
});

describe('PrepareShadowCopySet timeout', () => {
  it('answers FSRVP_E_WAIT_TIMEOUT and stays Added', async () => {
    const setId = await added([unc('fsrvp_share')]);
    h.backend.delays.check = 150;
    expect((await h.svc.prepareShadowCopySet(T(setId, 30), ADMIN)).result).toBe(H.FSRVP_E_WAIT_TIMEOUT);
    expect(h.status(setId)).toBe('Added');
    expect(h.svc.view().timer).toMatchObject({ length: 'short' });
  });
});

describe('serialisation of concurrent calls', () => {
  const conn = (n: number) => callAs({ ...ADMIN.caller }, n);

  it('lets exactly one of several concurrent Starts win', async () => {
    await h.svc.setContext({ Context: 0 }, ADMIN);
    const rs = await Promise.all([1, 2, 3, 4].map((n) =>
      h.svc.startShadowCopySet({ ClientShadowCopySetId: '11111111-1111-1111-1111-111111111111' }, conn(n))));
    expect(rs.filter((r) => r.result === 0)).toHaveLength(1);
    expect(rs.filter((r) => r.result === H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS)).toHaveLength(3);
    expect(h.svc.view().sets).toHaveLength(1);
  });

  it('runs a second Commit after the first finished (one snapshot, one BAD_STATE)', async () => {
    const setId = await added([unc('fsrvp_share')]);
    h.backend.delays.create = 100;
    const [a, b] = await Promise.all([
      h.svc.commitShadowCopySet(T(setId, 5000), conn(1)),
      h.svc.commitShadowCopySet(T(setId, 5000), conn(2)),
    ]);
    expect([a.result, b.result]).toEqual([0, H.FSRVP_E_BAD_STATE]);
    expect(h.backend.snapshots.size).toBe(1);
  });

  it('never shows a half-done Commit to other calls, while pure queries are not held up', async () => {
    const setId = await added([unc('fsrvp_share')]);
    h.backend.delays.create = 200;
    const commit = h.svc.commitShadowCopySet(T(setId, 5000), conn(1));
    let committed = false;
    void commit.then(() => { committed = true; });
    await sleep(20);
    expect((await h.svc.isPathSupported({ ShareName: unc('data') }, conn(2))).result).toBe(0);
    expect(committed, 'the query did not wait for the commit').toBe(false);
    const add = await h.add(setId, unc('data'), conn(3));
    expect(committed, 'the Add waited for the commit').toBe(true);
    expect(add.result).toBe(H.FSRVP_E_BAD_STATE);
    expect(h.status(setId)).toBe('Committed');
    expect((await commit).result).toBe(0);
  });

  it('runs interleaved full sequences from two connections without losing anything', async () => {
    // Two clients race through create/expose/delete; whichever loses a Start retries.
    const run = async (n: number, share: string): Promise<void> => {
      const ctx = conn(n);
      for (;;) {
        await h.svc.setContext({ Context: 0 }, ctx);
        const s = await h.svc.startShadowCopySet({ ClientShadowCopySetId: '11111111-1111-1111-1111-111111111111' }, ctx);
        if (s.result === H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS) {
          await sleep(5);
          continue;
        }
        expect(s.result).toBe(0);
        const id = s.pShadowCopySetId;
        const a = await h.svc.addToShadowCopySet({ ClientShadowCopyId: id, ShadowCopySetId: id, ShareName: share }, ctx);
        expect(a.result).toBe(0);
        expect((await h.svc.commitShadowCopySet(T(id, 5000), ctx)).result).toBe(0);
        expect((await h.svc.exposeShadowCopySet(T(id, 5000), ctx)).result).toBe(0);
        expect((await h.svc.deleteShareMapping({ ShadowCopySetId: id, ShadowCopyId: a.pShadowCopyId, ShareName: share }, ctx)).result).toBe(0);
        return;
      }
    };
    h.backend.delays.create = 20;
    await Promise.all([run(1, unc('fsrvp_share')), run(2, unc('data'))]);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
  });
});
