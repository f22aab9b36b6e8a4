/**
 * fsTypeOf's known-local window (src/storage/mounts.ts): a path becomes "known local" only after
 * an asynchronous statfs found a local filesystem there; other filesystems never do. readMounts:
 * one read per synchronous run of code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_FS, fsTypeOf, isKnownLocal, mountOf, readMounts } from '../../src/storage/mounts.js';

const dir = mkdtempSync(join(tmpdir(), 'fsrvp-mounts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fsTypeOf', () => {
  it('marks a path known local only after a statfs found a local filesystem, and answers the same type after', async () => {
    const expected = (await statfs(dir)).type;
    expect(isKnownLocal(dir)).toBe(false);
    expect(await fsTypeOf(dir)).toBe(expected);
    expect(isKnownLocal(dir)).toBe(LOCAL_FS.has(expected));
    expect(await fsTypeOf(dir)).toBe(expected);
  });
  it('never marks procfs (not a local disk filesystem) known local', async () => {
    const type = await fsTypeOf('/proc');
    expect(LOCAL_FS.has(type)).toBe(false);
    expect(isKnownLocal('/proc')).toBe(false);
  });
  it('rejects for a path that does not exist and remembers nothing', async () => {
    const missing = join(dir, 'missing');
    await expect(fsTypeOf(missing)).rejects.toThrow(/ENOENT/);
    expect(isKnownLocal(missing)).toBe(false);
  });
});

describe('readMounts', () => {
  it('shares one read among the calls of one synchronous run, and reads afresh after a microtask', async () => {
    const a = readMounts();
    const b = readMounts();
    expect(b).toBe(a);
    const table = await a;
    expect(mountOf('/proc/self', table)?.fsType).toBe('proc');
    const c = readMounts();
    expect(c).not.toBe(a);
    expect(await c).toEqual(table);
  });
});
