import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OwnedSnapshots, type OwnedEntry } from '../../src/storage/owned.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-owned-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (i: number, uuid?: string): OwnedEntry => ({
  path: `/srv/vol${i}/@GMT-2026.11.26-08.00.00`, volumeId: `btrfs:vol${i}`, name: `@GMT-2026.11.26-08.00.00~fsrvp-${i}`, createdAt: 1, ...(uuid ? { uuid } : {}),
});

describe('owned-snapshot ledger', () => {
  it('concurrent updates (the volumes of one Commit) are all on disk when each resolves', async () => {
    const file = join(dir, 'owned.json');
    const ledger = new OwnedSnapshots(file);
    const onDisk = async (): Promise<OwnedEntry[]> => (JSON.parse(await readFile(file, 'utf8')) as { entries: OwnedEntry[] }).entries;
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      await ledger.record(entry(i));
      expect((await onDisk()).map((e) => e.path)).toContain(entry(i).path); // persisted before it resolved
      await ledger.record(entry(i, `uuid-${i}`));
    }));
    expect((await onDisk()).map((e) => e.uuid).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `uuid-${i}`));
    await Promise.all([ledger.forget(entry(0).path), ledger.forget(entry(5).path), ledger.record(entry(9))]);
    expect((await ledger.entries()).map((e) => e.volumeId).sort()).toEqual(['btrfs:vol1', 'btrfs:vol2', 'btrfs:vol3', 'btrfs:vol4', 'btrfs:vol6', 'btrfs:vol7', 'btrfs:vol9']);
    expect(await new OwnedSnapshots(file).get(entry(9).path)).toEqual(entry(9));
  });
});
