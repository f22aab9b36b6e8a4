/**
 * The copy backend's tree-wide file operations through the helper (mode `files`): extended
 * attributes copied between trees, and the immutable flag of a tree, set and cleared by ioctl.
 * And the fallback to the tools when the helper cannot start. Needs root (the immutable flag).
 */
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CopyBackend } from '../../src/storage/copy.js';
import { FileOps } from '../../src/storage/file-ops.js';
import { isImmutable, setImmutable } from '../../src/storage/protect.js';
import { errno } from '../helpers/errno.js';

const ops = new FileOps({ timeoutMs: 30_000 });
let base: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'fsrvp-file-ops-'));
});
afterEach(async () => {
  await ops.setImmutable(base, false).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});
afterAll(async () => {
  await ops.close();
});

/** A tree with a file, a nested directory, a symbolic link and a FIFO. */
async function tree(root: string): Promise<void> {
  await mkdir(join(root, 'd', 'e'), { recursive: true });
  await writeFile(join(root, 'f'), 'x');
  await writeFile(join(root, 'd', 'e', 'g'), 'y');
  await symlink('f', join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
}

describe('tree-wide file operations through the helper', () => {
  it('sets and clears the immutable flag on every directory and regular file, skipping links and FIFOs', async () => {
    const root = join(base, 't');
    await tree(root);
    const on = await ops.setImmutable(root, true);
    // root, d, d/e, f, d/e/g: the link and the FIFO are left alone (opening a FIFO would block).
    expect(on).toEqual({ changed: 5, failed: 0, errors: [], immutable: true });
    expect(await ops.isImmutable(join(root, 'd', 'e', 'g'))).toBe(true);
    expect(await errno(appendFile(join(root, 'd', 'e', 'g'), 'z'))).toBe('EPERM');
    expect(await errno(writeFile(join(root, 'd', 'new'), 'z'))).toBe('EPERM');
    expect((await ops.setImmutable(root, true)).changed).toBe(0); // idempotent
    expect(await ops.setImmutable(root, false)).toMatchObject({ changed: 5, immutable: false });
    await appendFile(join(root, 'd', 'e', 'g'), 'z');
  });

  it('copies every extended attribute to the same paths, skipping entries the copy does not have', async () => {
    const src = join(base, 'src');
    const dst = join(base, 'dst');
    await tree(src);
    await mkdir(join(dst, 'd', 'e'), { recursive: true });
    await writeFile(join(dst, 'f'), 'x');
    execFileSync('setfattr', ['-n', 'user.DOSATTRIB', '-v', 'dos', join(src, 'f')]);
    execFileSync('setfattr', ['-n', 'security.NTACL', '-v', '0x01020304', join(src, 'd')]);
    execFileSync('setfattr', ['-n', 'user.only-in-source', '-v', '1', join(src, 'd', 'e', 'g')]); // g is not in dst
    const r = await ops.xattrCopy(src, dst);
    expect(r).toEqual({ copied: 2, failed: 0, errors: [] });
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.DOSATTRIB', join(dst, 'f')]).toString()).toBe('dos');
    expect(execFileSync('getfattr', ['-e', 'hex', '--only-values', '-n', 'security.NTACL', join(dst, 'd')])).toEqual(Buffer.from([1, 2, 3, 4]));
  });

  it('refuses relative paths', async () => {
    await expect(ops.setImmutable('relative/path', true)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(ops.xattrCopy('/tmp', 'relative')).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('protect.ts uses the tools when the helper cannot start', async () => {
    const gone = new FileOps({ python: join(base, 'no-such-python') });
    const root = join(base, 't');
    await tree(root);
    expect(await setImmutable(root, true, gone)).toBe(true);
    expect(await isImmutable(join(root, 'f'), gone)).toBe(true);
    await setImmutable(root, false, gone); // chattr -R exits non-zero for the link and the FIFO
    expect(await isImmutable(join(root, 'f'), gone)).toBe(false);
    expect(await isImmutable(root, gone)).toBe(false);
    await gone.close();
  });

  it('a copy backend without its helper makes the same read-only snapshot with the tools', async () => {
    const share = join(base, 'share');
    await tree(share);
    await rm(join(share, 'fifo')); // copies skip FIFOs; keep the comparison simple
    execFileSync('setfattr', ['-n', 'user.DOSATTRIB', '-v', 'dos', join(share, 'f')]);
    for (const backend of [new CopyBackend({ python: join(base, 'no-such-python') }), new CopyBackend({ helper: false })]) {
      const snap = await backend.create(await backend.volumeOf(share), { shadowCopyId: '11111111-2222-3333-4444-555555555551', writable: false });
      expect(await isImmutable(join(snap.path, 'f'))).toBe(true);
      expect(execFileSync('getfattr', ['--only-values', '-n', 'user.DOSATTRIB', join(snap.path, 'f')]).toString()).toBe('dos');
      await backend.delete(snap);
      await backend.close();
    }
  });
});
