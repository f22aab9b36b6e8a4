/**
 * Agent start-up time with 10,000 persisted shadow copies: the journal is replayed, and
 * reconciliation lists the real snapshots and published shares and checks every record against
 * them. The fixture is real: 10,000 snapshots made by the reflink/copy backend of a small share,
 * 10,000 Recovered sets in the journal, 10,000 published snapshot shares. Reference measured in
 * the same run: start-up of the same agent with an empty state.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { unprotectTree } from '../../src/storage/protect.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { defaultConfig } from '../../src/cli/config.js';
import { startAgent } from '../../src/cli/agent.js';
import { CopyBackend } from '../../src/storage/copy.js';
import { StateStore } from '../../src/fsrvp/store.js';
import { filetimeFromMs, type ShadowCopySetState } from '../../src/fsrvp/state.js';
import { STANDALONE_FILE, type PublishedShare } from '../../src/shares/standalone.js';
import type { SnapshotRef } from '../../src/storage/backend.js';
import { progress } from '../lib/progress.js';

const COPIES = Number(process.env.FSRVP_BENCH_STARTUP_COPIES ?? 10_000);

async function timeStart(dir: string, runs: number): Promise<{ ms: number; repairs: number; sets: number }> {
  const times: number[] = [];
  let repairs = 0;
  let sets = 0;
  for (let i = 0; i < runs; i++) {
    const config = defaultConfig(dir);
    config.listen.tcp!.port = 0;
    const t0 = performance.now();
    const agent = await startAgent(config);
    times.push(performance.now() - t0);
    repairs = agent.service.reconcileReport.repairs.length;
    sets = agent.service.view().sets.length;
    await agent.close();
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)] as number, repairs, sets };
}

async function buildFixture(dir: string, n: number): Promise<void> {
  const config = defaultConfig(dir);
  const share = config.shares.static!.demo!;
  await mkdir(share.path, { recursive: true });
  await writeFile(join(share.path, 'a.txt'), 'x');
  // Same on-disk format as the agent's own backend; no xattr copy and write-bit protection keep
  // the fixture free of helper processes.
  const backend = new CopyBackend({ snapshotDir: config.storage.snapshotDir, xattrs: false, readOnly: 'mode-bits' });
  const volume = await backend.volumeOf(share.path);
  const store = await StateStore.open(config.stateDir, { fsync: false });
  const published: PublishedShare[] = [];
  const started = Date.now();
  const shown = progress();
  let done = 0;
  const one = async (): Promise<void> => {
    const copyId = randomUUID();
    const snap: SnapshotRef = await backend.create(volume, { shadowCopyId: copyId, writable: false });
    const exposedName = `demo@{${copyId}}`;
    const set: ShadowCopySetState = {
      id: randomUUID(),
      status: 'Recovered',
      context: 0,
      startedAt: snap.createdAt,
      copies: [{
        id: copyId, volume, creationTimestamp: filetimeFromMs(snap.createdAt).toString(), snapshot: snap,
        mappings: [{ shareNameUnc: '\\\\127.0.0.1\\demo\\', share: { name: 'demo', path: share.path, backend: 'copy' }, relPath: '', exposedName, exposed: true }],
      }],
    };
    await store.apply([{ t: 'set', set }]);
    published.push({ name: exposedName, path: snap.path, readOnly: true, base: 'demo', comment: `Shadow copy of demo`, publishedAt: snap.createdAt, backend: 'copy' });
    if (++done % 1000 === 0) shown.update(`fixture: ${done}/${n} shadow copies (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  };
  const queue = Array.from({ length: n }, (_, i) => i);
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (queue.pop() !== undefined) await one();
  }));
  await store.close();
  await writeFile(join(config.stateDir, STANDALONE_FILE), JSON.stringify({ version: 1, shares: published }));
  shown.end();
}

export async function benchStartup(): Promise<void> {
  // tmpfs keeps building the fixture (10,000 real snapshots, each fsync'd) to seconds; what is
  // measured is the agent's own start-up work: journal replay and reconciliation.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  console.log(`-- Start-up with ${COPIES.toLocaleString('en-US')} persisted shadow copies (reflink/copy backend, standalone publisher, files in ${base})`);
  const empty = await mkdtemp(join(base, 'fsrvp-start0-'));
  const full = await mkdtemp(join(base, 'fsrvp-start-'));
  try {
    const ref = await timeStart(empty, 3);
    await buildFixture(full, COPIES);
    const ours = await timeStart(full, 3);
    if (ours.sets !== COPIES || ours.repairs !== 0) {
      console.log(`  warning: loaded ${ours.sets} sets with ${ours.repairs} repairs (expected ${COPIES} and 0)`);
    }
    console.log(`${'start-up with an empty state (reference)'.padEnd(58)} ${ref.ms.toFixed(0).padStart(9)} ms`);
    console.log(`${`start-up with ${COPIES} shadow copies`.padEnd(58)} ${ours.ms.toFixed(0).padStart(9)} ms  ` +
      `(${(ours.ms / ref.ms).toFixed(1)}x the empty start; ${((ours.ms - ref.ms) / COPIES * 1000).toFixed(0)} µs per shadow copy)`);
  } finally {
    await rm(empty, { recursive: true, force: true });
    await unprotectTree(full).catch(() => undefined);
    await rm(full, { recursive: true, force: true });
  }
}
