/**
 * Walk once per share per shadow copy set. The directory-structure check (policy.ts) runs on
 * IsPathSupported, AddToShadowCopySet and PrepareShadowCopySet; on a big tree each walk costs
 * seconds. An accepted check is remembered:
 *
 * - for a set (Add, Prepare): until the set ends (`endSet`: deleted, aborted, expired,
 *   committed or recovered — no check of it follows), or the tree's top changes;
 * - without a set (IsPathSupported): for `recentMs` (default 10 s), or until the top changes.
 *   Add takes such a recent result over for its set (the usual IsPathSupported → Add → Prepare
 *   sequence walks once).
 *
 * "The tree's top" is the share root's device, inode, mtime and ctime (an entry added, removed
 * or renamed in the root; the root replaced) and the mount table (a mount anywhere): what can be
 * checked in one stat. A change deeper down is seen at the next walk only; the snapshot is taken
 * of the tree as it is then. Refusals are never cached: a fixed tree is accepted at the next call.
 * Bounded: at most `maxEntries` results (oldest dropped first).
 */
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Refusal } from './backend.js';
import { isKnownLocal, readMounts } from './mounts.js';

export interface PolicyCacheOptions {
  /** Results kept at most (default 256). */
  readonly maxEntries?: number;
  /** How long a result without a set stays usable, ms (default 10,000). */
  readonly recentMs?: number;
  /** Clock, ms (default Date.now). */
  readonly now?: () => number;
  /** The signature of the tree's top (default: root stat + mount table generation). */
  readonly signature?: (path: string) => Promise<string>;
}

export interface CheckKey {
  readonly backend: string;
  readonly path: string;
  /** The policy the check ran with (policyKey). */
  readonly policy: string;
}

interface Entry {
  readonly sig: string;
  readonly at: number;
}

const mountGenerations = new WeakMap<object, number>();
let nextGeneration = 1;

/**
 * The root's device, inode, mtime and ctime, and the mount table's generation. The stat is
 * synchronous for a path a recent statfs found local (mounts.ts fsTypeOf), as the backends'
 * checks on Add and Prepare do.
 */
export async function treeTopSignature(path: string): Promise<string> {
  const [st, mounts] = await Promise.all([isKnownLocal(path) ? statSync(path) : stat(path), readMounts().catch(() => undefined)]);
  let gen = 0;
  if (mounts) {
    gen = mountGenerations.get(mounts) ?? nextGeneration++;
    mountGenerations.set(mounts, gen);
  }
  return `${st.dev}:${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${gen}`;
}

export class PolicyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;
  private readonly recentMs: number;
  private readonly now: () => number;
  private readonly signature: (path: string) => Promise<string>;
  /** Walks run (for tests and the debug log). */
  walks = 0;
  hits = 0;

  constructor(options: PolicyCacheOptions = {}) {
    this.max = options.maxEntries ?? 256;
    this.recentMs = options.recentMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.signature = options.signature ?? treeTopSignature;
  }

  get size(): number {
    return this.entries.size;
  }

  private static keyOf(k: CheckKey, setId: string | undefined): string {
    return `${setId === undefined ? '' : setId.toLowerCase()}\0${k.backend}\0${k.policy}\0${k.path}`;
  }

  /**
   * The check's result: remembered (same top signature) or from `run`. `setId` binds an
   * accepted result to a set; undefined is a recent-only result.
   */
  async check(k: CheckKey, setId: string | undefined, run: () => Promise<Refusal | undefined>): Promise<Refusal | undefined> {
    let sig: string | undefined;
    try {
      sig = await this.signature(k.path);
    } catch {
      sig = undefined; // the root is gone or unreadable: the check says why
    }
    const recentKey = PolicyCache.keyOf(k, undefined);
    if (sig !== undefined) {
      const own = setId === undefined ? undefined : this.entries.get(PolicyCache.keyOf(k, setId));
      const recent = this.entries.get(recentKey);
      const recentOk = recent !== undefined && recent.sig === sig && this.now() - recent.at <= this.recentMs;
      if ((own && own.sig === sig) || recentOk) {
        this.hits++;
        if (setId !== undefined && !(own && own.sig === sig)) this.put(PolicyCache.keyOf(k, setId), sig);
        return undefined;
      }
    }
    this.walks++;
    const result = await run();
    if (result !== undefined || sig === undefined) return result;
    this.put(recentKey, sig);
    if (setId !== undefined) this.put(PolicyCache.keyOf(k, setId), sig);
    return undefined;
  }

  private put(key: string, sig: string): void {
    this.entries.delete(key);
    this.entries.set(key, { sig, at: this.now() });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets every result bound to the set (it ended). */
  endSet(setId: string): void {
    const prefix = `${setId.toLowerCase()}\0`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
