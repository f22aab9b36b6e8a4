/**
 * The state journal: round trips, torn and corrupt records, compaction, size behaviour with
 * 10,000 shadow copies, and persistence of service state across restarts.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOURNAL_FILE, StateStore } from '../../src/fsrvp/store.js';
import type { RetainedSnapshot, ShadowCopySetState } from '../../src/fsrvp/state.js';
import { ADMIN, Harness, unc } from '../helpers/fsrvp.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fsrvp-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function set(n: number, copies = 1, status: ShadowCopySetState['status'] = 'Exposed'): ShadowCopySetState {
  const id = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return {
    id,
    status,
    context: 0,
    startedAt: 1_700_000_000_000 + n,
    copies: Array.from({ length: copies }, (_, i) => {
      const cid = `11111111-0000-4000-8000-${(n * 64 + i).toString(16).padStart(12, '0')}`;
      return {
        id: cid,
        volume: { id: `vol${i}`, root: `/srv/vol${i}`, backend: 'btrfs' },
        creationTimestamp: '133000000000000000',
        snapshot: { backend: 'btrfs', volumeId: `vol${i}`, path: `/srv/vol${i}/.snap/${cid}`, name: cid, writable: false, createdAt: 1_700_000_000_000 },
        mappings: [{
          shareNameUnc: `\\\\SRV\\share${i}\\`,
          share: { name: `share${i}`, path: `/srv/vol${i}/share${i}` },
          relPath: `share${i}`,
          exposedName: `share${i}@{${cid}}`,
          exposed: status === 'Exposed',
        }],
      };
    }),
  };
}

const journal = (): string => join(dir, JOURNAL_FILE);

describe('StateStore', () => {
  it('starts empty, creating the directory and a journal with a header', async () => {
    const sub = join(dir, 'a', 'b');
    const s = await StateStore.open(sub);
    expect(s.loadedSets()).toEqual([]);
    expect(s.report).toMatchObject({ records: 0, dropped: [] });
    expect(readFileSync(join(sub, JOURNAL_FILE), 'utf8')).toMatch(/^[0-9a-f]{8} \{"t":"hdr","format":"fsrvp-state","v":1\}\n$/);
    expect(statSync(sub).mode & 0o777).toBe(0o700);
    await s.close();
  });

  it('replays upserts, deletions, retentions and batches', async () => {
    const s = await StateStore.open(dir);
    await s.apply([{ t: 'set', set: set(1, 1, 'Started') }]);
    await s.apply([{ t: 'set', set: set(1, 2, 'Added') }]);
    await s.apply([{ t: 'set', set: set(2) }]);
    await s.apply([{ t: 'del', id: set(2).id }]);
    const r: RetainedSnapshot = {
      snapshot: set(3).copies[0]!.snapshot!, volume: set(3).copies[0]!.volume, setId: set(3).id,
      shadowCopyId: set(3).copies[0]!.id, shares: ['share0'], retainedAt: 5,
    };
    await s.apply([{ t: 'set', set: set(4) }, { t: 'retain', r }]);
    await s.apply([{ t: 'retain', r: { ...r, retainedAt: 6 } }, { t: 'release', key: 'btrfs\u0000nope' }]);
    await s.close();
    const t = await StateStore.open(dir);
    expect(t.loadedSets()).toEqual([set(1, 2, 'Added'), set(4)]);
    expect(t.loadedRetained()).toEqual([{ ...r, retainedAt: 6 }]);
    expect(t.report).toMatchObject({ records: 6, dropped: [] });
    await t.close();
  });

  it('drops a torn last record, keeps every earlier one, says what it dropped and keeps a copy', async () => {
    const s = await StateStore.open(dir);
    for (let i = 1; i <= 5; i++) await s.apply([{ t: 'set', set: set(i) }]);
    await s.close();
    const full = readFileSync(journal());
    const lines = full.toString('utf8').split('\n');
    const last = lines[lines.length - 2]!;
    // Tear the last record in the middle, as a crash during write(2) would.
    writeFileSync(journal(), full.subarray(0, full.length - 1 - Math.floor(last.length / 2)));
    const t = await StateStore.open(dir);
    expect(t.loadedSets().map((x) => x.id)).toEqual([1, 2, 3, 4].map((i) => set(i).id));
    expect(t.report.dropped).toHaveLength(1);
    expect(t.report.dropped[0]).toMatchObject({ line: 6, reason: 'torn record (no end of line)' });
    expect(t.report.backupPath && existsSync(t.report.backupPath)).toBe(true);
    // The journal was rewritten clean: appending works and a reload drops nothing.
    await t.apply([{ t: 'set', set: set(9) }]);
    await t.close();
    const u = await StateStore.open(dir);
    expect(u.report.dropped).toEqual([]);
    expect(u.loadedSets()).toHaveLength(5);
    await u.close();
  });

  it('drops a corrupt record in the middle and keeps the ones after it', async () => {
    const s = await StateStore.open(dir);
    for (let i = 1; i <= 4; i++) await s.apply([{ t: 'set', set: set(i) }]);
    await s.close();
    const text = readFileSync(journal(), 'utf8').split('\n');
    text[2] = text[2]!.replace('"Exposed"', '"Exposeq"'); // record of set 2: checksum no longer matches
    text[3] = `${text[3]!.slice(0, 9)}{not json`;
    writeFileSync(journal(), text.join('\n'));
    const t = await StateStore.open(dir);
    expect(t.loadedSets().map((x) => x.id)).toEqual([set(1).id, set(4).id]);
    expect(t.report.dropped.map((d) => [d.line, d.reason.split(' (')[0]])).toEqual([[3, 'checksum mismatch'], [4, 'checksum mismatch']]);
    await t.close();
  });

  it('drops well-formed records of the wrong shape without half-applying them', async () => {
    const s = await StateStore.open(dir);
    await s.apply([{ t: 'set', set: set(1) }]);
    await s.close();
    const { crc32 } = await import('node:zlib');
    const bad = JSON.stringify({ t: 'batch', c: [{ t: 'del', id: set(1).id }, { t: 'set', set: { id: 'x' } }] });
    appendFileSync(journal(), `${crc32(bad).toString(16).padStart(8, '0')} ${bad}\n`);
    const t = await StateStore.open(dir);
    expect(t.loadedSets().map((x) => x.id)).toEqual([set(1).id]);
    expect(t.report.dropped[0]!.reason).toBe('batch with a malformed change');
    await t.close();
  });

  it('refuses a journal from a newer format version', async () => {
    const { crc32 } = await import('node:zlib');
    const hdr = JSON.stringify({ t: 'hdr', format: 'fsrvp-state', v: 99 });
    writeFileSync(journal(), `${crc32(hdr).toString(16).padStart(8, '0')} ${hdr}\n`);
    await expect(StateStore.open(dir)).rejects.toThrow(/version 99/);
  });

  it('treats an empty file as an empty journal', async () => {
    writeFileSync(journal(), '');
    const s = await StateStore.open(dir);
    expect(s.report.dropped).toEqual([]);
    await s.apply([{ t: 'set', set: set(1) }]);
    await s.close();
    const t = await StateStore.open(dir);
    expect(t.report.dropped).toEqual([]);
    expect(t.loadedSets()).toHaveLength(1);
    await t.close();
  });

  it('compacts once dead records dominate, without losing live ones', async () => {
    const s = await StateStore.open(dir, { compactMinRecords: 20 });
    for (let round = 0; round < 30; round++) {
      for (let i = 1; i <= 3; i++) await s.apply([{ t: 'set', set: { ...set(i), startedAt: round } }]);
    }
    expect(s.records).toBeLessThanOrEqual(21);
    await s.close();
    expect(readdirSync(dir)).toEqual([JOURNAL_FILE]);
    const t = await StateStore.open(dir);
    expect(t.loadedSets().map((x) => x.startedAt)).toEqual([29, 29, 29]);
    await t.close();
  });

  it('rewrites the whole journal after an in-memory-only change', async () => {
    const s = await StateStore.open(dir);
    await s.apply([{ t: 'set', set: set(1) }, { t: 'set', set: set(2) }]);
    s.applyLater([{ t: 'del', id: set(1).id }]);
    await s.apply([{ t: 'set', set: set(3) }]);
    await s.close();
    const t = await StateStore.open(dir);
    expect(t.loadedSets().map((x) => x.id)).toEqual([set(2).id, set(3).id]);
    expect(t.report.records).toBe(2);
    await t.close();
  });
});

describe('StateStore with 10,000 shadow copies', () => {
  it('loads quickly and appends without rewriting the file', async () => {
    const s = await StateStore.open(dir, { fsync: false });
    // 2,500 sets of 4 copies = 10,000 shadow copies, written in batches of 50 sets.
    for (let b = 0; b < 50; b++) {
      await s.apply(Array.from({ length: 50 }, (_, i) => ({ t: 'set' as const, set: set(b * 50 + i + 1, 4) })));
    }
    await s.compact();
    await s.close();
    const bytes = statSync(journal()).size;
    const t0 = performance.now();
    const t = await StateStore.open(dir, { fsync: true });
    const loadMs = performance.now() - t0;
    expect(t.loadedSets().reduce((n, x) => n + x.copies.length, 0)).toBe(10_000);
    expect(loadMs).toBeLessThan(2000);
    // One more change appends one record: the file grows by about one set, not by a rewrite.
    const a0 = performance.now();
    await t.apply([{ t: 'set', set: { ...set(7, 4), status: 'Recovered' } }]);
    const applyMs = performance.now() - a0;
    const grown = statSync(journal()).size - bytes;
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThan(bytes / 1000);
    expect(applyMs).toBeLessThan(200);
    await t.close();
    console.log(`10,000 copies: ${(bytes / 1e6).toFixed(1)} MB journal, load ${loadMs.toFixed(0)} ms, one append ${applyMs.toFixed(1)} ms`);
  });
});

describe('service state across a restart', () => {
  it('comes back identical (sets in every persisted status), context cleared', async () => {
    const h = await Harness.create();
    try {
      const exposed = await h.exposed([unc('fsrvp_share'), unc('data')]);
      const recovered = await h.exposed([unc('other')]);
      await h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: recovered.setId }, ADMIN);
      const committed = await h.committed([unc('hidden$')]);
      const before = h.svc.view();
      expect(before.sets.map((s) => s.status).sort()).toEqual(['Committed', 'Exposed', 'Recovered']);
      await h.restart();
      const after = h.svc.view();
      expect(after.sets).toEqual(before.sets);
      expect(after.contextSet).toBe(false);
      expect(h.svc.reconcileReport.repairs).toEqual([]);
      // And the restarted service carries on with them.
      const r = await h.svc.deleteShareMapping({ ShadowCopySetId: exposed.setId, ShadowCopyId: exposed.copyIds[1]!, ShareName: unc('data') }, ADMIN);
      expect(r.result).toBe(0);
      expect((await h.svc.exposeShadowCopySet({ ShadowCopySetId: committed.setId, TimeOutInMilliseconds: 1000 }, ADMIN)).result).toBe(0);
    } finally {
      await h.cleanup();
    }
  });

  it('survives a torn journal: earlier sets load, the loss is reported', async () => {
    const h = await Harness.create();
    try {
      const a = await h.exposed([unc('fsrvp_share')]);
      const b = await h.start();
      await h.svc.close();
      const p = join(h.dir, JOURNAL_FILE);
      const buf = readFileSync(p);
      writeFileSync(p, buf.subarray(0, buf.length - 7));
      await h.open();
      expect(h.status(a.setId)).toBe('Exposed');
      expect(h.status(b.setId)).toBeUndefined();
      expect(h.svc.loadReport.dropped).toHaveLength(1);
      expect(h.svc.reconcileReport.repairs).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });
});

describe('one agent per state directory', () => {
  it('refuses a second store on a directory a live process holds, and takes over a stale lock', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { StateStore } = await import('../../src/fsrvp/store.js');
    const { LOCK_FILE, StateLockedError } = await import('../../src/fsrvp/lock.js');
    const dir = await mkdtemp(join(tmpdir(), 'fsrvp-lock-'));
    try {
      const first = await StateStore.open(dir, { fsync: false });
      await expect(StateStore.open(dir, { fsync: false })).rejects.toBeInstanceOf(StateLockedError);
      await first.close();
      // A lock left by a process that is gone (pid far above pid_max) is stale.
      await writeFile(join(dir, LOCK_FILE), '999999999\n');
      const second = await StateStore.open(dir, { fsync: false });
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('records that are not durable on their own', () => {
  it('are in the journal at once (a process crash keeps them) and stay with later durable records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fsrvp-durable-'));
    try {
      const s = await StateStore.open(dir, { fsync: true });
      await s.apply([{ t: 'set', set: set(1, 1, 'Started') }], { durable: false });
      // Read while the first store is still open: what a restart after SIGKILL would see.
      expect((await StateStore.peek(dir)).sets.map((x) => x.status)).toEqual(['Started']);
      await s.apply([{ t: 'set', set: set(2, 1, 'Committed') }]);
      await s.close();
      const again = await StateStore.open(dir, { fsync: true });
      expect(again.loadedSets().map((x) => x.status).sort()).toEqual(['Committed', 'Started']);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
