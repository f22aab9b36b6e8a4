import { access, appendFile, chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BtrfsBackend } from '../../src/storage/btrfs.js';
import { snapshotName, toSeconds } from '../../src/storage/naming.js';
import { BtrfsIoctl, isIoctlRefusal, isIoctlUnsupported } from '../../src/storage/btrfs-ioctl.js';
import { run } from '../../src/sys/exec.js';
import { HelperError } from '../../src/sys/helper-process.js';
import { DEFAULT_PYTHON } from '../../src/sys/helpers/fsrvp-helper.js';
import { createLoopFs, requireTools, type LoopFs } from '../../tools/lib/loopfs.js';
import { errno } from '../helpers/errno.js';

const guid = (i: number): string => `bbbbbbbb-0000-0000-0000-${String(i).padStart(12, '0')}`;


let fs: LoopFs;
let share: string;
let toolLog: string;
/** A btrfs wrapper that records each invocation, so tests see which operations used the tool. */
let btrfsWrapper: string;
const backends: BtrfsBackend[] = [];

function backend(extra: ConstructorParameters<typeof BtrfsBackend>[0] = {}): BtrfsBackend {
  const b = new BtrfsBackend({ btrfsCommand: btrfsWrapper, ...extra });
  backends.push(b);
  return b;
}

async function toolCalls(): Promise<string[]> {
  const text = await readFile(toolLog, 'utf8').catch(() => '');
  await writeFile(toolLog, '');
  return text.split('\n').filter(Boolean);
}

/** A stand-in helper (run by /usr/bin/python3) that is ready, then answers every request with `reply` or dies. */
async function fakeHelper(name: string, behaviour: 'enotty' | 'eperm' | 'die'): Promise<string> {
  const [code, errno, text] = behaviour === 'eperm' ? ['EPERM', 1, 'Operation not permitted'] : ['ENOTTY', 25, 'Inappropriate ioctl for device'];
  const file = join(fs.dir, name);
  await writeFile(file, [
    'import json, sys',
    'print(json.dumps({"ready": True, "info": {}}), flush=True)',
    'for line in sys.stdin:',
    '    req = json.loads(line)',
    behaviour === 'die'
      ? '    sys.stderr.write("fake helper dies\\n"); sys.exit(9)'
      : `    print(json.dumps({"id": req["id"], "ok": False, "error": {"code": "${code}", "message": "${text}", "errno": ${errno}}}), flush=True)`,
    '',
  ].join('\n'));
  return file;
}

beforeAll(async () => {
  await requireTools(['mkfs.btrfs', 'btrfs', 'losetup', 'mount', 'umount']);
  await access(DEFAULT_PYTHON, fsc.X_OK).catch(() => {
    throw new Error(`integration prerequisites not met: ${DEFAULT_PYTHON} is missing (apt-get install python3)`);
  });
  fs = await createLoopFs({ fsType: 'btrfs' });
  share = join(fs.mountPoint, 'share');
  await run('btrfs', ['subvolume', 'create', share]);
  await mkdir(join(share, 'docs'));
  await writeFile(join(share, 'docs', 'a.txt'), 'version 1');
  toolLog = join(fs.dir, 'btrfs-calls.log');
  btrfsWrapper = join(fs.dir, 'btrfs-wrapper');
  await writeFile(btrfsWrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${toolLog}'\nexec btrfs "$@"\n`);
  await chmod(btrfsWrapper, 0o755);
});

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await fs?.teardown();
});

describe('btrfs backend by ioctl (helper process) on a loop filesystem', () => {
  it('takes a read-only snapshot that refuses writes, without running the btrfs tool for it', async () => {
    const b = backend();
    const volume = await b.volumeOf(share);
    await toolCalls();
    const snap = await b.create(volume, { shadowCopyId: guid(1), writable: false });
    expect(b.ioctlDisabled).toBeUndefined();
    expect(await readFile(join(snap.path, 'docs', 'a.txt'), 'utf8')).toBe('version 1');
    expect(await errno(appendFile(join(snap.path, 'docs', 'a.txt'), 'x'))).toBe('EROFS');
    expect(await errno(writeFile(join(snap.path, 'new'), 'x'))).toBe('EROFS');
    expect((await run('btrfs', ['property', 'get', '-ts', snap.path, 'ro'])).stdout.trim()).toBe('ro=true');
    await b.delete(snap);
    await expect(access(snap.path)).rejects.toThrow();
    expect(await toolCalls()).toEqual([]);
  });

  it('takes a writable snapshot that accepts writes; setReadOnly flips it (idempotently); delete removes it', async () => {
    const b = backend();
    const volume = await b.volumeOf(share);
    await toolCalls();
    const snap = await b.create(volume, { shadowCopyId: guid(2), writable: true });
    await writeFile(join(snap.path, 'recovered.txt'), 'ok');
    expect((await run('btrfs', ['property', 'get', '-ts', snap.path, 'ro'])).stdout.trim()).toBe('ro=false');
    const io = new BtrfsIoctl({ timeoutMs: 10_000 });
    expect(await io.isReadOnly(snap.path)).toBe(false);
    await b.setReadOnly(snap);
    await b.setReadOnly(snap);
    expect(await io.isReadOnly(snap.path)).toBe(true);
    expect(await errno(writeFile(join(snap.path, 'later.txt'), 'no'))).toBe('EROFS');
    expect(await toolCalls()).toEqual([]);
    expect((await b.list(volume)).find((s) => s.name === snap.name)?.writable).toBe(false);
    await b.delete(snap);
    await b.delete(snap);
    await expect(access(snap.path)).rejects.toThrow();
    expect((await toolCalls()).filter((c) => !c.startsWith('subvolume list'))).toEqual([]);
    await io.close();
  });

  it('names snapshots taken in a tight loop uniquely and leaves none behind an aborted create', async () => {
    const b = backend();
    const volume = await b.volumeOf(share);
    const made = [];
    for (let i = 10; i < 15; i++) made.push(await b.create(volume, { shadowCopyId: guid(i), writable: false }));
    expect(new Set(made.map((s) => s.name)).size).toBe(5);
    for (const s of made) await b.delete(s);
    // Abort at different moments: before the ioctl, during it, right after it.
    for (const delay of [0, 1, 2, 5, 10]) {
      const ac = new AbortController();
      const p = b.create(volume, { shadowCopyId: guid(20 + delay), writable: false, signal: ac.signal });
      setTimeout(() => ac.abort(), delay);
      const r = await p.then((snap) => snap, (e: Error) => e);
      if (!(r instanceof Error)) await b.delete(r); // finished before the abort: an ordinary snapshot
    }
    await new Promise((r) => setTimeout(r, 500)); // a late snapshot is removed when its ioctl returns
    expect(await b.list(volume)).toEqual([]);
    expect(await readdir(await b.snapshotDirFor(volume.root))).toEqual([]);
    expect(b.ioctlDisabled).toBeUndefined();
  });

  it('takes the next name when one is in use, and recreates a snapshot directory removed behind its back', async () => {
    const b = backend();
    const volume = await b.volumeOf(share);
    const first = await b.create(volume, { shadowCopyId: guid(30), writable: false });
    await b.delete(first);
    const dir = await b.snapshotDirFor(volume.root);
    await rm(dir, { recursive: true });
    const again = await b.create(volume, { shadowCopyId: guid(31), writable: false });
    expect(again.path.startsWith(`${dir}/`)).toBe(true);
    // Something that is not a snapshot sits on the name the next create would take (for this
    // second and the next, in case the clock moves on): it takes sequence number 2.
    const now = toSeconds(Date.now());
    const squatters = [now, now + 1000].map((t) => join(dir, snapshotName(guid(32), t, 1)));
    for (const p of squatters) await mkdir(p);
    const next = await b.create(volume, { shadowCopyId: guid(32), writable: false });
    expect(next.name).toBe(snapshotName(guid(32), next.createdAt, 2));
    for (const snap of [again, next]) await b.delete(snap);
    for (const p of squatters) await rm(p, { recursive: true });
    expect(await readdir(dir)).toEqual([]);
    expect(b.ioctlDisabled).toBeUndefined();
  });

  it('reports a kernel refusal (ENOTTY on a non-btrfs directory) as one that means "use the tool"', async () => {
    const io = new BtrfsIoctl({ timeoutMs: 10_000 });
    const plain = join(fs.dir, 'plain');
    await mkdir(plain, { recursive: true });
    const e = await io.snapshot(plain, join(plain, 'x'), true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HelperError);
    expect((e as HelperError).code).toBe('ENOTTY');
    expect(isIoctlRefusal(e)).toBe(true);
    expect(isIoctlUnsupported(e)).toBe(true);
    const exists = await io.snapshot(share, join(fs.mountPoint, 'share'), true).catch((x: unknown) => x);
    expect((exists as HelperError).code).toBe('EEXIST');
    expect(isIoctlRefusal(exists)).toBe(false);
    await io.close();
  });

  it('falls back to the btrfs tool, for good, when the helper cannot start or the kernel refuses', async () => {
    for (const extra of [{ python: '/nonexistent/python3' }, { helperScript: await fakeHelper('enotty.py', 'enotty') }]) {
      const b = backend(extra);
      const volume = await b.volumeOf(share);
      await toolCalls();
      const snap = await b.create(volume, { shadowCopyId: guid(30), writable: true });
      expect(b.ioctlDisabled).toMatch(extra.python ? /not available/ : /ENOTTY/);
      await b.setReadOnly(snap);
      expect(await errno(writeFile(join(snap.path, 'x'), 'no'))).toBe('EROFS');
      await b.delete(snap);
      await expect(access(snap.path)).rejects.toThrow();
      const calls = await toolCalls();
      expect(calls.some((c) => c.startsWith('subvolume snapshot'))).toBe(true);
      expect(calls.some((c) => c.startsWith('property set'))).toBe(true);
      expect(calls.some((c) => c.startsWith('subvolume delete'))).toBe(true);
    }
  });

  it('uses the tool for one call the kernel refused with EPERM, and keeps using ioctls', async () => {
    const b = backend({ helperScript: await fakeHelper('eperm.py', 'eperm') });
    const volume = await b.volumeOf(share);
    await toolCalls();
    const snap = await b.create(volume, { shadowCopyId: guid(35), writable: false });
    await b.delete(snap);
    expect(b.ioctlDisabled).toBeUndefined();
    const calls = await toolCalls();
    expect(calls.filter((c) => c.startsWith('subvolume snapshot -r'))).toHaveLength(1);
    expect(calls.filter((c) => c.startsWith('subvolume delete'))).toHaveLength(1);
  });

  it('uses the tool for a call during which the helper died, and keeps trying the helper', async () => {
    const b = backend({ helperScript: await fakeHelper('dies.py', 'die') });
    const volume = await b.volumeOf(share);
    await toolCalls();
    const snap = await b.create(volume, { shadowCopyId: guid(40), writable: false });
    expect(b.ioctlDisabled).toBeUndefined();
    expect(await errno(writeFile(join(snap.path, 'x'), 'no'))).toBe('EROFS');
    await b.delete(snap);
    await expect(access(snap.path)).rejects.toThrow();
    const calls = await toolCalls();
    expect(calls.filter((c) => c.startsWith('subvolume snapshot -r'))).toHaveLength(1);
    expect(calls.filter((c) => c.startsWith('subvolume delete'))).toHaveLength(1);
    await rm(join(fs.dir, 'dies.py'));
  });

  it('finds nested subvolumes by ioctl as `btrfs subvolume list -o` does, and check() refuses them without running the tool', async () => {
    const top = join(fs.mountPoint, 'nesting');
    await run('btrfs', ['subvolume', 'create', top]);
    await mkdir(join(top, 'share', 'a', 'b'), { recursive: true });
    await mkdir(join(top, 'share2'));
    for (const sub of ['share/a/b/inner', 'share/sp ace', 'share/a/b/inner/deeper', 'share2/beside']) {
      await run('btrfs', ['subvolume', 'create', join(top, sub)]);
    }
    const io = new BtrfsIoctl({ timeoutMs: 10_000 });
    try {
      expect(await io.nestedSubvolumes(join(top, 'share'))).toEqual([join(top, 'share/a/b/inner'), join(top, 'share/sp ace')]);
      expect(await io.nestedSubvolumes(join(top, 'share', 'a'))).toEqual([join(top, 'share/a/b/inner')]);
      expect(await io.nestedSubvolumes(top)).toEqual([join(top, 'share/a/b/inner'), join(top, 'share/sp ace'), join(top, 'share2/beside')]);
      expect(await io.nestedSubvolumes(join(top, 'share2', 'beside'))).toEqual([]);
      // The same facts as the tool: its children of the subvolume holding `top`.
      const listed = (await run('btrfs', ['subvolume', 'list', '-o', top])).stdout.split('\n').filter(Boolean).length;
      expect(listed).toBe(3);
      const missing = await io.nestedSubvolumes(join(top, 'nope')).then(() => undefined, (e: unknown) => e);
      expect(missing).toBeInstanceOf(HelperError);
      expect((missing as HelperError).code).toBe('ENOENT');
    } finally {
      await io.close();
    }
    const b = backend();
    await toolCalls();
    const r = await b.check(join(top, 'share'));
    expect(r).toMatchObject({ kind: 'nested-subvolume', path: join(top, 'share/a/b/inner') });
    expect((await toolCalls()).filter((c) => c.startsWith('subvolume list'))).toEqual([]);
  });

  it('lets snapshots issued at once share transaction commits: no request holds up the others during its ioctl', async () => {
    // Each snapshot ioctl commits a btrfs transaction; ones issued together join the same commit
    // unless the helper runs them one at a time (fcntl.ioctl keeps the interpreter lock through the
    // call: 8 commits, every round). They go into separate directories: btrfs holds the parent
    // directory's lock through the commit, so one shared directory would queue them as well.
    const top = join(fs.mountPoint, 'together');
    const sources = Array.from({ length: 8 }, (_, i) => join(top, `s${i}`));
    const dirs = sources.map((_, i) => join(top, `d${i}`));
    await mkdir(top);
    for (const [i, s] of sources.entries()) {
      await run('btrfs', ['subvolume', 'create', s]);
      await writeFile(join(s, 'f'), `file ${i}`);
      await mkdir(dirs[i]!);
    }
    const uuid = (await run('findmnt', ['-n', '-o', 'UUID', '--target', fs.mountPoint])).stdout.trim();
    const commits = async (): Promise<number> => {
      const m = /^commits (\d+)$/m.exec(await readFile(`/sys/fs/btrfs/${uuid}/commit_stats`, 'utf8'));
      if (!m) throw new Error(`no commit count in /sys/fs/btrfs/${uuid}/commit_stats`);
      return Number(m[1]);
    };
    const io = new BtrfsIoctl({ timeoutMs: 30_000 });
    const perRound: number[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const before = await commits();
        const made = await Promise.all(sources.map(async (s, i) => {
          const p = join(dirs[i]!, `r${round}`);
          await io.snapshot(s, p, true);
          return p;
        }));
        perRound.push(await commits() - before);
        for (const [i, p] of made.entries()) expect(await readFile(join(p, 'f'), 'utf8')).toBe(`file ${i}`);
        await Promise.all(made.map((p) => io.destroy(p)));
      }
    } finally {
      await io.close();
    }
    expect(Math.min(...perRound), `commits per round of 8 snapshots: ${perRound.join(', ')}`).toBeLessThanOrEqual(4);
  });
});
