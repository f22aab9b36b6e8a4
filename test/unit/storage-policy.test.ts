import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkTree, type PolicyOptions, type WalkOptions } from '../../src/storage/policy.js';
import type { MountEntry } from '../../src/storage/mounts.js';
import { withTurnCount } from '../helpers/event-loop.js';

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

const WALKS: Array<[string, WalkOptions]> = [['auto', {}], ['synchronous', { sync: true }], ['thread-pool', { sync: false }]];

describe.each(WALKS)('directory-structure policy (%s calls)', (_name, walk) => {
  const check = (r: string, o: Partial<PolicyOptions> = {}): ReturnType<typeof checkTree> => checkTree(r, o, walk);

  it('accepts a tree of plain files and directories', async () => {
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    await mkdir(join(root, 'empty'));
    await writeFile(join(root, 'a', 'b', 'f.txt'), 'x');
    await writeFile(join(root, 'top.txt'), 'y');
    expect(await check(root)).toBeUndefined();
  });

  it('refuses a symbolic link and names it', async () => {
    await mkdir(join(root, 'a'));
    await symlink('/etc', join(root, 'a', 'link'));
    const r = await check(root);
    expect(r).toMatchObject({ kind: 'symlink', path: join(root, 'a', 'link') });
    expect(r!.reason).toMatch(/symbolic link/);
    expect(await check(root, { refuseSymlinks: false })).toBeUndefined();
  });

  it('refuses a FIFO', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    expect(await check(root)).toMatchObject({ kind: 'special-file', path: join(root, 'pipe') });
  });

  it('accepts directory depth 5 and refuses depth 6 (shadowcopy-dir-depth)', async () => {
    const five = await chain(root, 5);
    await writeFile(join(five, 'file-at-level-6.txt'), 'files do not count');
    expect(await check(root)).toBeUndefined();
    const six = join(five, 'd6');
    await mkdir(six);
    const r = await check(root);
    expect(r).toMatchObject({ kind: 'too-deep', path: six });
    expect(r!.reason).toMatch(/depth 6 exceeds the maximum of 5/);
    expect(await check(root, { maxDepth: 6 })).toBeUndefined();
  });

  it('refuses hard links unless allowed', async () => {
    await writeFile(join(root, 'a'), 'x');
    await link(join(root, 'a'), join(root, 'b'));
    const r = await check(root);
    expect(r?.kind).toBe('hard-link');
    expect(r?.reason).toMatch(/2 links/);
    expect(await check(root, { refuseHardLinks: false })).toBeUndefined();
  });

  it('stops after maxEntries with a clear reason', async () => {
    for (let i = 0; i < 30; i++) await writeFile(join(root, `f${i}`), '');
    const r = await check(root, { maxEntries: 10 });
    expect(r).toMatchObject({ kind: 'too-many-entries' });
    expect(r!.reason).toMatch(/more than 10 entries/);
    expect(await check(root, { maxEntries: 30 })).toBeUndefined();
  });

  it('refuses a share root that is a file, missing, or (optionally) empty', async () => {
    await writeFile(join(root, 'file'), '');
    expect((await check(join(root, 'file')))?.kind).toBe('not-a-directory');
    expect((await check(join(root, 'missing')))?.kind).toBe('unreadable');
    await mkdir(join(root, 'empty'));
    expect(await check(join(root, 'empty'))).toBeUndefined();
    expect((await check(join(root, 'empty'), { refuseEmpty: true }))?.kind).toBe('empty');
  });

  it('follows a symbolic link in the share path itself (only entries below the root are checked)', async () => {
    await mkdir(join(root, 'real'));
    await writeFile(join(root, 'real', 'f'), '');
    await symlink(join(root, 'real'), join(root, 'alias'));
    expect(await check(join(root, 'alias'))).toBeUndefined();
  });

  it('refuses exactly the chains deeper than maxDepth (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 7 }), async (depth, maxDepth) => {
        const base = await mkdtemp(join(root, 'p-'));
        await chain(base, depth);
        const r = await check(base, { maxDepth });
        expect(r?.kind).toBe(depth > maxDepth ? 'too-deep' : undefined);
      }),
      { numRuns: 25 },
    );
  });
});

describe('directory-structure policy: mount table and fairness', () => {
  const mountAt = (mountPoint: string): MountEntry => ({ mountPoint, root: '/', fsType: 'nfs4', source: 'srv:/x', device: '0:99' });

  it('refuses a mount below the root from the mount table, without touching it', async () => {
    await mkdir(join(root, 'a'));
    // The mount point does not even exist: it is never stat'ed (a hung network mount cannot block the walk).
    const below = join(root, 'a', 'nfs');
    for (const walk of WALKS.map(([, w]) => w)) {
      const r = await checkTree(root, {}, { ...walk, mounts: [mountAt('/'), mountAt(root), mountAt(below)] });
      expect(r).toMatchObject({ kind: 'mount-point', path: below });
      expect(r!.reason).toMatch(/mount point \(junction\)/);
      expect(await checkTree(root, {}, { ...walk, mounts: [mountAt('/'), mountAt(root), mountAt(`${root}-other`)] })).toBeUndefined();
    }
  });

  it('a long synchronous walk yields to the event loop at least once per 1,024 entries', async () => {
    for (let i = 0; i < 8192; i++) await writeFile(join(root, `f${i}`), '');
    const { result: r, turns: ticks } = await withTurnCount(() => checkTree(root, {}, { sync: true }));
    expect(r).toBeUndefined();
    // 8,192 entries: a setImmediate turn after each 1,024 (SLICE_ENTRIES), more if slices run out of time.
    expect(ticks).toBeGreaterThanOrEqual(7);
  });
});
