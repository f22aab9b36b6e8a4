/**
 * The Message Sequence Timer (MS-FSRVP 3.1.2; FSRVP.md §6.1): one global timer, 180 s or
 * 1800 s depending on the last operation. A configured override (Samba's `fss: sequence
 * timeout`, in seconds) replaces every value; 0 disables the timer.
 *
 * Time comes from an injectable scheduler so tests can drive it without sleeping.
 */
import createDebug from 'debug';

const debug = createDebug('fsrvp:timer');

export const SHORT_TIMEOUT_MS = 180_000;
export const LONG_TIMEOUT_MS = 1_800_000;
/** Node timers overflow above 2^31-1 ms. */
const MAX_TIMER_MS = 0x7fffffff;

export type TimerHandle = unknown;

/** What the service needs from a clock: one-shot timers. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Node's timers; unref'd so a pending sequence timer never keeps a process alive by itself.
 * Node fires a delay above 2^31-1 ms after 1 ms: a client's TimeOutInMilliseconds of 0xA0000000
 * must not time out at once, so longer delays are clamped to the longest Node can wait (24.8 days).
 */
export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export type TimerLength = 'short' | 'long';

/** One arming of the timer. `setId` undefined means "every set still in creation". */
export interface Armed {
  readonly length: TimerLength;
  readonly ms: number;
  readonly setId: string | undefined;
  readonly generation: number;
}

/** Key of the arming not tied to a set. */
const ALL = '';

/**
 * The message sequence timer. In `single` mode (MS-FSRVP as written, strict) there is one timer:
 * every arming replaces the last one. In `per-set` mode (the default, Samba-compatible) each set
 * has its own arming and one more covers "every set in creation" (SetContext, start-up): an
 * operation on one set re-arms or stops only that set's arming, so a set still in creation
 * expires on time whatever is done to other sets. Samba 4.17 keeps a single timer there, and a
 * GetShareMapping or RecoveryComplete on an Exposed set silently disarms a Started one, which then
 * blocks every later StartShadowCopySet; we do not copy that.
 */
export class SequenceTimer {
  private readonly running = new Map<string, { armed: Armed; handle: TimerHandle }>();
  /** The generation of each key's last arm/stop: an expiry is due only while it is unchanged. */
  private readonly generations = new Map<string, number>();
  private generation = 0;

  /**
   * @param overrideSeconds one value for every arming (may be fractional); 0 disables.
   * @param onExpire called from the scheduler when an arming runs out.
   * @param mode 'single' (one global timer) or 'per-set'.
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly overrideSeconds: number | undefined,
    private readonly onExpire: (armed: Armed) => void,
    private readonly mode: 'single' | 'per-set' = 'single',
  ) {}

  /** Milliseconds an arming of `length` lasts (0: the timer is disabled). */
  durationOf(length: TimerLength): number {
    if (this.overrideSeconds !== undefined) return Math.min(MAX_TIMER_MS, Math.max(0, Math.round(this.overrideSeconds * 1000)));
    return length === 'short' ? SHORT_TIMEOUT_MS : LONG_TIMEOUT_MS;
  }

  private keyOf(setId: string | undefined): string {
    return this.mode === 'single' ? ALL : (setId ?? ALL);
  }

  /** Starts (or restarts) the arming for `setId`; in single mode, the one timer. */
  arm(length: TimerLength, setId: string | undefined): void {
    const key = this.keyOf(setId);
    this.stop(setId);
    const ms = this.durationOf(length);
    if (ms === 0) return;
    const armed: Armed = { length, ms, setId, generation: this.generations.get(key) ?? 0 };
    const handle = this.scheduler.setTimeout(() => this.fire(key, armed), ms);
    this.running.set(key, { armed, handle });
    debug('armed %s (%d ms) for %s', length, ms, setId ?? 'all sets in creation');
  }

  /** Stops the arming for `setId` (in single mode: the timer, whatever it was armed for). */
  stop(setId?: string): void {
    this.stopKey(this.keyOf(setId));
  }

  /** Stops every arming (shutdown). */
  stopAll(): void {
    for (const key of [...this.running.keys()]) this.stopKey(key);
  }

  private stopKey(key: string): void {
    this.generations.set(key, ++this.generation);
    const r = this.running.get(key);
    if (r !== undefined) this.scheduler.clearTimeout(r.handle);
    this.running.delete(key);
  }

  /** The most recently started arming still running, if any. */
  current(): Armed | undefined {
    let last: Armed | undefined;
    for (const r of this.running.values()) last = r.armed;
    return last;
  }

  /** Every running arming, oldest first. */
  armings(): Armed[] {
    return [...this.running.values()].map((r) => r.armed);
  }

  /**
   * True when no arming was started or stopped anywhere since `armed` was started: the expiry
   * is the one a single global timer would have had. An older arming of one set running out while
   * another set was touched since must not reset the context the client is using.
   */
  isLatest(armed: Armed): boolean {
    return armed.generation === this.generation;
  }

  /** True while nothing re-armed or stopped that arming since `armed` fired (expiry still due). */
  stillExpired(armed: Armed): boolean {
    const key = this.keyOf(armed.setId);
    return (this.generations.get(key) ?? 0) === armed.generation && !this.running.has(key);
  }

  private fire(key: string, armed: Armed): void {
    if (this.running.get(key)?.armed !== armed) return;
    this.running.delete(key);
    debug('expired: %s arming for %s', armed.length, armed.setId ?? 'all sets in creation');
    this.onExpire(armed);
  }
}
