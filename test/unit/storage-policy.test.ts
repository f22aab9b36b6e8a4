import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkTree } from '../../src/storage/policy.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fsrvp-policy-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function chain(base: string, depth: number): Promise<string> {
  let p = base;
  for (let i = 1; i <= depth; i++) p = join(p, `d${i}`);
  await mkdir(p, { recursive: true });
  return p;
}

describe('directory-structure policy', () => {
  it('accepts a tree of plain files and directories', async () => {
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    await mkdir(join(root, 'empty'));
    await writeFile(join(root, 'a', 'b', 'f.txt'), 'x');
    await writeFile(join(root, 'top.txt'), 'y');
    expect(await checkTree(root)).toBeUndefined();
  });

  it('refuses a symbolic link and names it', async () => {
    await mkdir(join(root, 'a'));
    await symlink('/etc', join(root, 'a', 'link'));
    const r = await checkTree(root);
    expect(r).toMatchObject({ kind: 'symlink', path: join(root, 'a', 'link') });
    expect(r!.reason).toMatch(/symbolic link/);
    expect(await checkTree(root, { refuseSymlinks: false })).toBeUndefined();
  });

  it('refuses a FIFO', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    expect(await checkTree(root)).toMatchObject({ kind: 'special-file', path: join(root, 'pipe') });
  });

  it('accepts directory depth 5 and refuses depth 6 (shadowcopy-dir-depth)', async () => {
    const five = await chain(root, 5);
    await writeFile(join(five, 'file-at-level-6.txt'), 'files do not count');
    expect(await checkTree(root)).toBeUndefined();
    const six = join(five, 'd6');
    await mkdir(six);
    const r = await checkTree(root);
    expect(r).toMatchObject({ kind: 'too-deep', path: six });
    expect(r!.reason).toMatch(/depth 6 exceeds the maximum of 5/);
    expect(await checkTree(root, { maxDepth: 6 })).toBeUndefined();
  });

  it('refuses hard links unless allowed', async () => {
    await writeFile(join(root, 'a'), 'x');
    await link(join(root, 'a'), join(root, 'b'));
    const r = await checkTree(root);
    expect(r?.kind).toBe('hard-link');
    expect(r?.reason).toMatch(/2 links/);
    expect(await checkTree(root, { refuseHardLinks: false })).toBeUndefined();
  });

  it('stops after maxEntries with a clear reason', async () => {
    for (let i = 0; i < 30; i++) await writeFile(join(root, `f${i}`), '');
    const r = await checkTree(root, { maxEntries: 10 });
    expect(r).toMatchObject({ kind: 'too-many-entries' });
    expect(r!.reason).toMatch(/more than 10 entries/);
    expect(await checkTree(root, { maxEntries: 30 })).toBeUndefined();
  });

  it('refuses a share root that is a file, missing, or (optionally) empty', async () => {
    await writeFile(join(root, 'file'), '');
    expect((await checkTree(join(root, 'file')))?.kind).toBe('not-a-directory');
    expect((await checkTree(join(root, 'missing')))?.kind).toBe('unreadable');
    await mkdir(join(root, 'empty'));
    expect(await checkTree(join(root, 'empty'))).toBeUndefined();
    expect((await checkTree(join(root, 'empty'), { refuseEmpty: true }))?.kind).toBe('empty');
  });

  it('follows a symbolic link in the share path itself (only entries below the root are checked)', async () => {
    await mkdir(join(root, 'real'));
    await writeFile(join(root, 'real', 'f'), '');
    await symlink(join(root, 'real'), join(root, 'alias'));
    expect(await checkTree(join(root, 'alias'))).toBeUndefined();
  });

  it('refuses exactly the chains deeper than maxDepth (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 7 }), async (depth, maxDepth) => {
        const base = await mkdtemp(join(root, 'p-'));
        await chain(base, depth);
        const r = await checkTree(base, { maxDepth });
        expect(r?.kind).toBe(depth > maxDepth ? 'too-deep' : undefined);
      }),
      { numRuns: 25 },
    );
  });
});
