import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import createDebug from 'debug';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyBackend } from '../../src/storage/copy.js';
import { run } from '../../src/sys/exec.js';
import { createLoopFs, requireTools, type LoopFs } from '../../tools/lib/loopfs.js';
import { errno } from '../helpers/errno.js';


const guid = (i: number): string => `bbbbbbbb-0000-0000-0000-${String(i).padStart(12, '0')}`;

async function fillShare(share: string): Promise<void> {
  await mkdir(join(share, 'vm'), { recursive: true });
  await writeFile(join(share, 'vm', 'disk.img'), Buffer.alloc(8 * 1024 * 1024, 7));
  await writeFile(join(share, 'notes.txt'), 'before');
  execFileSync('setfattr', ['-n', 'user.DOSATTRIB', '-v', 'dos-attributes', join(share, 'notes.txt')]);
  execFileSync('setfattr', ['-n', 'security.NTACL', '-v', '0x01020304', join(share, 'vm')]); // Samba acl_xattr's store
}

// The agent logs every command it runs (debug namespace fsrvp:exec): that tells the helper path
// (no process) from the tools.
const ATTR_TOOL = /\b(chattr|lsattr|getfattr|setfattr)\b/g;
let toolLines: string[] = [];
let previousLog: typeof createDebug.log;
let previousNamespaces = '';

beforeAll(() => {
  previousLog = createDebug.log;
  previousNamespaces = createDebug.disable();
  createDebug.log = (...args: unknown[]): void => {
    const line = format(...args);
    for (const m of line.matchAll(ATTR_TOOL)) toolLines.push(m[1] as string);
  };
  createDebug.enable(previousNamespaces ? `${previousNamespaces},fsrvp:exec` : 'fsrvp:exec');
});
afterAll(() => {
  createDebug.disable();
  if (previousNamespaces) createDebug.enable(previousNamespaces);
  createDebug.log = previousLog;
});

function toolCalls(): string[] {
  const calls = toolLines;
  toolLines = [];
  return calls;
}

describe.each([
  { fsType: 'xfs' as const, method: 'reflink', tools: ['mkfs.xfs'], helper: true },
  { fsType: 'ext4' as const, method: 'copy', tools: ['mkfs.ext4'], helper: true },
  { fsType: 'xfs' as const, method: 'reflink', tools: ['mkfs.xfs'], helper: false },
])('copy backend on $fsType (helper: $helper)', ({ fsType, method, tools, helper }) => {
  let fs: LoopFs;
  let share: string;
  const backends: CopyBackend[] = [];
  const newBackend = (): CopyBackend => {
    const b = new CopyBackend({ helper });
    backends.push(b);
    return b;
  };

  beforeAll(async () => {
    await requireTools([...tools, 'losetup', 'mount', 'umount', 'chattr', 'lsattr', 'getfattr', 'setfattr']);
    fs = await createLoopFs({ fsType });
    share = join(fs.mountPoint, 'share');
    await mkdir(share);
    await fillShare(share);
  });
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()));
    await fs?.teardown();
  });

  it(`snapshots by ${method}, keeps the old content and extended attributes, refuses writes when read-only`, async () => {
    const backend = newBackend();
    toolCalls();
    expect(await backend.check(share)).toBeUndefined();
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(1), writable: false });
    expect(snap.method).toBe(method);
    expect(snap.path).toBe(join(fs.mountPoint, '.fsrvp-snapshots', 'share', snap.name));
    await writeFile(join(share, 'notes.txt'), 'after');
    await appendFile(join(share, 'vm', 'disk.img'), 'grown');
    expect(await readFile(join(snap.path, 'notes.txt'), 'utf8')).toBe('before');
    expect((await stat(join(snap.path, 'vm', 'disk.img'))).size).toBe(8 * 1024 * 1024);
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.DOSATTRIB', join(snap.path, 'notes.txt')]).toString()).toBe('dos-attributes');
    expect(execFileSync('getfattr', ['-e', 'hex', '--only-values', '-n', 'security.NTACL', join(snap.path, 'vm')])).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(await errno(writeFile(join(snap.path, 'notes.txt'), 'x'))).toBe('EPERM');
    expect(await errno(writeFile(join(snap.path, 'vm', 'new'), 'x'))).toBe('EPERM');
    await backend.delete(snap);
    expect(await backend.list(volume)).toEqual([]);
    // The helper does attributes and flags without a process; the tools are the fallback.
    if (helper) expect(toolCalls()).toEqual([]);
    else expect(new Set(toolCalls())).toEqual(new Set(['getfattr', 'setfattr', 'chattr', 'lsattr']));
  });

  it('writable snapshot: writes until setReadOnly, then EPERM', async () => {
    const backend = newBackend();
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(2), writable: true });
    await writeFile(join(snap.path, 'recovered.txt'), 'ok');
    await backend.setReadOnly(snap);
    expect(await errno(writeFile(join(snap.path, 'recovered.txt'), 'no'))).toBe('EPERM');
    expect((await backend.list(volume)).map((s) => [s.name, s.writable])).toEqual([[snap.name, false]]);
    await backend.delete(snap);
  });

  it('check() refuses a mount point (junction) below the share root', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'fsrvp-bind-'));
    const junction = join(share, 'junction');
    await mkdir(junction);
    await run('mount', ['--bind', outside, junction]);
    try {
      const r = await newBackend().check(share);
      expect(r).toMatchObject({ kind: 'mount-point', path: junction });
    } finally {
      await run('umount', [junction]);
      await rm(junction, { recursive: true });
      await rm(outside, { recursive: true });
    }
    expect(await newBackend().check(share)).toBeUndefined();
  });
});
