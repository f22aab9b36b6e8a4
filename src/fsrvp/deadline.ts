/**
 * Runs backend or publisher work under the client's TimeOutInMilliseconds. The work receives an
 * AbortSignal and must undo what it did when the signal fires; `withDeadline` waits (up to a
 * grace period) for it to finish undoing before it reports the timeout, so a reply never races
 * a half-done operation.
 */
import type { Scheduler } from './timer.js';

export type DeadlineOutcome<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'timeout'; readonly settled: boolean }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * @param timeoutMs 0 means no limit (clients send a positive value; 0 is read as "wait").
 * @param graceMs how long to wait for aborted work to wind down before replying anyway.
 */
export async function withDeadline<T>(
  scheduler: Scheduler,
  timeoutMs: number,
  graceMs: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<DeadlineOutcome<T>> {
  const ac = new AbortController();
  const settled: Promise<DeadlineOutcome<T>> = work(ac.signal).then(
    (value) => ({ kind: 'ok', value }),
    (error: unknown) => ({ kind: 'error', error }),
  );
  if (timeoutMs <= 0) return settled;
  let timer: unknown;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = scheduler.setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([settled, expired]);
  scheduler.clearTimeout(timer);
  if (first !== 'timeout') return first;
  ac.abort(new DeadlineExceeded(timeoutMs));
  let graceTimer: unknown;
  const grace = new Promise<'grace'>((resolve) => {
    graceTimer = scheduler.setTimeout(() => resolve('grace'), graceMs);
  });
  const after = await Promise.race([settled, grace]);
  scheduler.clearTimeout(graceTimer);
  return { kind: 'timeout', settled: after !== 'grace' };
}

export class DeadlineExceeded extends Error {
  constructor(readonly timeoutMs: number) {
    super(`operation exceeded the client's timeout of ${timeoutMs} ms`);
    this.name = 'DeadlineExceeded';
  }
}
