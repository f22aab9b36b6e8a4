/**
 * Full FSRVP cycles per second (set context → start → add → prepare → commit → expose → get
 * mapping → recovery complete → delete, one share, one client over TCP) on the reflink/copy
 * backend and on btrfs. Reference measured in the same run: the bare backend work of one cycle
 * (create + delete of the same snapshot through the backend API), so the ratio shows what the
 * protocol, state journal and publishing add on top of the storage. On btrfs, the same cycles
 * through the reference snapshot hook (tools/hooks/btrfs-hook) show what a hook costs: its
 * ratio to the built-in btrfs backend's cycles of the same run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { BtrfsBackend } from '../../src/storage/btrfs.js';
import { CopyBackend } from '../../src/storage/copy.js';
import { HookBackend } from '../../src/storage/hook.js';
import type { SnapshotBackend } from '../../src/storage/backend.js';
import { run } from '../../src/sys/exec.js';
import { createLoopFs, type LoopFs } from '../lib/loopfs.js';
import { benchSeed, rate, report, type Rate } from './measure.js';
import { startTempAgent } from '../lib/temp-agent.js';

const HOOK = fileURLToPath(new URL('../../../tools/hooks/btrfs-hook', import.meta.url));

/** Measures, reports and returns the full-cycle rate (`also`: a second reference, printed as a ratio too). */
async function measure(label: string, backendName: string, sharePath: string, backend: SnapshotBackend, seconds: number, also?: Rate): Promise<Rate> {
  const volume = await backend.volumeOf(sharePath);
  let n = 0;
  const ref = await rate(`${label}: bare backend create+delete (reference)`, async () => {
    const snap = await backend.create(volume, { shadowCopyId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, writable: false });
    await backend.delete(snap);
  }, seconds, 5);
  const agent = await startTempAgent({ prefix: 'fsrvp-bench-', seed: benchSeed, tweak: (c) => {
    c.shares = { static: { bench: { path: sharePath, backend: backendName } } };
    if (backend instanceof HookBackend) c.storage.hooks = { [backendName]: { command: HOOK, args: [], env: {}, detect: false } };
    if (backendName !== 'copy') delete c.storage.snapshotDir;
    c.sequenceTimeoutSeconds = 0;
  } });
  const client = await FsrvpClient.connect({ port: agent.port });
  try {
    const ours = await rate(`${label}: full FSRVP cycles`, () => client.cycle({ shares: ['bench'], serverName: '127.0.0.1' }), seconds, 5);
    report(ref);
    report(ours, ref);
    if (also) report(ours, also);
    return ours;
  } finally {
    await client.close();
    await agent.stop();
  }
}

export async function benchCycle(seconds: number): Promise<void> {
  console.log('-- Full cycles (one share, 64 KiB of data, one TCP client)');
  const copyAgent = await startTempAgent({ prefix: 'fsrvp-bench-', seed: benchSeed });
  const copyShare = join(copyAgent.dir, 'copy-share');
  await mkdir(join(copyShare, 'sub'), { recursive: true });
  await writeFile(join(copyShare, 'sub', 'data.bin'), Buffer.alloc(64 * 1024, 1));
  try {
    await measure('reflink/copy', 'copy', copyShare, new CopyBackend({ snapshotDir: join(copyAgent.dir, 'ref-snaps') }), seconds);
  } finally {
    await copyAgent.stop();
  }
  if (process.getuid?.() !== 0) {
    console.log('btrfs: skipped (needs root for a loop filesystem)');
    return;
  }
  let fs: LoopFs | undefined;
  try {
    fs = await createLoopFs({ fsType: 'btrfs' });
    const share = join(fs.mountPoint, 'share');
    await run('btrfs', ['subvolume', 'create', share]);
    await writeFile(join(share, 'data.bin'), Buffer.alloc(64 * 1024, 2));
    const builtIn = await measure('btrfs', 'btrfs', share, new BtrfsBackend(), seconds);
    await measure('btrfs through the reference hook', 'btrfs-cli', share, new HookBackend({ name: 'btrfs-cli', command: HOOK }), seconds, builtIn);
  } finally {
    await fs?.teardown();
  }
}
