import { appendFile, mkdir, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BtrfsBackend } from '../../src/storage/btrfs.js';
import { CopyBackend } from '../../src/storage/copy.js';
import { run } from '../../src/sys/exec.js';
import { parseSnapshotName } from '../../src/storage/naming.js';
import { sharePathInSnapshot } from '../../src/storage/paths.js';
import { restore } from '../../src/storage/retention.js';
import { createLoopFs, requireTools, type LoopFs } from '../../tools/lib/loopfs.js';
import { errno } from '../helpers/errno.js';

const guid = (i: number): string => `aaaaaaaa-0000-0000-0000-${String(i).padStart(12, '0')}`;


let fs: LoopFs;
let share: string;
let other: string;
const backend = new BtrfsBackend();

beforeAll(async () => {
  await requireTools(['mkfs.btrfs', 'btrfs', 'losetup', 'mount', 'umount']);
  fs = await createLoopFs({ fsType: 'btrfs' });
  share = join(fs.mountPoint, 'share');
  other = join(fs.mountPoint, 'other');
  await run('btrfs', ['subvolume', 'create', share]);
  await run('btrfs', ['subvolume', 'create', other]);
  await mkdir(join(share, 'docs'));
  await writeFile(join(share, 'docs', 'a.txt'), 'version 1');
  await writeFile(join(other, 'o.txt'), 'other');
});

afterAll(async () => {
  await fs?.teardown();
});

describe('btrfs backend on a loop filesystem', () => {
  it('supports paths on btrfs only', async () => {
    expect(await backend.supports(share)).toBe(true);
    expect(await backend.supports(fs.dir)).toBe(false);
  });

  it('finds the subvolume of a share (also from a subdirectory) with a stable UUID-based id', async () => {
    const v = await backend.volumeOf(share);
    expect(v.root).toBe(share);
    expect(v.id).toMatch(/^btrfs:[0-9a-f-]{36}$/);
    const fromSubdir = await backend.volumeOf(join(share, 'docs'));
    expect(fromSubdir).toEqual(v);
    expect((await backend.volumeOf(other)).id).not.toBe(v.id);
    expect(await backend.snapshotDirFor(v.root)).toBe(join(fs.mountPoint, '.fsrvp-snapshots', 'share'));
  });

  it('check() accepts the share and refuses nested subvolumes and a mounted subvolume root', async () => {
    expect(await backend.check(share)).toBeUndefined();
    const nestedShare = join(fs.mountPoint, 'nested');
    await run('btrfs', ['subvolume', 'create', nestedShare]);
    await run('btrfs', ['subvolume', 'create', join(nestedShare, 'inner')]);
    const r = await backend.check(nestedShare);
    expect(r).toMatchObject({ kind: 'nested-subvolume', path: join(nestedShare, 'inner') });
    expect(r!.reason).toMatch(/nested btrfs subvolume/);
    const top = await backend.check(fs.mountPoint);
    expect(top).toMatchObject({ kind: 'location' });
    expect(top!.reason).toMatch(/configure snapshotDir/);
    expect((await backend.check(fs.dir))?.reason).toMatch(/not on a btrfs filesystem/);
  });

  it('takes a read-only snapshot that keeps the old content and refuses writes with EROFS, even for root', async () => {
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(1), writable: false });
    expect(parseSnapshotName(snap.name)?.shadowCopyId).toBe(guid(1));
    expect(snap.path).toBe(join(fs.mountPoint, '.fsrvp-snapshots', 'share', snap.name));
    await writeFile(join(share, 'docs', 'a.txt'), 'version 2');
    await writeFile(join(share, 'new.txt'), 'new');
    expect(await readFile(join(snap.path, 'docs', 'a.txt'), 'utf8')).toBe('version 1');
    expect(await readdir(snap.path)).toEqual(['docs']);
    expect(await errno(appendFile(join(snap.path, 'docs', 'a.txt'), 'x'))).toBe('EROFS');
    expect(await errno(writeFile(join(snap.path, 'new'), 'x'))).toBe('EROFS');
    expect(await readdir(share)).not.toContain('.fsrvp-snapshots');
    await backend.delete(snap);
  });

  it('takes a writable snapshot that accepts writes until setReadOnly, then refuses them', async () => {
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(2), writable: true });
    await writeFile(join(snap.path, 'recovered.txt'), 'ok');
    expect((await backend.list(volume)).find((s) => s.name === snap.name)?.writable).toBe(true);
    await backend.setReadOnly(snap);
    await backend.setReadOnly(snap);
    expect(await errno(writeFile(join(snap.path, 'later.txt'), 'no'))).toBe('EROFS');
    expect((await backend.list(volume)).find((s) => s.name === snap.name)?.writable).toBe(false);
    await backend.delete(snap);
    await backend.delete(snap); // idempotent
    await expect(stat(snap.path)).rejects.toThrow();
  });

  it('names five snapshots of one volume taken in a tight loop uniquely; list finds only ours', async () => {
    const volume = await backend.volumeOf(share);
    const made = [];
    for (let i = 10; i < 15; i++) made.push(await backend.create(volume, { shadowCopyId: guid(i), writable: false }));
    expect(new Set(made.map((s) => s.name)).size).toBe(5);
    // foreign things in the same directory: a snapshot of another subvolume under one of our names,
    // someone else's snapshot, a plain directory
    const dir = await backend.snapshotDirFor(volume.root);
    await run('btrfs', ['subvolume', 'snapshot', '-r', other, join(dir, `fsrvp-${guid(99)}_GMT-2020.01.01-00.00.00`)]);
    await run('btrfs', ['subvolume', 'snapshot', '-r', share, join(dir, '@GMT-2020.01.01-00.00.00')]);
    await mkdir(join(dir, `fsrvp-${guid(98)}_GMT-2020.01.01-00.00.00`));
    const listed = await backend.list(volume);
    expect(listed.map((s) => s.name).sort()).toEqual(made.map((s) => s.name).sort());
    expect(listed.every((s) => s.writable === false && s.volumeId === volume.id)).toBe(true);
    for (const s of made) await backend.delete(s);
    expect(await backend.list(volume)).toEqual([]);
    await run('btrfs', ['subvolume', 'delete', join(dir, `fsrvp-${guid(99)}_GMT-2020.01.01-00.00.00`)]);
    await run('btrfs', ['subvolume', 'delete', join(dir, '@GMT-2020.01.01-00.00.00')]);
    await rm(join(dir, `fsrvp-${guid(98)}_GMT-2020.01.01-00.00.00`), { recursive: true });
  });

  it('refuses to delete what it did not make and leaves nothing when aborted', async () => {
    const volume = await backend.volumeOf(share);
    await expect(backend.delete({ backend: 'btrfs', volumeId: volume.id, path: other, name: 'other', writable: true, createdAt: 0 }))
      .rejects.toThrow(/not a snapshot made by the btrfs backend/);
    const ac = new AbortController();
    ac.abort();
    await expect(backend.create(volume, { shadowCopyId: guid(20), writable: false, signal: ac.signal })).rejects.toThrow();
    expect(await backend.list(volume)).toEqual([]);
  });

  it('restores a file into a share that is a subdirectory of the subvolume', async () => {
    const docs = join(share, 'docs');
    await writeFile(join(docs, 'r.txt'), 'original');
    const volume = await backend.volumeOf(docs);
    const snap = await backend.create(volume, { shadowCopyId: guid(25), writable: false });
    await writeFile(join(docs, 'r.txt'), 'damaged');
    const r = await restore({ snapshot: snap, volume, sharePath: docs, relPath: 'r.txt', onExisting: 'replace' });
    expect(r.source).toBe(join(snap.path, 'docs', 'r.txt'));
    expect(await sharePathInSnapshot(snap, volume, docs)).toBe(join(snap.path, 'docs'));
    expect(await sharePathInSnapshot(snap, volume, share)).toBe(snap.path);
    await expect(sharePathInSnapshot(snap, volume, other)).rejects.toThrow(/not inside the volume/);
    expect(await readFile(join(docs, 'r.txt'), 'utf8')).toBe('original');
    await writeFile(join(docs, 'r.txt'), 'writable again'); // not read-only like its source
    await backend.delete(snap);
  });

  it('uses a configured snapshot directory on the same filesystem', async () => {
    const snapshotDir = join(fs.mountPoint, 'snapstore');
    const b = new BtrfsBackend({ snapshotDir });
    expect(await b.check(share)).toBeUndefined();
    const volume = await b.volumeOf(share);
    const snap = await b.create(volume, { shadowCopyId: guid(30), writable: false });
    expect(snap.path).toBe(join(snapshotDir, 'share', snap.name));
    expect((await b.list(volume)).map((s) => s.name)).toEqual([snap.name]);
    await b.delete(snap);
    const elsewhere = await new BtrfsBackend({ snapshotDir: join(fs.dir, 'not-btrfs') }).check(share);
    expect(elsewhere?.reason).toMatch(/not on the same btrfs filesystem/);
  });

  it('the copy backend reflinks on btrfs', async () => {
    const copy = new CopyBackend({ snapshotDir: join(fs.mountPoint, 'copies') });
    const volume = await copy.volumeOf(join(share, 'docs'));
    const snap = await copy.create(volume, { shadowCopyId: guid(40), writable: true });
    expect(snap.method).toBe('reflink');
    await unlink(join(share, 'docs', 'a.txt'));
    expect(await readFile(join(snap.path, 'a.txt'), 'utf8')).toBe('version 2');
    await copy.delete(snap);
  });
});
