/**
 * A cached list of shares with a bounded second look for unknown names.
 *
 * The list is read from a ShareSource (testparm, `net conf list`, …) and kept for `ttlMs`. A name
 * the list does not know is not refused on the cached list alone: the share may have been added
 * a moment ago (`net conf addshare`, then AddToShadowCopySet at once). It is refused only when a
 * read that STARTED AFTER the lookup began does not know it either, so a share added before the
 * request is always found.
 *
 * Those forced reads are bounded so that a flood of bad names costs nothing much:
 * - coalesced: every miss that arrives before the next forced read starts waits for that one read;
 * - rate-limited: forced reads start at least `relookupMs` apart. A miss inside the window waits
 *   (at most `relookupMs`) for the read at the window's end rather than starting its own.
 * So misses cost at most one read per `relookupMs`, whatever their number, and there is never
 * more than one forced read waiting. Reads never overlap: a forced read waits for one in flight.
 * A forced read that fails answers the miss from the cached list (the name stays unknown).
 */
import createDebug from 'debug';
import type { Share } from './types.js';

const debug = createDebug('fsrvp:shares');

/** Where the share list comes from: one call, one full read. */
export interface ShareSource {
  read(): Promise<readonly Share[]>;
}

export interface ShareListCacheOptions {
  /** How long a read stays fresh, ms (default 5000; 0 = read for every call). */
  readonly ttlMs?: number;
  /** Least time between two reads forced by unknown names, ms (default 250). */
  readonly relookupMs?: number;
  /** The key of a share name (default: lower case, as Samba compares share names). */
  readonly keyOf?: (name: string) => string;
}

interface Snapshot {
  readonly shares: ReadonlyMap<string, Share>;
  /** When the read that produced it started (Date.now()). */
  readonly startedAt: number;
}

export class ShareListCache {
  private cache: Snapshot | undefined;
  private running: Promise<Snapshot> | undefined;
  /** A forced read scheduled and not started yet: the misses arriving meanwhile share it. */
  private forced: Promise<Snapshot> | undefined;
  private lastForcedStart = Number.NEGATIVE_INFINITY;
  private readonly ttlMs: number;
  private readonly relookupMs: number;
  private readonly keyOf: (name: string) => string;

  constructor(private readonly source: ShareSource, options: ShareListCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.relookupMs = options.relookupMs ?? 250;
    this.keyOf = options.keyOf ?? ((n) => n.toLowerCase());
  }

  /** The share of that name: from the cached list, or from a read started after this call when the list does not know it. */
  async lookup(name: string): Promise<Share | undefined> {
    const key = this.keyOf(name);
    const askedAt = Date.now();
    const snap = await this.current();
    const hit = snap.shares.get(key);
    if (hit || snap.startedAt >= askedAt) return hit;
    try {
      return (await this.fresh(askedAt)).shares.get(key);
    } catch (e) {
      debug('looking %s up again failed: %s', name, (e as Error).message);
      return (this.cache ?? snap).shares.get(key);
    }
  }

  async list(): Promise<Share[]> {
    return [...(await this.current()).shares.values()];
  }

  /** Reads the list now (after a read in flight), whatever its age. */
  async refresh(): Promise<Share[]> {
    await this.running?.catch(() => undefined);
    return [...(await this.readNow()).shares.values()];
  }

  /** The cached list while fresh, else the read in flight, else a new read. */
  private current(): Promise<Snapshot> {
    const c = this.cache;
    if (c && Date.now() - c.startedAt < this.ttlMs) return Promise.resolve(c);
    return this.running ?? this.readNow();
  }

  /** A read that starts at or after `askedAt`: the scheduled one, or one scheduled now. */
  private fresh(askedAt: number): Promise<Snapshot> {
    if (this.forced) return this.forced;
    const wait = Math.max(0, this.lastForcedStart + this.relookupMs - askedAt);
    const forced = (async () => {
      await (wait > 0 ? new Promise((r) => setTimeout(r, wait)) : undefined); // (always yields: `forced` is set first)
      // Reads never overlap; one in flight started before this miss, so it does not count.
      while (this.running) await this.running.catch(() => undefined);
      this.forced = undefined;
      this.lastForcedStart = Date.now();
      return this.readNow();
    })();
    this.forced = forced;
    return forced;
  }

  private readNow(): Promise<Snapshot> {
    const startedAt = Date.now();
    const run: Promise<Snapshot> = Promise.resolve()
      .then(() => this.source.read())
      .then((list) => {
        const shares = new Map<string, Share>();
        for (const s of list) shares.set(this.keyOf(s.name), s);
        const snap = { shares, startedAt };
        if (!this.cache || this.cache.startedAt <= startedAt) this.cache = snap;
        debug('read %d shares', shares.size);
        return snap;
      })
      .finally(() => {
        if (this.running === run) this.running = undefined;
      });
    this.running = run;
    return run;
  }
}
