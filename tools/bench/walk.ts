/**
 * The directory-structure check on a big tree: a 1,000,000-entry tree (10 + 100 + 1,000 + 10,000
 * directories, depth 4, about 99 empty regular files with one link each per leaf directory, so
 * the `hyperv` profile accepts it) on a btrfs loop filesystem (as root; tmpfs otherwise, or with
 * FSRVP_BENCH_WALK_FS=tmpfs). Reference measured in the same run on the same tree:
 * `find TREE -printf '%y %n\n' > /dev/null` (a type and link count per entry: what `hyperv` needs).
 * Each figure is the median of 3 runs with a warm cache (one unmeasured run of each first).
 * FSRVP_BENCH_WALK_ENTRIES changes the size.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inspectTree, policyOptionsFor, type PolicyOptions, type WalkOptions } from '../../src/storage/policy.js';
import { listNestedSubvolumes } from '../../src/storage/btrfs-subvolumes.js';
import { readMounts } from '../../src/storage/mounts.js';
import { run } from '../../src/sys/exec.js';
import { createLoopFs, type LoopFs } from '../lib/loopfs.js';
import { progress } from '../lib/progress.js';

const ENTRIES = Number(process.env.FSRVP_BENCH_WALK_ENTRIES ?? 1_000_000);
const RUNS = 3;

/** Builds the tree with synchronous calls (a few µs each; empty files: open + close). */
function buildTree(root: string, entries: number): number {
  let made = 0;
  const dirs: string[] = [];
  for (let a = 0; a < 10; a++) {
    for (let b = 0; b < 10; b++) {
      for (let c = 0; c < 10; c++) {
        for (let d = 0; d < 10; d++) dirs.push(`${root}/a${a}/b${b}/c${c}/d${d}`);
      }
    }
  }
  const files = Math.max(0, entries - 11_110);
  const perLeaf = Math.ceil(files / dirs.length);
  let left = files;
  const seen = new Set<string>();
  const started = Date.now();
  const shown = progress();
  for (const leaf of dirs) {
    // Parents first, counted once each.
    for (const p of [leaf.slice(0, leaf.lastIndexOf('/b')), leaf.slice(0, leaf.lastIndexOf('/c')), leaf.slice(0, leaf.lastIndexOf('/d')), leaf]) {
      if (!seen.has(p)) {
        mkdirSync(p);
        seen.add(p);
        made++;
      }
    }
    for (let f = 0; f < perLeaf && left > 0; f++, left--) {
      closeSync(openSync(`${leaf}/f${f}`, 'wx'));
      made++;
    }
    if (made % 100_000 < perLeaf + 4) shown.update(`tree: ${made.toLocaleString('en-US')} entries (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  shown.end();
  return made;
}

function timeFind(tree: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const devNull = openSync('/dev/null', 'w');
    const t0 = performance.now();
    const child = spawn('find', [tree, '-printf', '%y %n\\n'], { stdio: ['ignore', devNull, 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => {
      closeSync(devNull);
      if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`find exited with ${code}`));
    });
  });
}

async function timeOurs(tree: string, opts: Partial<PolicyOptions>, walk: WalkOptions): Promise<{ ms: number; entries: number | undefined }> {
  const t0 = performance.now();
  const r = await inspectTree(tree, opts, walk);
  const ms = performance.now() - t0;
  if (r.refusal) throw new Error(`the bench tree was refused: ${r.refusal.path}: ${r.refusal.reason}`);
  return { ms, entries: r.walk?.entries };
}

async function median(fn: () => Promise<number>): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < RUNS; i++) t.push(await fn());
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)] as number;
}

function line(label: string, ms: number, ref?: number, note = ''): void {
  const ratio = ref === undefined ? '' : `  ${(ms / ref).toFixed(2)}x find`;
  console.log(`${label.padEnd(62)} ${ms.toFixed(0).padStart(7)} ms${ratio}${note}`);
}

export async function benchWalk(): Promise<void> {
  const wantBtrfs = process.env.FSRVP_BENCH_WALK_FS !== 'tmpfs' && process.getuid?.() === 0;
  let fs: LoopFs | undefined;
  let tmp: string | undefined;
  try {
    let tree: string;
    if (wantBtrfs) {
      fs = await createLoopFs({ fsType: 'btrfs', sizeMiB: 8192 });
      tree = join(fs.mountPoint, 'share');
      await run('btrfs', ['subvolume', 'create', tree]);
    } else {
      tmp = await mkdtemp('/dev/shm/fsrvp-walk-');
      tree = join(tmp, 'share');
      mkdirSync(tree);
    }
    const where = wantBtrfs ? 'btrfs loop filesystem' : 'tmpfs';
    console.log(`-- Directory-structure check of a ${ENTRIES.toLocaleString('en-US')}-entry tree (${where}; median of ${RUNS} warm runs)`);
    const t0 = performance.now();
    const made = buildTree(tree, ENTRIES);
    console.log(`  built ${made.toLocaleString('en-US')} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (fs) await run('sync', []);
    const btrfs = wantBtrfs;
    const subvolumes: WalkOptions['subvolumes'] = (top, m) => listNestedSubvolumes(top, m, 'btrfs');
    // As the backends call it: btrfs with synchronous calls and the subvolume list; elsewhere the
    // filesystem type (statfs) says there are no subvolumes.
    const walk: WalkOptions = btrfs ? { sync: true, mounts: await readMounts(), subvolumes } : { mounts: await readMounts() };
    const hyperv = { ...policyOptionsFor({ profile: 'hyperv', maxEntries: Infinity }), btrfs };
    const faithful = { ...policyOptionsFor({ profile: 'faithful' }), btrfs };
    let entries: number | undefined;
    const find = await median(() => timeFind(tree));
    const ours = await median(async () => {
      const r = await timeOurs(tree, hyperv, walk);
      entries = r.entries;
      return r.ms;
    });
    const faith = await median(async () => (await timeOurs(tree, faithful, walk)).ms);
    // Where the filesystem cannot tell (no subvolume list): directories are walked and stat'ed.
    const faithWalk = await median(async () => (await timeOurs(tree, faithful, { sync: true })).ms);
    line("find TREE -printf '%y %n\\n' > /dev/null (reference)", find);
    line('hyperv profile: walk with a link count per file', ours, find, `  (${entries?.toLocaleString('en-US')} entries)`);
    line(`faithful profile: mount table${btrfs ? ' + btrfs subvolume list' : ''}, no walk`, faith, find);
    line('faithful profile without them: walk, stat directories only', faithWalk, find);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await fs?.teardown();
  }
}
