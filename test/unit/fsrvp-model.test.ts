/**
 * Random operation sequences (fast-check) against the service with fake backend, publisher
 * and clock, in both modes, checking after every step:
 *  - never two sets in progress;
 *  - no set is left in CreationInProgress between calls;
 *  - every set that has snapshots has them on disk, and sets before Commit have none;
 *  - the published shares are exactly the exposed mappings, and each has its snapshot;
 *  - the snapshots on disk are exactly those the state refers to (nothing orphaned), so a
 *    successful DeleteShareMapping leaves neither share nor (unshared) snapshot behind;
 *  - a cleanup step that failed (injected failures) is tracked as pending, and a pending share
 *    keeps its snapshot;
 *  - every answer is a documented HRESULT;
 *  - a restart brings back the same sets;
 *  - and at the end, no set is still in creation once the longest timeout has run out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ATTR, CTX, HRESULT } from '../../src/fsrvp/codes.js';
import { IN_PROGRESS, snapshotKey } from '../../src/fsrvp/state.js';
import { LONG_TIMEOUT_MS, SHORT_TIMEOUT_MS } from '../../src/fsrvp/timer.js';
import { ADMIN, Harness, NETBIOS, unc } from '../helpers/fsrvp.js';

const UNKNOWN = 'feedface-0000-4000-8000-000000000000';
const SHARES = [unc('fsrvp_share'), unc('other', NETBIOS, true), unc('data'), unc('hidden$', '127.0.0.1', true), unc('refused'), unc('nosuch'), '\\\\10.66.66.66\\NETLOGON'];
const KNOWN_RESULTS = new Set<number>(Object.values(HRESULT).map((v) => v >>> 0));

type Cmd =
  | { op: 'setContext'; context: number }
  | { op: 'start' }
  /** SetContext(BACKUP) then Start, as every client does. */
  | { op: 'begin' }
  /** The natural next call for the newest set, whatever its state (keeps sequences deep). */
  | { op: 'next'; choice: number }
  | { op: 'add' | 'getMap' | 'delete'; set: number; copy: number; share: number }
  | { op: 'prepare' | 'commit' | 'expose' | 'recover' | 'abort'; set: number }
  | { op: 'advance'; ms: number }
  /** The `skip`+1-th next call of that kind fails (once). */
  | { op: 'fail'; what: 'create' | 'publish' | 'unpublish'; skip: number }
  | { op: 'restart' };

/** Mostly the newest set/copy, sometimes an older or an unknown one. */
const idx = fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constant(1), weight: 2 }, { arbitrary: fc.nat({ max: 4 }), weight: 1 });
/** Mostly the four good shares, sometimes a refused, unknown or foreign one. */
const shareIdx = fc.oneof({ arbitrary: fc.nat({ max: 3 }), weight: 5 }, { arbitrary: fc.nat({ max: SHARES.length - 1 }), weight: 1 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('setContext' as const), context: fc.constantFrom(CTX.BACKUP, CTX.NAS_ROLLBACK | ATTR.AUTO_RECOVERY, CTX.APP_ROLLBACK, 0x3) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'start' as const }), weight: 3 },
  { arbitrary: fc.constant({ op: 'begin' as const }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('next' as const), choice: fc.nat({ max: 11 }) }), weight: 40 },
  { arbitrary: fc.record({ op: fc.constantFrom('add' as const, 'getMap' as const, 'delete' as const), set: idx, copy: idx, share: shareIdx }), weight: 8 },
  { arbitrary: fc.record({ op: fc.constantFrom('prepare' as const, 'commit' as const, 'expose' as const, 'recover' as const, 'abort' as const), set: idx }), weight: 10 },
  { arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.constantFrom(1000, SHORT_TIMEOUT_MS, LONG_TIMEOUT_MS) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('fail' as const), what: fc.constantFrom('create' as const, 'publish' as const, 'unpublish' as const), skip: fc.nat({ max: 2 }) }), weight: 6 },
  { arbitrary: fc.constant({ op: 'restart' as const }), weight: 1 },
);

const pick = (list: string[], i: number): string => list[i] ?? UNKNOWN;

function checkInvariants(h: Harness, mode: 'samba' | 'strict'): void {
  const v = h.svc.view();
  const active = v.sets.filter((s) => (mode === 'strict' ? s.status !== 'Recovered' : IN_PROGRESS.has(s.status)));
  expect(active.length, 'sets in progress').toBeLessThanOrEqual(1);
  const referenced = new Set<string>(v.retained.map((r) => snapshotKey(r.snapshot)));
  const exposed = new Set<string>();
  for (const set of v.sets) {
    expect(set.status).not.toBe('CreationInProgress');
    const taken = set.status === 'Committed' || set.status === 'Exposed' || set.status === 'Recovered';
    for (const c of set.copies) {
      expect(c.mappings.length).toBeGreaterThan(0);
      if (!taken) {
        expect(c.snapshot).toBeNull();
        continue;
      }
      expect(c.snapshot, `copy ${c.id} of a ${set.status} set`).not.toBeNull();
      expect(h.backend.snapshots.has(c.snapshot!.name), 'snapshot on disk').toBe(true);
      referenced.add(snapshotKey(c.snapshot!));
      for (const m of c.mappings) {
        const shouldBeExposed = set.status === 'Exposed' || set.status === 'Recovered';
        expect(m.exposed).toBe(shouldBeExposed);
        if (m.exposed) exposed.add(m.exposedName);
      }
    }
  }
  // Cleanups that failed are pending: their shares and snapshots are still there, tracked.
  for (const p of v.pending) {
    if (p.kind === 'share') {
      exposed.add(p.name);
      if (p.snapshot) expect([...h.backend.snapshots.values()].some((x) => snapshotKey(x) === p.snapshot), 'a pending share keeps its snapshot').toBe(true);
    } else {
      referenced.add(snapshotKey(p.snapshot));
    }
  }
  expect(new Set(h.publisher.shares.keys()), 'published shares = exposed mappings + pending').toEqual(exposed);
  const onDisk = new Set([...h.backend.snapshots.values()].map(snapshotKey));
  expect(onDisk, 'snapshots on disk = snapshots in state, retained or pending deletion').toEqual(referenced);
}

/** Translates 'next' into a concrete command for the newest set. */
function nextStep(h: Harness, sets: string[], choice: number): Exclude<Cmd, { op: 'next' }> {
  const set = h.svc.view().sets.find((x) => x.id === sets[0]);
  const mapped = set?.copies.flatMap((c) => c.mappings.map((m) => ({ c, m }))) ?? [];
  const first = mapped[choice % Math.max(1, mapped.length)];
  const shareOf = (unc: string): number => Math.max(0, SHARES.findIndex((x) => x.toLowerCase().split('\\')[3] === unc.toLowerCase().split('\\')[3]));
  switch (set?.status) {
    case undefined: return { op: 'begin' };
    case 'Started': return { op: 'add', set: 0, copy: 0, share: choice % 4 };
    case 'Added': {
      // Half the time another share, so sets often span several shares and volumes.
      if (choice % 4 < 2) return { op: 'add', set: 0, copy: 0, share: (choice + set.copies.length) % 4 };
      return { op: choice % 4 === 2 ? 'prepare' : 'commit', set: 0 };
    }
    case 'Committed': return { op: choice % 4 === 0 ? 'abort' : 'expose', set: 0 };
    case 'Exposed':
    case 'Recovered': {
      if (!first) return { op: 'begin' };
      const copy = Math.max(0, copiesSeen.indexOf(first.c.id));
      const kind = choice % 6;
      if (kind === 0 && set.status === 'Exposed') return { op: 'recover', set: 0 };
      if (kind === 1) return { op: 'getMap', set: 0, copy, share: shareOf(first.m.shareNameUnc) };
      if (kind === 2) return { op: 'begin' };
      return { op: 'delete', set: 0, copy, share: shareOf(first.m.shareNameUnc) };
    }
    default: return { op: 'begin' };
  }
}

/** Copy ids in the order `run` records them (newest first), for nextStep. */
let copiesSeen: string[] = [];

async function run(mode: 'samba' | 'strict', cmds: Cmd[], retain: boolean): Promise<void> {
  const h = await Harness.create({ config: { mode, retainSnapshots: retain } });
  const sets: string[] = [];
  const copies: string[] = [];
  copiesSeen = copies;
  try {
    for (const original of cmds) {
      const c = original.op === 'next' ? nextStep(h, sets, original.choice) : original;
      let result: number | undefined;
      const T = (set: number) => ({ ShadowCopySetId: pick(sets, set), TimeOutInMilliseconds: 60_000 });
      switch (c.op) {
        case 'setContext':
          result = (await h.svc.setContext({ Context: c.context }, ADMIN)).result;
          break;
        case 'begin':
        case 'start': {
          if (c.op === 'begin') await h.svc.setContext({ Context: CTX.BACKUP }, ADMIN);
          const r = await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN);
          if (r.result === 0) sets.unshift(r.pShadowCopySetId);
          result = r.result;
          break;
        }
        case 'add': {
          const r = await h.add(pick(sets, c.set), SHARES[c.share]!);
          if (r.result === 0 && !copies.includes(r.pShadowCopyId)) copies.unshift(r.pShadowCopyId);
          result = r.result;
          break;
        }
        case 'getMap':
          result = (await h.svc.getShareMapping({ ShadowCopyId: pick(copies, c.copy), ShadowCopySetId: pick(sets, c.set), ShareName: SHARES[c.share]!, Level: 1 }, ADMIN)).result;
          break;
        case 'delete': {
          const share = SHARES[c.share]!;
          const copyId = pick(copies, c.copy);
          const r = await h.svc.deleteShareMapping({ ShadowCopySetId: pick(sets, c.set), ShadowCopyId: copyId, ShareName: share }, ADMIN);
          result = r.result;
          if (r.result === 0) {
            const name = share.split('\\')[3]!.toLowerCase();
            expect([...h.publisher.shares.keys()].some((n) => n.toLowerCase().startsWith(`${name}@{${copyId}}`))).toBe(false);
          }
          break;
        }
        case 'prepare': result = (await h.svc.prepareShadowCopySet(T(c.set), ADMIN)).result; break;
        case 'commit': result = (await h.svc.commitShadowCopySet(T(c.set), ADMIN)).result; break;
        case 'expose': result = (await h.svc.exposeShadowCopySet(T(c.set), ADMIN)).result; break;
        case 'recover': result = (await h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: pick(sets, c.set) }, ADMIN)).result; break;
        case 'abort': result = (await h.svc.abortShadowCopySet({ ShadowCopySetId: pick(sets, c.set) }, ADMIN)).result; break;
        case 'advance':
          await h.advance(c.ms);
          break;
        case 'fail': {
          let countdown = c.skip;
          const failure = () => (countdown-- === 0 ? new Error(`injected ${c.what} failure`) : undefined);
          if (c.what === 'create') h.backend.failures.create = failure;
          else h.publisher.failures[c.what] = failure;
          break;
        }
        case 'restart': {
          const before = h.svc.view();
          await h.restart({ mode, retainSnapshots: retain });
          const after = h.svc.view();
          expect(after.sets, 'sets survive a restart').toEqual(before.sets);
          expect(after.retained).toEqual(before.retained);
          const repairs = h.svc.reconcileReport.repairs.filter((r) => r.action !== 'finish-cleanup');
          expect(repairs, 'nothing to repair after a clean restart').toEqual([]);
          break;
        }
      }
      if (result !== undefined) expect(KNOWN_RESULTS.has(result >>> 0), `result 0x${result.toString(16)}`).toBe(true);
      await h.svc.idle();
      checkInvariants(h, mode);
    }
    // No sequence leaves a set in creation past its timeout: once the longest arming (1800 s)
    // has run out with no further call, every set still in creation is gone (issue 9.1).
    h.backend.failures.create = undefined;
    h.publisher.failures.unpublish = undefined;
    await h.advance(LONG_TIMEOUT_MS);
    const immortal = h.svc.view().sets.filter((s) => IN_PROGRESS.has(s.status)).map((s) => `${s.id} ${s.status}`);
    expect(immortal, 'sets in creation after the timeout').toEqual([]);
    checkInvariants(h, mode);
  } finally {
    await h.cleanup();
  }
}

/**
 * Sequences fast-check once found, always run first. 1: the second publish of an Expose fails and
 * unpublishing the first one fails too; that share must become a pending cleanup, not be forgotten.
 */
const REGRESSIONS: Array<[Cmd[], boolean]> = [
  // 2: issue 9.1 — a set is Exposed, a second one Started, then GetShareMapping on the first.
  [[
    { op: 'begin' }, { op: 'add', set: 0, copy: 0, share: 0 }, { op: 'prepare', set: 0 }, { op: 'commit', set: 0 },
    { op: 'expose', set: 0 }, { op: 'begin' }, { op: 'getMap', set: 1, copy: 0, share: 0 },
  ], false],
  [[
    { op: 'fail', what: 'publish', skip: 1 }, { op: 'next', choice: 0 }, { op: 'fail', what: 'unpublish', skip: 0 },
    { op: 'next', choice: 0 }, { op: 'next', choice: 0 }, { op: 'next', choice: 3 }, { op: 'next', choice: 1 },
  ], false],
];

describe('random operation sequences', () => {
  for (const mode of ['samba', 'strict'] as const) {
    it(`keep the invariants in ${mode} mode`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 80 }), fc.boolean(), (cmds, retain) => run(mode, cmds, retain)),
        { numRuns: Number(process.env.FSRVP_MODEL_RUNS ?? 200), examples: REGRESSIONS },
      );
    });
  }

  it('reach the interesting states (the generator is not vacuous)', async () => {
    // A fixed sequence through every state, checked with the same invariants.
    const seq: Cmd[] = [
      { op: 'setContext', context: CTX.BACKUP }, { op: 'start' },
      { op: 'add', set: 0, copy: 0, share: 0 }, { op: 'add', set: 0, copy: 0, share: 1 }, { op: 'add', set: 0, copy: 0, share: 2 },
      { op: 'prepare', set: 0 }, { op: 'commit', set: 0 }, { op: 'restart' }, { op: 'expose', set: 0 },
      { op: 'getMap', set: 0, copy: 1, share: 0 }, { op: 'recover', set: 0 }, { op: 'restart' },
      { op: 'delete', set: 0, copy: 1, share: 1 }, { op: 'delete', set: 0, copy: 0, share: 2 },
    ];
    await run('samba', seq, false);
    await run('samba', seq, true);
    await run('strict', seq, false);
    expect(seq.length).toBe(14);
  });
});
