import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ShareListCache, type ShareSource } from '../../src/shares/share-list-cache.js';
import type { Share } from '../../src/shares/types.js';

/** A share source that counts its reads; each read sees the shares present when it starts and takes `delayMs`. */
class CountingSource implements ShareSource {
  reads = 0;
  inFlight = 0;
  maxInFlight = 0;
  fail = false;
  readonly starts: number[] = [];
  private readonly shares = new Map<string, Share>();

  constructor(readonly delayMs = 20, names: readonly string[] = ['Data']) {
    for (const n of names) this.add(n);
  }

  add(name: string): void {
    this.shares.set(name, { name, path: `/srv/${name.toLowerCase()}` });
  }

  async read(): Promise<Share[]> {
    this.reads++;
    this.starts.push(Date.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const seen = [...this.shares.values()];
    const fail = this.fail;
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (fail) throw new Error('testparm failed');
      return seen;
    } finally {
      this.inFlight--;
    }
  }
}

/** Runs `p` to completion while advancing the fake clock. */
async function settle<T>(p: Promise<T>, stepMs = 5, maxMs = 10_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  p.then((v) => { done = true; value = v; }, (e: unknown) => { done = true; failed = true; error = e; });
  for (let t = 0; !done && t < maxMs; t += stepMs) await vi.advanceTimersByTimeAsync(stepMs);
  if (!done) throw new Error('did not settle');
  if (failed) throw error;
  return value as T;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('share list cache: unknown names are looked up again, boundedly', () => {
  it('finds a share added after the list was read, at the cost of one read', async () => {
    const src = new CountingSource();
    const cache = new ShareListCache(src, { ttlMs: 5000 });
    expect(await settle(cache.lookup('data'))).toMatchObject({ name: 'Data' });
    expect(src.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    src.add('New');
    expect(await settle(cache.lookup('NEW'))).toEqual({ name: 'New', path: '/srv/new' });
    expect(src.reads).toBe(2);
    // Now cached: neither the new name nor the old one costs a read within the TTL.
    expect(await settle(cache.lookup('new'))).toMatchObject({ name: 'New' });
    expect(await settle(cache.lookup('data'))).toMatchObject({ name: 'Data' });
    expect(src.reads).toBe(2);
  });

  it('concurrent misses share one read', async () => {
    const src = new CountingSource();
    const cache = new ShareListCache(src);
    await settle(cache.list());
    await vi.advanceTimersByTimeAsync(1000);
    src.add('Fresh');
    const bad = Array.from({ length: 50 }, (_, i) => cache.lookup(`nosuch${i}`));
    const good = cache.lookup('fresh');
    const results = await settle(Promise.all([...bad, good]));
    expect(results.slice(0, 50).every((r) => r === undefined)).toBe(true);
    expect(results[50]).toMatchObject({ name: 'Fresh' });
    expect(src.reads).toBe(2);
    expect(src.maxInFlight).toBe(1);
  });

  it('a flood of bad names costs at most one read per window', async () => {
    const src = new CountingSource(20);
    const cache = new ShareListCache(src, { ttlMs: 60_000, relookupMs: 250 });
    await settle(cache.list());
    const t0 = Date.now();
    const all: Array<Promise<Share | undefined>> = [];
    for (let i = 0; i < 400; i++) {
      all.push(cache.lookup(`bad-${i}`));
      await vi.advanceTimersByTimeAsync(5); // 400 misses over 2 s
    }
    const results = await settle(Promise.all(all));
    const elapsed = Date.now() - t0;
    expect(results.every((r) => r === undefined)).toBe(true);
    const forced = src.reads - 1;
    expect(forced).toBeGreaterThanOrEqual(Math.floor(2000 / 250) - 1); // it does look again…
    expect(forced).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 1); // …but no more than once per window
    const starts = src.starts.slice(1);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(250);
    expect(src.maxInFlight).toBe(1);
  });

  it('a miss inside the window waits for a read that starts after it, so a share added just before is found', async () => {
    const src = new CountingSource(20);
    const cache = new ShareListCache(src, { ttlMs: 60_000, relookupMs: 250 });
    await settle(cache.list());
    const t0 = Date.now();
    expect(await settle(cache.lookup('bad'))).toBeUndefined(); // a forced read now
    expect(src.reads).toBe(2);
    src.add('Late'); // after that read began
    const late = await settle(cache.lookup('late'), 1);
    expect(late).toMatchObject({ name: 'Late' });
    expect(src.reads).toBe(3);
    expect(src.starts[2]! - t0).toBeGreaterThanOrEqual(250);
  });

  it('a miss answered by a read that began after it does not read again', async () => {
    const src = new CountingSource();
    const cache = new ShareListCache(src, { ttlMs: 0 });
    expect(await settle(Promise.all([cache.lookup('x'), cache.lookup('y'), cache.list()]))).toHaveLength(3);
    expect(src.reads).toBe(1);
  });

  it('hits cost no read within the TTL, one after it', async () => {
    const src = new CountingSource();
    const cache = new ShareListCache(src, { ttlMs: 5000 });
    for (let i = 0; i < 10; i++) await settle(cache.lookup('data'));
    expect(src.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    await settle(cache.lookup('data'));
    expect(src.reads).toBe(2);
  });

  it('a failing re-read leaves the name unknown; it does not throw, and known names still answer', async () => {
    const src = new CountingSource();
    const cache = new ShareListCache(src, { ttlMs: 60_000 });
    await settle(cache.list());
    src.fail = true;
    expect(await settle(cache.lookup('unknown'))).toBeUndefined();
    expect(src.reads).toBe(2);
    expect(await settle(cache.lookup('data'))).toMatchObject({ name: 'Data' });
  });

  it('a failing first read is reported to the caller', async () => {
    const src = new CountingSource();
    src.fail = true;
    const cache = new ShareListCache(src);
    await expect(settle(cache.lookup('data'))).rejects.toThrow(/testparm failed/);
  });
});
