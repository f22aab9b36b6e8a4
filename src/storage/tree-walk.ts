/**
 * The directory walk behind the directory-structure policy (policy.ts): visits every entry below
 * a share root once and stops at the first entry that breaks the rules.
 *
 * Cost per entry is what `find -printf '%y %n'` pays and no more: the directory listing gives
 * each entry's type (d_type), so only entries whose rules need more are stat'ed — regular files
 * when their link count matters, directories only when mount points or nested subvolumes are not
 * known from the mount table and the btrfs subvolume list, and entries of unknown type.
 *
 * On a local filesystem the walk lists each directory in one readdirSync call (half the cost of
 * opendir + a Dir.readSync per entry) and runs on synchronous calls (a few µs each instead of a
 * thread-pool round trip), yielding to the event loop every SLICE_MS so other connections are
 * served; past PARALLEL_AFTER entries it hands the directories still to list to walk processes
 * (tree-walk-parallel.ts), and the main thread only adds up their answers. Elsewhere it uses the
 * thread pool with a bounded number of stat calls in flight.
 * Memory: the stack of directories still to list, and the listing of one directory per thread.
 */
import type { Dir, Dirent, Stats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import createDebug from 'debug';
import { walkParallel, workersAvailable, WalkPool } from './tree-walk-parallel.js';
import {
  errnoOf, judge, listDir, needsStat, refusal, tooMany, visitEntry, SLICE_ENTRIES, SLICE_MS,
  type Pending, type PolicyRefusal, type WalkRules,
} from './tree-walk-rules.js';

export {
  BTRFS_SUBVOLUME_INO, MOUNT_POINT_REASON, SUBVOLUME_REASON, refusal,
  type PolicyRefusal, type RefusalKind, type WalkRules,
} from './tree-walk-rules.js';

/** A walk on the main thread starts walk processes after this many entries … */
export const START_WORKERS_AFTER = 4096;
/** … and hands over to them once they are up, and at least this many entries are walked. */
export const PARALLEL_AFTER = 4096;

const debug = createDebug('fsrvp:policy');
const DEFAULT_THREADS = Math.min(2, availableParallelism());

export interface WalkProgress {
  readonly root: string;
  readonly entries: number;
  readonly elapsedMs: number;
  /** Entries per second so far. */
  readonly rate: number;
}

export interface WalkControl {
  /** Synchronous calls (local filesystem) or the thread pool. */
  readonly sync: boolean;
  /** Called every `progressEntries` entries or `progressMs` ms, whichever comes first, and at the end of a long walk. */
  readonly progress?: (p: WalkProgress) => void;
  /** Default 100,000. */
  readonly progressEntries?: number;
  /** Default 2,000 ms. */
  readonly progressMs?: number;
  /** stat calls in flight on the thread pool (default 16). */
  readonly concurrency?: number;
  /**
   * Walk processes a long synchronous walk hands over to after PARALLEL_AFTER entries (default:
   * 2, or 1 on a single CPU; 0: the whole walk on the main thread).
   */
  readonly threads?: number;
}

export interface WalkResult {
  readonly refusal: PolicyRefusal | undefined;
  readonly entries: number;
  readonly rootEntries: number;
  readonly elapsedMs: number;
}

class Counter {
  entries = 0;
  rootEntries = 0;
  private readonly t0 = performance.now();
  private nextAt: number;
  private nextMs: number;
  private reported = false;
  constructor(private readonly root: string, private readonly c: WalkControl) {
    this.nextAt = c.progressEntries ?? 100_000;
    this.nextMs = this.t0 + (c.progressMs ?? 2000);
  }
  elapsed(): number {
    return performance.now() - this.t0;
  }
  /** Called every 256 entries (and at the end). */
  tick(final = false): void {
    const now = performance.now();
    if (!final && this.entries < this.nextAt && now < this.nextMs) return;
    if (final && !this.reported) return;
    this.reported = true;
    this.nextAt = this.entries + (this.c.progressEntries ?? 100_000);
    this.nextMs = now + (this.c.progressMs ?? 2000);
    const elapsedMs = now - this.t0;
    const rate = elapsedMs > 0 ? Math.round(this.entries / (elapsedMs / 1000)) : 0;
    debug('walk %s: %d entries in %d ms (%d entries/s)%s', this.root, this.entries, Math.round(elapsedMs), rate, final ? ', done' : '');
    this.c.progress?.({ root: this.root, entries: this.entries, elapsedMs, rate });
  }
}

/** Walks below `top` (a directory on device `rootDev`); returns the first refusal, if any. */
export async function walkTree(root: string, rootDev: number, rules: WalkRules, control: WalkControl): Promise<WalkResult> {
  const top = resolve(root); // walk processes change their current directory: absolute paths only
  const count = new Counter(top, control);
  const found = control.sync ? await walkSync(top, rootDev, rules, count, control.threads ?? DEFAULT_THREADS) : await walkAsync(top, rootDev, rules, count, control.concurrency ?? 16);
  count.tick(true);
  return { refusal: found, entries: count.entries, rootEntries: count.rootEntries, elapsedMs: count.elapsed() };
}

async function walkSync(top: string, rootDev: number, r: WalkRules, count: Counter, threads: number): Promise<PolicyRefusal | undefined> {
  const stack: Pending[] = [{ path: top, depth: 0 }];
  let sliceEnd = performance.now() + SLICE_MS;
  let pool: WalkPool | undefined;
  let handOver = threads > 0 && workersAvailable();
  try {
    while (stack.length > 0) {
      if (handOver && count.entries >= START_WORKERS_AFTER) {
        pool ??= new WalkPool(threads);
        if (pool.failed) handOver = false;
        else if (pool.ready && count.entries >= PARALLEL_AFTER) {
          handOver = false;
          const found = await walkParallel(top, stack, rootDev, r, count, pool);
          if (found !== 'unavailable') return found;
          if (stack.length === 0) return undefined;
        }
      }
      const { path: dirPath, depth } = stack.pop()!;
      const listed = listDir(dirPath, depth);
      if (listed === undefined) continue;
      if (!Array.isArray(listed)) return listed;
      const prefix = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
      if (depth === 0) count.rootEntries = listed.length;
      for (let i = 0; i < listed.length; i++) {
        const e = listed[i]!;
        if (++count.entries > r.maxEntries) return tooMany(dirPath, r.maxEntries);
        if ((count.entries & 255) === 0) {
          count.tick();
          if ((count.entries & (SLICE_ENTRIES - 1)) === 0 || performance.now() > sliceEnd) {
            await new Promise<void>((res) => setImmediate(res));
            sliceEnd = performance.now() + SLICE_MS;
          }
        }
        const path = prefix + e.name;
        const v = visitEntry(e, path, depth, rootDev, r);
        if (v === 'dir') stack.push({ path, depth: depth + 1 });
        else if (v !== undefined && v !== 'gone') return v;
      }
    }
    return undefined;
  } finally {
    pool?.close();
  }
}

async function walkAsync(top: string, rootDev: number, r: WalkRules, count: Counter, concurrency: number): Promise<PolicyRefusal | undefined> {
  const stack: Pending[] = [{ path: top, depth: 0 }];
  while (stack.length > 0) {
    const { path: dirPath, depth } = stack.pop()!;
    let dir: Dir;
    try {
      dir = await opendir(dirPath, { bufferSize: 256 });
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' && depth > 0) continue;
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    }
    const prefix = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
    // Entries that need a stat are stat'ed in batches of `concurrency`, in listing order.
    let batch: Array<{ path: string; entry: Dirent }> = [];
    const flush = async (): Promise<PolicyRefusal | undefined> => {
      const stats = await Promise.all(batch.map((b) => lstat(b.path).catch((err: unknown) => err as NodeJS.ErrnoException)));
      const items = batch;
      batch = [];
      for (let i = 0; i < items.length; i++) {
        const { path } = items[i]!;
        const st = stats[i]!;
        if (!(st instanceof Object && 'dev' in st)) {
          if (errnoOf(st) === 'ENOENT') continue;
          return refusal('unreadable', path, `cannot stat: ${errnoOf(st)}`);
        }
        const v = judge(path, st as Stats, st as Stats, depth, rootDev, r);
        if (v === 'dir') stack.push({ path, depth: depth + 1 });
        else if (v !== undefined) return v;
      }
      return undefined;
    };
    try {
      for (let e = await dir.read(); e !== null; e = await dir.read()) {
        if (depth === 0) count.rootEntries++;
        if (++count.entries > r.maxEntries) return tooMany(dirPath, r.maxEntries);
        if ((count.entries & 255) === 0) count.tick();
        const path = prefix + e.name;
        if (needsStat(e, r)) {
          batch.push({ path, entry: e });
          if (batch.length >= concurrency) {
            const v = await flush();
            if (v) return v;
          }
          continue;
        }
        const v = judge(path, e, undefined, depth, rootDev, r);
        if (v === 'dir') stack.push({ path, depth: depth + 1 });
        else if (v !== undefined) return v;
      }
      const v = await flush();
      if (v) return v;
    } catch (e) {
      return refusal('unreadable', dirPath, `cannot list the directory: ${errnoOf(e)}`);
    } finally {
      await dir.close().catch(() => undefined);
    }
  }
  return undefined;
}
