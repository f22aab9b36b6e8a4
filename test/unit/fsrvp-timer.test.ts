/**
 * The message-sequence timer (FSRVP.md §6.1, §6.2): values per operation, expiry in every state
 * under the Samba rule (default) and the SPEC rule (strict), cleanup of what expiry removes,
 * persistence of the removal, and one run on real timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { LONG_TIMEOUT_MS, SequenceTimer, SHORT_TIMEOUT_MS } from '../../src/fsrvp/timer.js';
import { ADMIN, Harness, unc } from '../helpers/fsrvp.js';
import { FakeScheduler, sleep } from '../helpers/fsrvp-fakes.js';

const H = HRESULT;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const T = (id: string, ms = 1000) => ({ ShadowCopySetId: id, TimeOutInMilliseconds: ms });

describe('SequenceTimer', () => {
  it('lasts 180 s or 1800 s, or the override for both, and 0 disables it', () => {
    const s = new FakeScheduler();
    expect(new SequenceTimer(s, undefined, () => {}).durationOf('short')).toBe(SHORT_TIMEOUT_MS);
    expect(new SequenceTimer(s, undefined, () => {}).durationOf('long')).toBe(LONG_TIMEOUT_MS);
    expect(new SequenceTimer(s, 1, () => {}).durationOf('long')).toBe(1000);
    const off = new SequenceTimer(s, 0, () => {});
    off.arm('short', undefined);
    expect(off.current()).toBeUndefined();
    expect(s.pending).toBe(0);
  });

  it('fires once per arming; re-arming or stopping cancels the previous one', () => {
    const s = new FakeScheduler();
    const fired: Array<string | undefined> = [];
    const t = new SequenceTimer(s, undefined, (a) => fired.push(a.setId));
    t.arm('short', 'a');
    s.advance(SHORT_TIMEOUT_MS - 1);
    t.arm('long', 'b');
    s.advance(SHORT_TIMEOUT_MS);
    expect(fired).toEqual([]);
    s.advance(LONG_TIMEOUT_MS);
    expect(fired).toEqual(['b']);
    t.arm('short', 'c');
    t.stop();
    s.advance(LONG_TIMEOUT_MS * 2);
    expect(fired).toEqual(['b']);
    expect(s.pending).toBe(0);
  });

  it('tells a queued expiry that it is stale once the timer was touched again', () => {
    const s = new FakeScheduler();
    let last: Parameters<ConstructorParameters<typeof SequenceTimer>[2]>[0] | undefined;
    const t = new SequenceTimer(s, 1, (a) => { last = a; });
    t.arm('short', 'x');
    s.advance(1000);
    expect(t.stillExpired(last!)).toBe(true);
    t.arm('short', 'y');
    expect(t.stillExpired(last!)).toBe(false);
  });
});

describe('timer values per operation (fake clock)', () => {
  it('arms short on SetContext/Start/Commit/Expose and duplicate Add, long on Add/Prepare/GetShareMapping, stops on RecoveryComplete', async () => {
    h = await Harness.create();
    const svc = h.svc;
    await svc.setContext({ Context: 0 }, ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'short', setId: undefined });
    const s = await svc.startShadowCopySet({ ClientShadowCopySetId: '11111111-1111-1111-1111-111111111111' }, ADMIN);
    const id = s.pShadowCopySetId;
    expect(svc.view().timer).toMatchObject({ length: 'short', setId: id });
    const a = await h.add(id, unc('fsrvp_share'));
    expect(svc.view().timer).toMatchObject({ length: 'long', setId: id, ms: LONG_TIMEOUT_MS });
    await h.add(id, unc('fsrvp_share'));
    expect(svc.view().timer).toMatchObject({ length: 'short', setId: id });
    await svc.prepareShadowCopySet(T(id), ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'long' });
    await svc.commitShadowCopySet(T(id), ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'short' });
    await svc.exposeShadowCopySet(T(id), ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'short' });
    await svc.getShareMapping({ ShadowCopyId: a.pShadowCopyId, ShadowCopySetId: id, ShareName: unc('fsrvp_share'), Level: 1 }, ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'long' });
    await svc.abortShadowCopySet({ ShadowCopySetId: id }, ADMIN);
    expect(svc.view().timer).toMatchObject({ length: 'long' });
    await svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: id }, ADMIN);
    expect(svc.view().timer).toBeUndefined();
  });

  it('a call before expiry restarts the clock', async () => {
    h = await Harness.create();
    const { setId } = await h.start();
    await h.advance(SHORT_TIMEOUT_MS - 1000);
    await h.add(setId, unc('fsrvp_share'));
    await h.advance(LONG_TIMEOUT_MS - 1000);
    expect(h.status(setId)).toBe('Added');
    await h.advance(1000);
    expect(h.status(setId)).toBeUndefined();
  });
});

/**
 * smbtorture seq_timeout with `fss: sequence timeout = 1`: after each injection point the next
 * call gets the documented error (FSRVP.md §12).
 */
describe('expiry in each state, Samba rule (default)', () => {
  const prep = async (): Promise<Harness> => Harness.create({ config: { sequenceTimeoutSeconds: 1 } });

  it('after SetContext: the context is gone, Start answers FSRVP_E_BAD_STATE', async () => {
    h = await prep();
    await h.svc.setContext({ Context: 0 }, ADMIN);
    await h.advance(1500);
    expect(h.svc.view().contextSet).toBe(false);
    expect((await h.svc.startShadowCopySet({ ClientShadowCopySetId: '11111111-1111-1111-1111-111111111111' }, ADMIN)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('after Start: the set is gone, Add answers E_INVALIDARG', async () => {
    h = await prep();
    const { setId } = await h.start();
    await h.advance(1500);
    expect((await h.add(setId, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
    expect(h.events).toContainEqual({ kind: 'expired', setIds: [setId] });
  });

  it('after Add and after Prepare: Prepare/Commit answer E_INVALIDARG', async () => {
    h = await prep();
    let { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    await h.advance(1500);
    expect((await h.svc.prepareShadowCopySet(T(setId), ADMIN)).result).toBe(H.E_INVALIDARG);
    ({ setId } = await h.start());
    await h.add(setId, unc('fsrvp_share'));
    expect((await h.svc.prepareShadowCopySet(T(setId), ADMIN)).result).toBe(0);
    await h.advance(1500);
    expect((await h.svc.commitShadowCopySet(T(setId), ADMIN)).result).toBe(H.E_INVALIDARG);
  });

  it('after Commit: the set and its snapshot are gone, Expose answers E_INVALIDARG', async () => {
    h = await prep();
    const { setId } = await h.committed();
    expect(h.backend.snapshots.size).toBe(1);
    await h.advance(1500);
    expect(h.backend.snapshots.size).toBe(0);
    expect((await h.svc.exposeShadowCopySet(T(setId), ADMIN)).result).toBe(H.E_INVALIDARG);
  });

  it('after Expose and after RecoveryComplete: the set survives', async () => {
    h = await prep();
    const { setId, copyIds } = await h.exposed();
    await h.advance(1500);
    expect(h.status(setId)).toBe('Exposed');
    expect(h.svc.view().contextSet).toBe(false);
    expect(h.publisher.shares.size).toBe(1);
    // A new sequence can start: Exposed sets do not block.
    expect((await h.start()).result).toBe(0);
    const m = await h.svc.getShareMapping({ ShadowCopyId: copyIds[0]!, ShadowCopySetId: setId, ShareName: unc('fsrvp_share'), Level: 1 }, ADMIN);
    expect(m.result).toBe(0);
  });

  it('an arming not tied to a set removes every set still in creation', async () => {
    h = await prep();
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    // SetContext mid-sequence re-arms without a set (Samba); expiry still removes the Added set.
    await h.svc.setContext({ Context: 0 }, ADMIN);
    await h.advance(1500);
    expect(h.svc.view().sets).toEqual([]);
  });

  it('persists the removal', async () => {
    h = await prep();
    const { setId } = await h.committed();
    await h.advance(1500);
    await h.restart();
    expect(h.status(setId)).toBeUndefined();
    expect(h.svc.reconcileReport.repairs).toEqual([]);
  });

  it('0 disables the timer', async () => {
    h = await Harness.create({ config: { sequenceTimeoutSeconds: 0 } });
    const { setId } = await h.start();
    await h.advance(10 * LONG_TIMEOUT_MS);
    expect(h.status(setId)).toBe('Started');
    expect(h.clock.pending).toBe(0);
  });
});

describe('expiry, SPEC rule (strict)', () => {
  it('removes every set that is not Recovered, Exposed included, with its shares and snapshots', async () => {
    h = await Harness.create({ config: { mode: 'strict', sequenceTimeoutSeconds: 1 } });
    const a = await h.exposed([unc('fsrvp_share')]);
    expect((await h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: a.setId }, ADMIN)).result).toBe(0);
    const b = await h.exposed([unc('data')]);
    expect(h.publisher.shares.size).toBe(2);
    await h.advance(1500);
    expect(h.status(a.setId)).toBe('Recovered');
    expect(h.status(b.setId)).toBeUndefined();
    expect(h.publisher.shares.size).toBe(1);
    expect([...h.backend.snapshots.values()].map((s) => s.volumeId)).toEqual(['vol1']);
    expect(h.svc.view().contextSet).toBe(false);
  });
});

describe('after a restart', () => {
  it('arms the timer for sets left in creation, which then expire', async () => {
    h = await Harness.create();
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    await h.restart();
    expect(h.status(setId)).toBe('Added');
    expect(h.svc.view().timer).toMatchObject({ length: 'short', setId: undefined });
    await h.advance(SHORT_TIMEOUT_MS);
    expect(h.status(setId)).toBeUndefined();
  });
});

describe('real time', () => {
  it('expires a set after about a second with `sequence timeout = 1`', async () => {
    h = await Harness.create({ realTime: true, config: { sequenceTimeoutSeconds: 1 } });
    const { setId } = await h.committed();
    expect(h.backend.snapshots.size).toBe(1);
    await sleep(600);
    expect(h.status(setId)).toBe('Committed');
    await sleep(700);
    await h.svc.idle();
    expect(h.status(setId)).toBeUndefined();
    expect(h.backend.snapshots.size).toBe(0);
    expect((await h.svc.exposeShadowCopySet(T(setId), ADMIN)).result).toBe(H.E_INVALIDARG);
  });
});

/**
 * Issue 9.1: with one global timer (Samba 4.17), a call on an Exposed set re-arms or frees the
 * timer that a set still in creation was relying on; that set then never expires and blocks every
 * later Start. Each set keeps its own arming in the default mode, so it expires on time.
 */
describe('a set in creation expires whatever is done to other sets (Samba mode)', () => {
  const startB = async (): Promise<string> => {
    const b = await h!.start();
    expect(b.result).toBe(0);
    return b.setId;
  };

  it('GetShareMapping on an Exposed set does not keep a Started set alive', async () => {
    h = await Harness.create();
    const a = await h.exposed();
    const b = await startB();
    await h.advance(SHORT_TIMEOUT_MS - 1000);
    const m = await h.svc.getShareMapping({ ShadowCopyId: a.copyIds[0]!, ShadowCopySetId: a.setId, ShareName: unc('fsrvp_share'), Level: 1 }, ADMIN);
    expect(m.result).toBe(0);
    expect(h.svc.view().timer).toMatchObject({ length: 'long', setId: a.setId });
    await h.advance(1000);
    expect(h.status(b)).toBeUndefined();
    expect(h.events).toContainEqual({ kind: 'expired', setIds: [b] });
    // The Exposed set is untouched and a new set can start.
    expect(h.status(a.setId)).toBe('Exposed');
    expect((await h.start()).result).toBe(0);
  });

  it('RecoveryComplete on an Exposed set does not disarm a Started set', async () => {
    h = await Harness.create();
    const a = await h.exposed();
    const b = await startB();
    expect((await h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: a.setId }, ADMIN)).result).toBe(0);
    await h.advance(SHORT_TIMEOUT_MS);
    expect(h.status(b)).toBeUndefined();
    expect(h.status(a.setId)).toBe('Recovered');
    expect((await h.start()).result).toBe(0);
  });

  it('an Added set still expires after its long arming although other sets were touched meanwhile', async () => {
    h = await Harness.create();
    const a = await h.exposed();
    const b = await startB();
    expect((await h.add(b, unc('fsrvp_share'))).result).toBe(0);
    for (let i = 0; i < 3; i++) {
      await h.advance(LONG_TIMEOUT_MS / 4);
      await h.svc.getShareMapping({ ShadowCopyId: a.copyIds[0]!, ShadowCopySetId: a.setId, ShareName: unc('fsrvp_share'), Level: 1 }, ADMIN);
    }
    expect(h.status(b)).toBe('Added');
    await h.advance(LONG_TIMEOUT_MS / 4);
    expect(h.status(b)).toBeUndefined();
  });

  it("an older set's arming running out does not reset the context of a set being created", async () => {
    h = await Harness.create();
    const a = await h.exposed();
    await h.svc.getShareMapping({ ShadowCopyId: a.copyIds[0]!, ShadowCopySetId: a.setId, ShareName: unc('fsrvp_share'), Level: 1 }, ADMIN);
    await h.advance(LONG_TIMEOUT_MS - 60_000);
    const b = await startB();
    expect((await h.add(b, unc('fsrvp_share'))).result).toBe(0);
    await h.advance(60_000); // A's long arming runs out now
    expect(h.svc.view().contextSet).toBe(true);
    expect(h.status(b)).toBe('Added');
    expect(h.status(a.setId)).toBe('Exposed');
  });

  it('single mode (strict) keeps one timer: the last arming replaces the previous one', () => {
    const s = new FakeScheduler();
    const fired: Array<string | undefined> = [];
    const single = new SequenceTimer(s, 1, (a) => fired.push(a.setId), 'single');
    single.arm('short', 'a');
    single.arm('short', 'b');
    s.advance(1000);
    expect(fired).toEqual(['b']);
    const perSet = new SequenceTimer(s, 1, (a) => fired.push(a.setId), 'per-set');
    perSet.arm('short', 'a');
    perSet.arm('short', 'b');
    perSet.stop('b');
    s.advance(1000);
    expect(fired).toEqual(['b', 'a']);
  });
});

describe('the real scheduler with a client timeout beyond what Node can wait', () => {
  it('a TimeOutInMilliseconds above 2^31-1 (found by fsrvp-fuzz live) does not expire at once', async () => {
    const { withDeadline } = await import('../../src/fsrvp/deadline.js');
    const { realScheduler } = await import('../../src/fsrvp/timer.js');
    const work = () => new Promise<string>((r) => setTimeout(() => r('done'), 30));
    for (const ms of [2_708_614_257, 0xffffffff]) {
      expect(await withDeadline(realScheduler, ms, 10, work)).toEqual({ kind: 'ok', value: 'done' });
    }
  });
});
