import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreateOptions, SnapshotBackend, SnapshotRef, Volume } from '../../src/storage/backend.js';
import { CopyBackend } from '../../src/storage/copy.js';
import { snapshotName } from '../../src/storage/naming.js';
import { listRetained, prune, restore, RestoreError, safeRelative } from '../../src/storage/retention.js';

/** An in-memory backend with snapshots of chosen ages. */
class FakeBackend implements SnapshotBackend {
  readonly name = 'fake';
  snaps: SnapshotRef[] = [];
  deleted: string[] = [];
  async supports(): Promise<boolean> { return true; }
  async volumeOf(p: string): Promise<Volume> { return { id: `fake:${p}`, root: p, backend: this.name }; }
  async check(): Promise<undefined> { return undefined; }
  async create(_v: Volume, _o: CreateOptions): Promise<SnapshotRef> { throw new Error('not used'); }
  async setReadOnly(): Promise<void> { /* not used */ }
  async delete(s: SnapshotRef): Promise<void> { this.deleted.push(s.name); this.snaps = this.snaps.filter((x) => x.name !== s.name); }
  async list(): Promise<SnapshotRef[]> { return [...this.snaps]; }
}

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const HOUR = 3600_000;
const volume: Volume = { id: 'fake:/v', root: '/v', backend: 'fake' };

function fakeWithAges(hours: number[]): FakeBackend {
  const b = new FakeBackend();
  b.snaps = hours.map((h, i) => {
    const createdAt = NOW - h * HOUR;
    const name = snapshotName(`00000000-0000-0000-0000-00000000000${i}`, createdAt);
    return { backend: 'fake', volumeId: volume.id, path: `/snaps/${name}`, name, writable: false, createdAt };
  });
  return b;
}

describe('retention: list and prune', () => {
  it('lists newest first with ages and shadow copy ids', async () => {
    const list = await listRetained(fakeWithAges([5, 1, 3]), volume, NOW);
    expect(list.map((s) => s.ageMs / HOUR)).toEqual([1, 3, 5]);
    expect(list[0]!.shadowCopyId).toBe('00000000-0000-0000-0000-000000000001');
  });

  it('keeps the newest N', async () => {
    const b = fakeWithAges([1, 2, 3, 4, 5]);
    const r = await prune(b, volume, { keepLast: 2, now: NOW });
    expect(r.kept.map((s) => s.ageMs / HOUR)).toEqual([1, 2]);
    expect(r.deleted.map((s) => s.ageMs / HOUR)).toEqual([3, 4, 5]);
    expect(b.snaps).toHaveLength(2);
  });

  it('deletes by age, either rule sufficing, and spares protected snapshots', async () => {
    const b = fakeWithAges([1, 10, 30, 50]);
    const protectedName = b.snaps[3]!.name;
    const r = await prune(b, volume, { maxAgeMs: 24 * HOUR, keepLast: 3, now: NOW, keep: (s) => s.name === protectedName });
    expect(r.deleted.map((s) => s.ageMs / HOUR)).toEqual([30]);
    expect(r.kept.map((s) => s.ageMs / HOUR)).toEqual([1, 10, 50]);
  });

  it('dry run deletes nothing; no rule deletes nothing; bad numbers are refused', async () => {
    const b = fakeWithAges([1, 2, 3]);
    expect((await prune(b, volume, { keepLast: 0, dryRun: true, now: NOW })).deleted).toHaveLength(3);
    expect(b.deleted).toEqual([]);
    expect((await prune(b, volume, { now: NOW })).deleted).toEqual([]);
    await expect(prune(b, volume, { keepLast: -1 })).rejects.toThrow(RangeError);
    await expect(prune(b, volume, { maxAgeMs: Number.NaN })).rejects.toThrow(RangeError);
  });
});

describe('retention: restore', () => {
  let base: string;
  let share: string;
  let backend: CopyBackend;
  let vol: Volume;
  let snap: SnapshotRef;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'fsrvp-restore-'));
    share = join(base, 'data');
    await mkdir(join(share, 'dir', 'sub'), { recursive: true });
    await writeFile(join(share, 'dir', 'a.txt'), 'a1');
    await writeFile(join(share, 'dir', 'sub', 'b.txt'), 'b1');
    await writeFile(join(share, 'top.txt'), 'top1');
    backend = new CopyBackend({ policy: { refuseSymlinks: false } });
    vol = await backend.volumeOf(share);
    snap = await backend.create(vol, { shadowCopyId: '22222222-2222-3333-4444-555555555555', writable: false });
    await writeFile(join(share, 'top.txt'), 'top2');
    await rm(join(share, 'dir'), { recursive: true });
  });
  afterEach(async () => {
    try { execFileSync('chattr', ['-R', '-f', '-i', base], { stdio: 'ignore' }); } catch { /* symlinks have no flags */ }
    await rm(base, { recursive: true, force: true });
  });

  it('restores a deleted directory tree', async () => {
    const r = await restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'dir' });
    expect(r).toMatchObject({ kind: 'directory', replaced: false, target: join(share, 'dir') });
    expect(await readFile(join(share, 'dir', 'sub', 'b.txt'), 'utf8')).toBe('b1');
    // the restored copy is writable (the snapshot's immutable flag is not copied)
    await writeFile(join(share, 'dir', 'a.txt'), 'a2');
    expect((await readdir(share)).filter((n) => n.includes('fsrvp-restore'))).toEqual([]);
    expect((await readdir(share)).sort()).toEqual(['dir', 'top.txt']);
  });

  it('fails on an existing target by default, replaces or keeps the old one on request', async () => {
    await expect(restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt' })).rejects.toThrow(/exists/);
    const renamed = await restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt', onExisting: 'rename' });
    expect(await readFile(join(share, 'top.txt'), 'utf8')).toBe('top1');
    expect(await readFile(renamed.previous!, 'utf8')).toBe('top2');
    await writeFile(join(share, 'top.txt'), 'top3');
    await restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt', onExisting: 'replace' });
    expect(await readFile(join(share, 'top.txt'), 'utf8')).toBe('top1');
    expect((await readdir(share)).filter((n) => n.includes('fsrvp-old'))).toEqual([]);
  });

  it('restores to another name inside the share', async () => {
    await restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt', targetRelPath: 'old-top.txt' });
    expect(await readFile(join(share, 'old-top.txt'), 'utf8')).toBe('top1');
  });

  it('refuses paths that escape the share or go through symbolic links', async () => {
    for (const bad of ['../x', '/etc/passwd', 'dir/../../x', '', '.', 'a\0b']) {
      await expect(restore({ snapshot: snap, volume: vol, sharePath: share, relPath: bad })).rejects.toThrow(RestoreError);
    }
    await expect(restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt', targetRelPath: '../escape' })).rejects.toThrow(RestoreError);
    const outside = join(base, 'outside');
    await mkdir(outside);
    await symlink(outside, join(share, 'link'));
    await expect(restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'top.txt', targetRelPath: 'link/top.txt' }))
      .rejects.toThrow(/symbolic link/);
    expect(await readdir(outside)).toEqual([]);
    await expect(restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'missing.txt' })).rejects.toThrow(/does not exist in snapshot/);
    expect(safeRelative('a\\b/./c')).toEqual(['a', 'b', 'c']);
  });

  it('keeps the snapshot intact', async () => {
    await restore({ snapshot: snap, volume: vol, sharePath: share, relPath: 'dir' });
    expect((await stat(join(snap.path, 'dir', 'a.txt'))).isFile()).toBe(true);
  });
});
