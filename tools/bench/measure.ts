/** Measurement helpers for the benchmark scripts: rates over a fixed wall-clock budget. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What benchmark shares hold: 64 KiB of data. */
export async function benchSeed(sharePath: string): Promise<void> {
  await writeFile(join(sharePath, 'data.bin'), Buffer.alloc(64 * 1024, 7));
}

export interface Rate {
  label: string;
  ops: number;
  seconds: number;
  perSecond: number;
  /** Rates of the time slices, when measured in slices (slicedRate); perSecond is then their median. */
  slices?: number[];
}

/**
 * Runs `fn` repeatedly for about `seconds` after a warm-up (default: a short one, at most 0.3 s)
 * and returns its rate.
 */
export async function rate(
  label: string, fn: () => unknown | Promise<unknown>, seconds = 1.5, batch = 100, warmupMs = Math.min(300, seconds * 200),
): Promise<Rate> {
  const warm = Date.now() + warmupMs;
  while (Date.now() < warm) for (let i = 0; i < batch; i++) await fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) await fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { label, ops, seconds: secs, perSecond: ops / secs };
}

/** Synchronous variant: no await per call, for CPU-bound codecs. */
export function rateSync(label: string, fn: () => unknown, seconds = 1.5, batch = 1000): Rate {
  const warm = Date.now() + Math.min(300, seconds * 200);
  while (Date.now() < warm) for (let i = 0; i < batch; i++) fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { label, ops, seconds: secs, perSecond: ops / secs };
}

/**
 * Like `rate`, but the measuring time is cut into slices of `sliceMs` and the rate is the
 * median of the slice rates: a burst of outside load (another job on a shared two-core machine)
 * then shifts a few slices, not the figure. The slices are kept for printing the spread.
 */
export async function slicedRate(
  label: string, fn: () => Promise<unknown>, seconds: number, sliceMs: number, warmupMs: number,
): Promise<Rate> {
  const warm = Date.now() + warmupMs;
  while (Date.now() < warm) await fn();
  const slices: number[] = [];
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < sliceMs) {
      await fn();
      n++;
    }
    slices.push(n / ((performance.now() - t0) / 1000));
    ops += n;
  }
  const sorted = [...slices].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { label, ops, seconds: (performance.now() - start) / 1000, perSecond: median, slices };
}

const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

/** Prints a measured rate and, when given, its ratio to a reference measured in the same run. */
export function report(r: Rate, reference?: Rate): void {
  const ratio = reference ? `  ratio ${(r.perSecond / reference.perSecond).toFixed(2)} vs ${reference.label}` : '';
  console.log(`${r.label.padEnd(58)} ${fmt(r.perSecond).padStart(12)} /s${ratio}`);
  if (r.slices && r.slices.length > 1) {
    const s = [...r.slices].sort((a, b) => a - b);
    const per = r.seconds / s.length;
    const each = per >= 0.1 ? `${per.toFixed(1)} s` : `${(per * 1000).toFixed(1)} ms`;
    console.log(`   (median of ${s.length} slices of ${each}; slices ranged ${fmt(s[0]!)}–${fmt(s[s.length - 1]!)} /s)`);
  }
}

/** The median of per-round rates, as one Rate whose slices are the rounds. */
export function medianRate(label: string, rounds: Rate[]): Rate {
  const s = rounds.map((r) => r.perSecond).sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return {
    label, ops: rounds.reduce((n, r) => n + r.ops, 0), seconds: rounds.reduce((n, r) => n + r.seconds, 0), perSecond: mid,
    slices: rounds.map((r) => r.perSecond),
  };
}

/**
 * Rounds of a protected-against-unprotected cycle figure, one cycle per client each. A cycle lasts
 * tens of milliseconds and its btrfs and registry work varies far more than the protection costs;
 * single cycles taken in turn meet the same filesystem moments, so their medians compare the
 * protection rather than the moments.
 */
export const CYCLE_ROUNDS = 41;

/** A measuring time for `rate` that ends after the first batch: with batch 1, one call. */
export const ONE_BATCH = 1e-6;

/**
 * Runs every measurement once to warm it (JIT, caches, credits; not counted), then `roundCount` times,
 * rotating which goes first, and takes medians.
 */
export async function interleaved(roundCount: number, entries: Array<{ label: string; run: (label: string) => Promise<Rate> }>): Promise<Rate[]> {
  for (const e of entries) await e.run(`${e.label} (warm-up)`);
  const rounds: Rate[][] = entries.map(() => []);
  for (let round = 0; round < roundCount; round++) {
    for (let k = 0; k < entries.length; k++) {
      const i = (k + round) % entries.length;
      const e = entries[i]!;
      rounds[i]!.push(await e.run(e.label));
    }
  }
  return entries.map((e, i) => medianRate(e.label, rounds[i]!));
}
