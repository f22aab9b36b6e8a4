/**
 * The fastest full cycle an FSRVP server could run on this machine, smbd and filesystem: a bound
 * that says which full-cycle ratios are reachable at all.
 *
 * Both figures are the real cycle, through the same smbd and rpcclient session, against our live
 * agent with parts of it patched out in memory (restored afterwards):
 *  - protocol floor: every storage, share and journal-fsync step does nothing. What remains is
 *    rpcclient, smbd, the pipe and the RPC layers.
 *  - bare-work floor: the same, except that the work a reply must wait for is done with the
 *    cheapest calls we have and nothing around them:
 *    - Commit takes one read-only btrfs snapshot (the ioctl, through the helper process);
 *    - Expose creates one registry share from the base share's definition, which is read once
 *      beforehand (Samba's smbconf library, through the helper);
 *    - DeleteShareMapping deletes that share.
 *    The snapshot's deletion is started but not waited for, since a server may finish it after
 *    replying. Nothing is fsync'd and no tree is checked.
 * The storage calls are timed inside the cycle rather than alone. Alone, back to back, a snapshot
 * takes about half as long as it does between protocol round trips, so timing them alone would
 * understate the floor. Samba's rpcd_fsrvp does all of this work, and more.
 */
import { join } from 'node:path';
import type { Agent } from '../../src/cli/agent.js';
import type { PublishRequest } from '../../src/shares/types.js';
import { SambaRegistryPublisher } from '../../src/shares/samba.js';
import { SmbConfHelper } from '../../src/shares/samba-helper.js';
import type { SnapshotRef, Volume } from '../../src/storage/backend.js';
import { BtrfsIoctl } from '../../src/storage/btrfs-ioctl.js';
import { SHARE, type SambaHarness } from '../lib/samba-harness.js';
import { rate } from './measure.js';
import { fileHandlePrototype, patchMethod } from './samba-probe.js';
import { close, cycle, open } from './samba-run.js';

export interface Floor {
  /** ms per cycle with every storage, share and fsync step doing nothing. */
  readonly protocolMs: number;
  /** ms per cycle doing only the snapshot and the registry share create/delete. */
  readonly bareMs: number;
  /** Mean ms of each bare step inside those cycles. */
  readonly steps: { readonly snapshot: number; readonly shareCreate: number; readonly shareDelete: number };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

async function timed<T>(into: number[], p: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await p();
  } finally {
    into.push(performance.now() - t0);
  }
}

type Steps = {
  create(volume: Volume, n: number): Promise<SnapshotRef>;
  delete(ref: SnapshotRef): Promise<void>;
  publish(req: PublishRequest): Promise<void>;
  unpublish(name: string): Promise<void>;
};

/** The cycle rate (as ms per cycle) with the agent's steps replaced by `steps` and journal fsyncs off. */
async function patchedCycleMs(h: SambaHarness, agent: Agent, seconds: number, label: string, steps: Steps): Promise<number> {
  const undo: Array<() => void> = [];
  const noop = (): (() => Promise<undefined>) => async () => undefined;
  try {
    const pub = agent.parts.publisher;
    undo.push(patchMethod(pub, 'publish', () => async (...a: unknown[]) => steps.publish(a[0] as PublishRequest)));
    undo.push(patchMethod(pub, 'unpublish', () => async (...a: unknown[]) => steps.unpublish(a[0] as string)));
    undo.push(patchMethod(pub, 'setReadOnly', noop));
    for (const b of agent.parts.backends) {
      for (const m of ['check', 'setReadOnly']) undo.push(patchMethod(b, m, noop));
      let n = 0;
      undo.push(patchMethod(b, 'create', () => async (...a: unknown[]) => ({ ...(await steps.create(a[0] as Volume, ++n)), backend: b.name })));
      undo.push(patchMethod(b, 'delete', () => async (...a: unknown[]) => steps.delete(a[0] as SnapshotRef)));
    }
    undo.push(patchMethod(await fileHandlePrototype(agent), 'datasync', noop));
    const s = open(h);
    try {
      return 1000 / (await rate(label, () => cycle(s), Math.min(seconds, 3), 5)).perSecond;
    } finally {
      await close(s);
    }
  } finally {
    for (const u of undo.reverse()) u();
  }
}

function ref(volume: Volume, path: string, name: string): SnapshotRef {
  return { backend: '', volumeId: volume.id, path, name, writable: false, createdAt: Math.floor(Date.now() / 1000) };
}

/** Measures both floors on the agent-mode harness `h`, whose agent is `agent` (in this process). */
export async function measureFloor(h: SambaHarness, agent: Agent, seconds: number): Promise<Floor> {
  const protocolMs = await patchedCycleMs(h, agent, seconds, 'protocol floor', {
    create: async (volume, n) => ref(volume, join(volume.root, `null-${n}`), `null-${n}`),
    delete: async () => undefined,
    publish: async () => undefined,
    unpublish: async () => undefined,
  });

  const io = new BtrfsIoctl({ timeoutMs: 30_000 });
  const helper = new SmbConfHelper({ configFile: h.conf });
  const pub = new SambaRegistryPublisher({ configFile: h.conf });
  const deletions = new Set<Promise<void>>();
  const t = { snapshot: [] as number[], shareCreate: [] as number[], shareDelete: [] as number[] };
  try {
    const base = await pub.baseDefinition(SHARE);
    const tag = `floor-${process.pid}-${Date.now()}`;
    const bareMs = await patchedCycleMs(h, agent, seconds, 'bare-work floor', {
      async create(volume, n) {
        const path = join(h.snapshotDir, `${tag}-${n}`);
        await timed(t.snapshot, () => io.snapshot(volume.root, path, true));
        return ref(volume, path, `${tag}-${n}`);
      },
      async delete(r) {
        const d = io.destroy(r.path).finally(() => deletions.delete(d));
        deletions.add(d);
      },
      publish: (req) => timed(t.shareCreate, () => helper.shareCreate(req.name, SambaRegistryPublisher.cloneDefinition(base, req).params)).then(() => undefined),
      unpublish: (name) => timed(t.shareDelete, () => helper.shareDelete(name)).then(() => undefined),
    });
    return { protocolMs, bareMs, steps: { snapshot: mean(t.snapshot), shareCreate: mean(t.shareCreate), shareDelete: mean(t.shareDelete) } };
  } finally {
    await Promise.allSettled([...deletions]);
    await Promise.allSettled([io.close(), helper.close(), pub.close()]);
  }
}

/** The floors as printed lines, with the highest ratio any server could reach against `sambaCycleMs`. */
export function floorLines(f: Floor, sambaCycleMs: number, goal: number): string[] {
  const line = (label: string, v: number): string => `    ${label.padEnd(72)} ${v.toFixed(2).padStart(6)} ms/cycle`;
  const best = sambaCycleMs / f.bareMs;
  return [
    '  floors: the same cycle on the same live agent with parts patched out (see tools/bench/samba-floor.ts):',
    line('protocol floor: every storage, share and fsync step a no-op', f.protocolMs),
    line('bare-work floor: only the snapshot ioctl and the registry share create/delete', f.bareMs),
    `      (mean inside those cycles: snapshot ${f.steps.snapshot.toFixed(2)} ms, share create ${f.steps.shareCreate.toFixed(2)} ms,`
      + ` share delete ${f.steps.shareDelete.toFixed(2)} ms)`,
    `  Samba's cycle took ${sambaCycleMs.toFixed(2)} ms, so a server doing nothing but that work would reach a full-cycle ratio of`
      + ` ${best.toFixed(2)} (goal ${goal.toFixed(1)}${best < goal ? ': out of reach for any server on this machine' : ''}).`,
  ];
}
