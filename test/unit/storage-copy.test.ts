import { execFileSync } from 'node:child_process';
import { appendFile, chmod, chown, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CopyBackend } from '../../src/storage/copy.js';
import { parseSnapshotName } from '../../src/storage/naming.js';
import { isImmutable } from '../../src/storage/protect.js';
import { errno } from '../helpers/errno.js';

const GUIDS = [
  '11111111-2222-3333-4444-555555555551', '11111111-2222-3333-4444-555555555552', '11111111-2222-3333-4444-555555555553',
  '11111111-2222-3333-4444-555555555554', '11111111-2222-3333-4444-555555555555',
];

let base: string;
let share: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'fsrvp-copy-'));
  share = join(base, 'data');
  await mkdir(share);
});
afterEach(async () => {
  try {
    execFileSync('chattr', ['-R', '-f', '-i', base], { stdio: 'ignore' }); // immutable snapshots
  } catch { /* chattr exits non-zero for entries without flags (symlinks) */ }
  await rm(base, { recursive: true, force: true });
});


describe('copy backend', () => {
  it('keeps the pre-snapshot content after the live share changes', async () => {
    await mkdir(join(share, 'docs'));
    await writeFile(join(share, 'docs', 'a.txt'), 'version 1');
    await writeFile(join(share, 'gone.txt'), 'will be deleted');
    const backend = new CopyBackend();
    const volume = await backend.volumeOf(share);
    expect(volume).toEqual({ id: `copy:${share}`, root: share, backend: 'copy' });
    const snap = await backend.create(volume, { shadowCopyId: GUIDS[0]!, writable: false });
    expect(snap.path).toBe(join(base, '.fsrvp-snapshots', 'data', snap.name));
    expect(parseSnapshotName(snap.name)?.shadowCopyId).toBe(GUIDS[0]);
    expect(['reflink', 'copy']).toContain(snap.method);

    await writeFile(join(share, 'docs', 'a.txt'), 'version 2');
    await writeFile(join(share, 'new.txt'), 'new');
    await unlink(join(share, 'gone.txt'));

    expect(await readFile(join(snap.path, 'docs', 'a.txt'), 'utf8')).toBe('version 1');
    expect(await readFile(join(snap.path, 'gone.txt'), 'utf8')).toBe('will be deleted');
    expect((await readdir(snap.path)).sort()).toEqual(['docs', 'gone.txt']);
    expect(await readdir(share)).not.toContain('.fsrvp-snapshots');
  });

  it('makes read-only snapshots immutable: writes fail with EPERM even for root', async () => {
    await writeFile(join(share, 'f'), 'x');
    const backend = new CopyBackend();
    const snap = await backend.create(await backend.volumeOf(share), { shadowCopyId: GUIDS[0]!, writable: false });
    expect(await isImmutable(snap.path)).toBe(true);
    expect(await errno(appendFile(join(snap.path, 'f'), 'more'))).toBe('EPERM');
    expect(await errno(writeFile(join(snap.path, 'new'), 'x'))).toBe('EPERM');
    expect(await errno(unlink(join(snap.path, 'f')))).toBe('EPERM');
    expect(await readFile(join(snap.path, 'f'), 'utf8')).toBe('x');
    const meta = JSON.parse(await readFile(`${snap.path}.json`, 'utf8')) as { readOnlyMethod: string; writable: boolean };
    expect(meta).toMatchObject({ readOnlyMethod: 'immutable', writable: false });
  });

  it('lets writable snapshots be written until setReadOnly, then refuses', async () => {
    await writeFile(join(share, 'f'), 'x');
    const backend = new CopyBackend();
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: GUIDS[1]!, writable: true });
    await appendFile(join(snap.path, 'f'), '+recovered');
    expect(await readFile(join(snap.path, 'f'), 'utf8')).toBe('x+recovered');
    expect((await backend.list(volume))[0]?.writable).toBe(true);
    await backend.setReadOnly(snap);
    await backend.setReadOnly(snap); // idempotent
    expect(await errno(appendFile(join(snap.path, 'f'), '!'))).toBe('EPERM');
    expect((await backend.list(volume))[0]?.writable).toBe(false);
  });

  it('preserves modes, ownership, times, empty directories, symlinks and hard links', async () => {
    await mkdir(join(share, 'sub', 'empty'), { recursive: true });
    await writeFile(join(share, 'sub', 'f'), 'data');
    await chown(join(share, 'sub', 'f'), 1234, 5678);
    await chmod(join(share, 'sub', 'f'), 0o4751); // after chown, which clears set-user-ID
    await chmod(join(share, 'sub'), 0o750);
    await chmod(join(share, 'sub', 'empty'), 0o700);
    await symlink('f', join(share, 'sub', 'link'));
    await link(join(share, 'sub', 'f'), join(share, 'hard'));
    const t = new Date('2020-02-02T02:02:02.123Z');
    await utimes(join(share, 'sub', 'f'), t, t);
    await utimes(join(share, 'sub', 'empty'), t, t);
    await utimes(join(share, 'sub'), t, t);

    const backend = new CopyBackend();
    const snap = await backend.create(await backend.volumeOf(share), { shadowCopyId: GUIDS[2]!, writable: true });
    const f = await stat(join(snap.path, 'sub', 'f'));
    expect(f.mode & 0o7777).toBe(0o4751);
    expect([f.uid, f.gid]).toEqual([1234, 5678]);
    const srcNs = (await stat(join(share, 'sub', 'f'), { bigint: true })).mtimeNs;
    expect((await stat(join(snap.path, 'sub', 'f'), { bigint: true })).mtimeNs / 1000n).toBe(srcNs / 1000n); // µs kept exactly
    expect(Math.abs(f.mtimeMs - t.getTime())).toBeLessThan(0.002);
    expect(f.nlink).toBe(2);
    expect((await stat(join(snap.path, 'hard'))).ino).toBe(f.ino);
    const sub = await stat(join(snap.path, 'sub'));
    expect(sub.mode & 0o7777).toBe(0o750);
    expect(Math.abs(sub.mtimeMs - t.getTime())).toBeLessThan(0.002);
    expect(Math.abs((await stat(join(snap.path, 'sub', 'empty'))).mtimeMs - t.getTime())).toBeLessThan(0.002);
    expect(await readdir(join(snap.path, 'sub', 'empty'))).toEqual([]);
    expect((await lstat(join(snap.path, 'sub', 'link'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(snap.path, 'sub', 'link'))).toBe('f');
  });

  it('gives five snapshots of one volume taken within a second five distinct names', async () => {
    await writeFile(join(share, 'f'), 'x');
    const backend = new CopyBackend();
    const volume = await backend.volumeOf(share);
    const snaps = [];
    for (const id of GUIDS) snaps.push(await backend.create(volume, { shadowCopyId: id, writable: false }));
    // the same id again within the same second gets a sequence suffix instead of colliding
    snaps.push(await backend.create(volume, { shadowCopyId: GUIDS[0]!, writable: false }));
    expect(new Set(snaps.map((s) => s.path)).size).toBe(6);
    const listed = await backend.list(volume);
    expect(listed.map((s) => s.name).sort()).toEqual(snaps.map((s) => s.name).sort());
  });

  it('removes everything when aborted mid-copy', async () => {
    for (let d = 0; d < 20; d++) {
      await mkdir(join(share, `d${d}`));
      for (let i = 0; i < 20; i++) await writeFile(join(share, `d${d}`, `f${i}`), `content ${d}/${i}`);
    }
    const backend = new CopyBackend({ concurrency: 2 });
    const volume = await backend.volumeOf(share);
    const ac = new AbortController();
    const seen: Array<[number, number | undefined]> = [];
    const err = await backend.create(volume, {
      shadowCopyId: GUIDS[3]!, writable: false, signal: ac.signal,
      progress: (done, total) => { seen.push([done, total]); if (done >= 1) ac.abort(); },
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]![1]).toBe(420);
    expect(await readdir(backend.snapshotDirFor(share))).toEqual([]);
    expect(await backend.list(volume)).toEqual([]);
  });

  it('reports progress up to the counted total', async () => {
    for (let i = 0; i < 10; i++) await writeFile(join(share, `f${i}`), 'x');
    const backend = new CopyBackend();
    const calls: Array<[number, number | undefined]> = [];
    await backend.create(await backend.volumeOf(share), { shadowCopyId: GUIDS[4]!, writable: true, progress: (d, t) => calls.push([d, t]) });
    expect(calls.at(-1)).toEqual([10, 10]);
  });

  it('deletes snapshots (also immutable ones) idempotently and lists only its own', async () => {
    await writeFile(join(share, 'f'), 'x');
    const other = join(base, 'other');
    await mkdir(other);
    const backend = new CopyBackend({ snapshotDir: join(base, 'snaps') });
    const volume = await backend.volumeOf(share);
    const a = await backend.create(volume, { shadowCopyId: GUIDS[0]!, writable: false });
    const b = await backend.create(await backend.volumeOf(other), { shadowCopyId: GUIDS[1]!, writable: false });
    await mkdir(join(backend.snapshotDirFor(share), 'not-ours'));
    await mkdir(join(backend.snapshotDirFor(share), `fsrvp-${GUIDS[2]}_GMT-2020.01.01-00.00.00`)); // no metadata
    expect((await backend.list(volume)).map((s) => s.name)).toEqual([a.name]);
    await backend.delete(a);
    await backend.delete(a);
    expect(await backend.list(volume)).toEqual([]);
    await expect(stat(a.path)).rejects.toThrow();
    await expect(stat(`${a.path}.json`)).rejects.toThrow();
    expect((await backend.list(await backend.volumeOf(other))).map((s) => s.name)).toEqual([b.name]);
    await expect(backend.delete({ ...a, path: share, name: 'data' })).rejects.toThrow(/not a snapshot made by the copy backend/);
  });

  it('check() refuses a snapshot directory inside the share and a share inside a snapshot directory', async () => {
    await writeFile(join(share, 'f'), 'x');
    expect(await new CopyBackend().check(share)).toBeUndefined();
    const inside = await new CopyBackend({ snapshotDir: join(share, 'snaps') }).check(share);
    expect(inside).toMatchObject({ kind: 'location', path: share });
    const nested = join(base, '.fsrvp-snapshots', 'x');
    await mkdir(nested, { recursive: true });
    expect((await new CopyBackend().check(nested))?.reason).toMatch(/inside a snapshot directory/);
    await symlink('/etc', join(share, 'l'));
    expect((await new CopyBackend().check(share))?.kind).toBe('symlink');
  });

  it('protects with write bits when asked (no immutable flag), and removes partial copies a crash left', async () => {
    await mkdir(join(share, 'd'));
    await writeFile(join(share, 'd', 'f'), 'x');
    const backend = new CopyBackend({ readOnly: 'mode-bits' });
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: GUIDS[0]!, writable: false });
    expect(await isImmutable(snap.path)).toBe(false);
    expect((await stat(join(snap.path, 'd', 'f'))).mode & 0o222).toBe(0);
    expect((await stat(join(snap.path, 'd'))).mode & 0o222).toBe(0);
    const partial = join(backend.snapshotDirFor(share), `.fsrvp-${GUIDS[1]}_GMT-2020.01.01-00.00.00.partial`);
    await mkdir(join(partial, 'x'), { recursive: true });
    expect(await backend.removePartials(volume)).toEqual([partial]);
    expect((await backend.list(volume)).map((s) => s.name)).toEqual([snap.name]);
    await backend.delete(snap);
    expect(await readdir(backend.snapshotDirFor(share))).toEqual([]);
  });

  it('refuses non-GUID shadow copy ids before touching the filesystem', async () => {
    const backend = new CopyBackend();
    await expect(backend.create(await backend.volumeOf(share), { shadowCopyId: '../../x', writable: false })).rejects.toThrow(/not a GUID/);
    await expect(stat(join(base, '.fsrvp-snapshots'))).rejects.toThrow();
  });
});
