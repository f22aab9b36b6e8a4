/**
 * The authenticator replay cache (RFC 4120 §3.2.3): an authenticator (client principal, server
 * principal, ctime, cusec) seen once is refused for as long as its ctime could still pass the
 * clock-skew check. Process-wide and bounded: entries expire once ctime + skew is in the past,
 * and when the cache is full the oldest entries go first (an authenticator evicted early is
 * still refused by the skew check once its window closes; the bound only matters under a flood).
 */

export class ReplayCache {
  /** key → the time (ms) after which the entry may be forgotten; insertion order = age. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 100_000) {}

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [k, until] of this.seen) {
      if (until > now) continue;
      this.seen.delete(k);
    }
  }

  /**
   * Records the authenticator; false when it was already there (a replay). `expiresAt` is
   * ctime + skew in ms.
   */
  check(key: string, expiresAt: number, now: number): boolean {
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxEntries) this.sweep(now);
    while (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done === true) break;
      this.seen.delete(oldest.value);
    }
    this.seen.delete(key);
    this.seen.set(key, expiresAt);
    return true;
  }

  clear(): void {
    this.seen.clear();
  }
}

/** The one cache every Kerberos acceptor in this process shares. */
export const processReplayCache = new ReplayCache();

export const replayKey = (client: string, server: string, ctimeMs: number, cusec: number): string => `${client}\u0000${server}\u0000${ctimeMs}\u0000${cusec}`;
