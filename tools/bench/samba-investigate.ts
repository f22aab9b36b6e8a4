/**
 * Where our agent's time goes behind smbd, and what-if runs: the agent as configured with its
 * time broken down by the probe, then variants that patch the live agent in memory for one run
 * each (restored after it) to show what a change would gain.
 */
import type { Agent } from '../../src/cli/agent.js';
import { SambaRegistryPublisher } from '../../src/shares/samba.js';
import type { SambaHarness } from '../lib/samba-harness.js';
import { rate, type Rate } from './measure.js';
import { patchMethod, startProbe, type Probe, type Timing } from './samba-probe.js';
import { close, cycle, CYCLE_WARMUP_MS, open } from './samba-run.js';

const ms = (n: number): string => n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);

function perCycleLine(label: string, t: Timing, cycles: number): string {
  return `    ${label.padEnd(40)} ${(t.count / cycles).toFixed(2).padStart(6)} /cycle ${ms(t.totalMs / t.count).padStart(8)} ms each ${ms(t.totalMs / cycles).padStart(8)} ms/cycle`;
}

interface Variant {
  readonly label: string;
  readonly patches: ReadonlyArray<() => () => void>;
}

/** Caches an async method's results by its arguments (what-if runs only). */
function memo(fn: (...a: unknown[]) => Promise<unknown>): (...a: unknown[]) => Promise<unknown> {
  const cache = new Map<string, Promise<unknown>>();
  return function cached(this: unknown, ...a: unknown[]): Promise<unknown> {
    const key = JSON.stringify(a);
    let v = cache.get(key);
    if (!v) cache.set(key, (v = fn.apply(this, a)));
    return v;
  };
}

/**
 * Probe and what-if runs on the live agent (when our cycle rate is below the goal): the first
 * variant is the agent as configured, with its time broken down; each what-if patches the live
 * agent in memory for its run and is restored after it.
 */
export async function investigate(h: SambaHarness, agent: Agent, seconds: number): Promise<string[]> {
  const lines: string[] = [];
  const budget = Math.min(seconds, 3);
  const pub = agent.parts.publisher;
  const variants: Variant[] = [{ label: 'as configured (probe on)', patches: [] }];
  if (pub instanceof SambaRegistryPublisher) {
    variants.push({
      label: 'what-if: base share definition + SD cached (no testparm/sharesec)',
      patches: [() => patchMethod(pub, 'baseDefinition', memo), () => patchMethod(pub, 'securityDescriptor', memo)],
    });
    variants.push({ label: 'what-if: no smbcontrol close-share on unpublish', patches: [() => patchMethod(pub, 'signalSmbd', () => async () => undefined)] });
  }
  variants.push({
    label: 'what-if: publisher does nothing (NOT valid: shares unseen)',
    patches: ['publish', 'setReadOnly', 'unpublish'].map((m) => () => patchMethod(pub, m, () => async () => undefined)),
  });
  const s = open(h);
  try {
    // A fresh in-process agent: warm it up, or the first variant is measured cold and every
    // what-if after it looks better than it is.
    await rate('warm-up', () => cycle(s), CYCLE_WARMUP_MS / 1000, 5, 0);
    let baseline: number | undefined;
    for (const v of variants) {
      const undo: Array<() => void> = [];
      let probe: Probe | undefined;
      let r: Rate;
      let n = 0;
      try {
        for (const patch of v.patches) undo.push(patch());
      } catch (e) {
        for (const u of undo.reverse()) u();
        lines.push(`    ${v.label}: skipped (${(e as Error).message})`);
        continue;
      }
      try {
        probe = await startProbe(agent);
        r = await rate(v.label, async () => {
          await cycle(s);
          n++;
        }, budget, 5);
      } finally {
        probe?.stop();
        for (const u of undo.reverse()) u();
      }
      const p = probe as Probe;
      baseline ??= r.perSecond;
      const each = (k: string): string => {
        const t = p.calls.get(k);
        return t ? `${ms(t.totalMs / t.count)} ms` : '-';
      };
      if (v.patches.length === 0) {
        lines.push(`  probe: ${n} cycles (${ms(1000 / r.perSecond)} ms per cycle as the client sees it); inside our agent, wall time per call (parallel calls overlap):`);
        for (const [k, t] of [...p.calls].sort((a, b) => b[1].totalMs - a[1].totalMs)) lines.push(perCycleLine(k, t, n));
        lines.push('  external tools the agent ran (their fsrvp:exec durations):');
        for (const [k, t] of [...p.tools].sort((a, b) => b[1].totalMs - a[1].totalMs)) lines.push(perCycleLine(k, t, n));
        lines.push('  what-if runs on the same live agent, one after the other (x = vs the first line; noise ±10-25 %):');
      }
      lines.push(`    ${v.label.padEnd(66)} ${r.perSecond.toFixed(2).padStart(7)} /s  x${(r.perSecond / baseline).toFixed(2)}  publish ${each('publisher.publish')}, unpublish ${each('publisher.unpublish')}`);
    }
  } finally {
    await close(s);
  }
  return lines;
}
