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

/** Node's timers; unref'd so a pending sequence timer never keeps a process alive by itself. */
export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
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

export class SequenceTimer {
  private handle: TimerHandle | undefined;
  private armed: Armed | undefined;
  private generation = 0;

  /**
   * @param overrideSeconds one value for every arming (may be fractional); 0 disables.
   * @param onExpire called from the scheduler when an arming runs out.
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly overrideSeconds: number | undefined,
    private readonly onExpire: (armed: Armed) => void,
  ) {}

  /** Milliseconds an arming of `length` lasts (0: the timer is disabled). */
  durationOf(length: TimerLength): number {
    if (this.overrideSeconds !== undefined) return Math.min(MAX_TIMER_MS, Math.max(0, Math.round(this.overrideSeconds * 1000)));
    return length === 'short' ? SHORT_TIMEOUT_MS : LONG_TIMEOUT_MS;
  }

  /** Stops any running timer and starts a new one for `setId`. */
  arm(length: TimerLength, setId: string | undefined): void {
    this.stop();
    const ms = this.durationOf(length);
    if (ms === 0) return;
    const armed: Armed = { length, ms, setId, generation: this.generation };
    this.armed = armed;
    this.handle = this.scheduler.setTimeout(() => this.fire(armed), ms);
    debug('armed %s (%d ms) for %s', length, ms, setId ?? 'all sets in creation');
  }

  stop(): void {
    this.generation++;
    if (this.handle !== undefined) this.scheduler.clearTimeout(this.handle);
    this.handle = undefined;
    this.armed = undefined;
  }

  /** The running arming, if any. */
  current(): Armed | undefined {
    return this.armed;
  }

  /** True while nothing re-armed or stopped the timer since `armed` fired (expiry still due). */
  stillExpired(armed: Armed): boolean {
    return armed.generation === this.generation && this.armed === undefined;
  }

  private fire(armed: Armed): void {
    if (armed !== this.armed) return;
    this.handle = undefined;
    this.armed = undefined;
    debug('expired: %s arming for %s', armed.length, armed.setId ?? 'all sets in creation');
    this.onExpire(armed);
  }
}
