import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectTree, policyOptionsFor, type WalkProgress } from '../../src/storage/policy.js';
import { walkTree, type WalkRules } from '../../src/storage/tree-walk.js';
import { withTurnCount } from '../helpers/event-loop.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fsrvp-walk-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const hyperv = policyOptionsFor({ profile: 'hyperv' });
const faithful = policyOptionsFor({ profile: 'faithful' });
const mounts = [{ mountPoint: '/', root: '/', fsType: 'ext4', source: '/dev/x', device: '8:1' }];

/** `dirs` directories of `files` empty files each, synchronously (fast). */
function wideTree(base: string, dirs: number, files: number): number {
  for (let d = 0; d < dirs; d++) {
    mkdirSync(join(base, `d${d}`));
    for (let f = 0; f < files; f++) writeFileSync(join(base, `d${d}`, `f${f}`), '');
  }
  return dirs * (files + 1);
}

describe('hyperv profile refusals name the entry and say why', () => {
  const check = (o = hyperv) => inspectTree(root, o, { sync: true, mounts }).then((r) => r.refusal);

  it('a symbolic link', async () => {
    await symlink('/etc', join(root, 'l'));
    expect(await check()).toMatchObject({ kind: 'symlink', path: join(root, 'l'), reason: expect.stringMatching(/symbolic links are not allowed/) });
    expect(await check(faithful)).toBeUndefined();
  });

  it('a FIFO, a socket and a device node', async () => {
    execFileSync('mkfifo', [join(root, 'p')]);
    expect(await check()).toMatchObject({ kind: 'special-file', reason: expect.stringMatching(/named pipe \(FIFO\).*only regular files and directories/) });
    await rm(join(root, 'p'));
    const server = createServer();
    await new Promise<void>((res) => server.listen(join(root, 's'), res));
    try {
      expect(await check()).toMatchObject({ kind: 'special-file', path: join(root, 's'), reason: expect.stringMatching(/^a socket/) });
      expect(await check(faithful)).toBeUndefined();
    } finally {
      await new Promise((res) => server.close(res));
    }
    await rm(join(root, 's'), { force: true });
    // A character device (as root, which the storage tests run as).
    execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
    expect(await check()).toMatchObject({ kind: 'special-file', reason: expect.stringMatching(/^a character device/) });
  });

  it('depth 6 where 5 is the limit, and a hard link', async () => {
    await mkdir(join(root, '1/2/3/4/5'), { recursive: true });
    expect(await check()).toBeUndefined();
    await mkdir(join(root, '1/2/3/4/5/6'));
    expect(await check()).toMatchObject({ kind: 'too-deep', path: join(root, '1/2/3/4/5/6'), reason: expect.stringMatching(/depth 6 exceeds the maximum of 5/) });
    await rm(join(root, '1'), { recursive: true });
    await writeFile(join(root, 'a'), '');
    await link(join(root, 'a'), join(root, 'b'));
    expect(await check()).toMatchObject({ kind: 'hard-link', reason: expect.stringMatching(/hard-linked file \(2 links\)/) });
  });
});

describe('faithful profile refusals, found without walking where the system can tell', () => {
  it('a mount point below the root (mount table) and a nested btrfs subvolume (subvolume list)', async () => {
    await mkdir(join(root, 'sub'));
    const withMount = [...mounts, { mountPoint: join(root, 'sub'), root: '/', fsType: 'nfs4', source: 'h:/x', device: '0:77' }];
    const m = await inspectTree(root, faithful, { sync: true, mounts: withMount });
    expect(m.refusal).toMatchObject({ kind: 'mount-point', path: join(root, 'sub'), reason: expect.stringMatching(/mount point \(junction\)/) });
    expect(m.walk).toBeUndefined();
    const subvolumes = async (): Promise<string[]> => [join(root, 'sub')];
    const s = await inspectTree(root, { ...faithful, btrfs: true }, { sync: true, mounts, subvolumes });
    expect(s.refusal).toMatchObject({ kind: 'nested-subvolume', path: join(root, 'sub'), reason: expect.stringMatching(/nested btrfs subvolume/) });
    expect(s.walk).toBeUndefined();
    // Where the list says there is none, no walk at all.
    const none = await inspectTree(root, { ...faithful, btrfs: true }, { sync: true, mounts, subvolumes: async () => [] });
    expect(none).toEqual({ refusal: undefined, walk: undefined });
  });
});

describe('long walks', () => {
  const rules: WalkRules = { maxDepth: 5, maxEntries: Infinity, refuseHardLinks: true, refuseSymlinks: true, refuseSpecial: true, statDirs: false, btrfs: false };

  it('report progress as they go and at the end', async () => {
    const total = wideTree(root, 20, 199);
    const seen: WalkProgress[] = [];
    const r = await walkTree(root, lstatSync(root).dev, rules, { sync: true, threads: 0, progressEntries: 1000, progress: (p) => seen.push(p) });
    expect(r).toMatchObject({ refusal: undefined, entries: total });
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen.map((p) => p.entries)).toEqual([...seen.map((p) => p.entries)].sort((a, b) => a - b));
    expect(seen.at(-1)!.entries).toBe(total);
    expect(seen.every((p) => p.root === root && p.rate >= 0)).toBe(true);
  });

  it('yield to the event loop: a setImmediate counter advances during the walk', async () => {
    const total = wideTree(root, 40, 249);
    const { result: r, turns: ticks } = await withTurnCount(() => walkTree(root, lstatSync(root).dev, rules, { sync: true, threads: 0 }));
    expect(r.entries).toBe(total);
    // At least one turn of the event loop per 1,024 entries (SLICE_ENTRIES).
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(total / 1024) - 1);
  });

  it('in walk processes (compiled walk): same result, refusal and progress, event loop free', async () => {
    const dist = await import(join(process.cwd(), 'dist/src/storage/tree-walk.js')) as typeof import('../../src/storage/tree-walk.js');
    const total = wideTree(root, 60, 499);
    const dev = lstatSync(root).dev;
    const seen: number[] = [];
    const { result: r, turns: ticks } = await withTurnCount(() =>
      dist.walkTree(root, dev, rules, { sync: true, threads: 2, progressEntries: 5000, progress: (p) => seen.push(p.entries) }));
    expect(r).toMatchObject({ refusal: undefined, entries: total, rootEntries: 60 });
    expect(ticks).toBeGreaterThan(10);
    expect(seen.at(-1)).toBe(total);
    // A violation deep in the part the workers walk is found and stops them.
    await symlink('/etc', join(root, 'd3', 'zz-link'));
    const bad = await dist.walkTree(root, dev, rules, { sync: true, threads: 2 });
    expect(bad.refusal).toMatchObject({ kind: 'symlink', path: join(root, 'd3', 'zz-link') });
    const capped = await dist.walkTree(root, dev, { ...rules, refuseSymlinks: false, maxEntries: 20_000 }, { sync: true, threads: 2 });
    expect(capped.refusal).toMatchObject({ kind: 'too-many-entries', reason: expect.stringMatching(/more than 20000 entries/) });
    // A relative root (walk processes change their current directory) gives the same count.
    const rel = await dist.walkTree(relative(process.cwd(), root), dev, { ...rules, refuseSymlinks: false }, { sync: true, threads: 2 });
    expect(rel).toMatchObject({ refusal: undefined, entries: total + 1 });
  });
});
