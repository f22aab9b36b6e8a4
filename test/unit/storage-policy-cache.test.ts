import { mkdir, mkdtemp, rm, rmdir, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PolicyCache, treeTopSignature } from '../../src/storage/policy-cache.js';
import { policyKey } from '../../src/storage/policy.js';
import type { Refusal } from '../../src/storage/backend.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fsrvp-pcache-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('policy cache: walk once per share per set', () => {
  const key = (policy = policyKey({ profile: 'hyperv' })) => ({ backend: 'copy', path: root, policy });
  const walker = () => {
    const w = { runs: 0, result: undefined as Refusal | undefined, run: async () => { w.runs++; return w.result; } };
    return w;
  };

  it('reuses an accepted check within the set until the set ends', async () => {
    let t = 0;
    const cache = new PolicyCache({ now: () => t, recentMs: 10_000 });
    const w = walker();
    expect(await cache.check(key(), 'SET-1', w.run)).toBeUndefined();
    t = 60_000; // long past the recent window: the set's own result still holds
    await cache.check(key(), 'set-1', w.run);
    expect(w.runs).toBe(1);
    cache.endSet('Set-1');
    await cache.check(key(), 'SET-1', w.run);
    expect(w.runs).toBe(2);
  });

  it('walks again when the share root changes (mtime, or a new inode) or the profile changes', async () => {
    const cache = new PolicyCache({ signature: treeTopSignature });
    const w = walker();
    await cache.check(key(), 's', w.run);
    await cache.check(key(), 's', w.run);
    expect(w.runs).toBe(1);
    await utimes(root, new Date(), new Date(Date.now() - 3_600_000)); // mtime changes
    await cache.check(key(), 's', w.run);
    expect(w.runs).toBe(2);
    await rmdir(root); // the root replaced: another inode
    await mkdir(root);
    await mkdir(join(root, 'keep-inode-different'));
    await cache.check(key(), 's', w.run);
    expect(w.runs).toBe(3);
    await cache.check(key(policyKey({ profile: 'faithful' })), 's', w.run);
    expect(w.runs).toBe(4);
    await cache.check(key(policyKey({ profile: 'hyperv', maxDepth: 3 })), 's', w.run);
    expect(w.runs).toBe(5);
  });

  it('never keeps a refusal, and a set-less (IsPathSupported) result only for recentMs, then taken over by Add', async () => {
    let t = 0;
    const cache = new PolicyCache({ now: () => t, recentMs: 1000, signature: async () => 'same' });
    const w = walker();
    w.result = { path: root, reason: 'a symlink' };
    expect(await cache.check(key(), 's', w.run)).toEqual(w.result);
    expect(await cache.check(key(), 's', w.run)).toEqual(w.result);
    expect(w.runs).toBe(2);
    w.result = undefined;
    await cache.check(key(), undefined, w.run); // IsPathSupported
    await cache.check(key(), 'a', w.run); // Add takes it over
    expect(w.runs).toBe(3);
    t = 5000;
    await cache.check(key(), 'a', w.run); // bound to set a
    await cache.check(key(), undefined, w.run); // recent result expired
    expect(w.runs).toBe(4);
  });

  it('stays bounded', async () => {
    const cache = new PolicyCache({ maxEntries: 4, signature: async () => 'x' });
    for (let i = 0; i < 20; i++) await cache.check(key(), `set-${i}`, async () => undefined);
    expect(cache.size).toBeLessThanOrEqual(4);
  });
});
