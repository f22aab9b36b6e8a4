/**
 * Many-share sets (issue 9 item 5, the VSS freeze window): one shadow copy set of 8 shares on 8
 * btrfs subvolumes, through the same private smbd, against Samba's rpcd_fsrvp and ours, measured
 * in one run. Each server gets a fresh harness with `extraShares: 8` (fsrvp_share1…8, each its own
 * subvolume, Samba-style shadow_copy2 for Samba, the README layout for ours), as samba.ts does.
 *
 * One rpcclient session per server runs warm-up sets, then, under a packet capture, SETS sets of
 * 8 shares (`fss_create_expose backup ro fsrvp_share1 … fsrvp_share8`, recovery complete, delete
 * of the 8 copies) and SETS sets of the one share fsrvp_share. The server time of each call is
 * tshark's `dcerpc.time` on its response (smbd plus the FSRVP server, without the client); the
 * figures are medians over the sets: Commit, Expose, and the sum of the 8 Add calls of a set.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extraShare, SambaHarness, SHARE, type SambaMode } from '../lib/samba-harness.js';
import { Capture } from './samba-capture.js';
import { checkInterrupted, close, DELETED, handleSignals, live, open, RECOVERED } from './samba-run.js';
import type { RpcclientSession } from './samba-rpcclient.js';
import { spawnAgent } from './samba.js';
import { BtrfsIoctl } from '../../src/storage/btrfs-ioctl.js';
import { run } from '../../src/sys/exec.js';

const SHARES = 8;
const SETS = 10;
const WARMUP_SETS = 3;
const OP = { add: 3, commit: 4, expose: 5 } as const;
const MAPPING = /([0-9a-f-]{36})\(([0-9a-f-]{36})\): share (\S+)@\{[0-9a-f-]{36}\}\S* exposed as a snapshot of/gi;

/** One set of `shares` through create+expose, recovery complete and the deletion of every copy. */
async function oneSet(s: RpcclientSession, shares: readonly string[]): Promise<void> {
  checkInterrupted();
  const all = new RegExp(`(exposed as a snapshot of[^\\n]*\\n[^]*){${shares.length}}`);
  const out = await s.command(`fss_create_expose backup ro ${shares.join(' ')}`, all, 120_000);
  const maps = [...out.matchAll(MAPPING)];
  if (maps.length !== shares.length) throw new Error(`fss_create_expose of ${shares.length} shares: ${maps.length} mappings: ${out}`);
  const setId = maps[0]![1]!;
  await s.command(`fss_recovery_complete ${setId}`, RECOVERED);
  for (const m of maps) await s.command(`fss_delete ${m[3]} ${setId} ${m[2]}`, DELETED);
}

interface CallTime {
  readonly opnum: number;
  readonly ms: number;
}

/** The FSRVP responses of a capture in order: opnum and time from request. */
async function callTimes(file: string): Promise<CallTime[]> {
  const text = await new Promise<string>((resolve, reject) => {
    execFile('/usr/bin/tshark', ['-n', '-r', file, '-Y', 'fsrvp && dcerpc.pkt_type == 2', '-T', 'fields', '-e', 'dcerpc.opnum', '-e', 'dcerpc.time'],
      { maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => (err ? reject(new Error(`tshark: ${err.message}: ${String(stderr)}`)) : resolve(String(stdout))));
  });
  const out: CallTime[] = [];
  for (const line of text.split('\n')) {
    const [op, t] = line.trim().split('\t');
    if (op === undefined || t === undefined || !/^\d+$/.test(op)) continue;
    out.push({ opnum: Number(op), ms: Number(t) * 1000 });
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

interface SetFigures {
  readonly commit: number[];
  readonly expose: number[];
  /** Sum of the Add calls of each set. */
  readonly add: number[];
}

/** Splits the calls into sets (each set has one Commit) and picks the times per set. */
function perSet(calls: readonly CallTime[]): SetFigures {
  const fig: SetFigures = { commit: [], expose: [], add: [] };
  let add = 0;
  for (const c of calls) {
    if (c.opnum === OP.add) add += c.ms;
    else if (c.opnum === OP.commit) {
      fig.commit.push(c.ms);
      fig.add.push(add);
      add = 0;
    } else if (c.opnum === OP.expose) fig.expose.push(c.ms);
  }
  return fig;
}

interface ServerFigures {
  readonly many: SetFigures;
  readonly one: SetFigures;
  /** The kernel's part: read-only snapshot ioctls of 1 and of the 8 subvolumes, ms per round. */
  readonly floor?: Floor;
}

interface Floor {
  readonly one: number[];
  /** All at once, each into a directory of its own (as the agent places them: one per volume). */
  readonly many: number[];
  /** All at once into one directory. */
  readonly sameDir: number[];
  readonly sequential: number[];
  /** btrfs transaction commits during each round of `many` (from /sys/fs/btrfs/<uuid>/commit_stats; empty without it). */
  readonly manyCommits: number[];
}

/** Reads the filesystem's transaction commit count so far; undefined where the kernel does not say (no commit_stats). */
async function commitCounter(mount: string): Promise<() => Promise<number | undefined>> {
  const uuid = await run('findmnt', ['-n', '-o', 'UUID', '--target', mount]).then((r) => r.stdout.trim(), () => '');
  return async () => {
    const text = uuid ? await readFile(`/sys/fs/btrfs/${uuid}/commit_stats`, 'utf8').catch(() => '') : '';
    const m = /^commits (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  };
}

/**
 * Snapshot ioctls alone (through the helper, as the agent issues them): 1; all SHARES at once,
 * into SHARES directories and into one; and all SHARES one after another. btrfs holds the parent
 * directory's lock through the transaction commit, so snapshots into one directory queue, and
 * those into different directories share commits.
 */
async function ioctlFloor(h: SambaHarness): Promise<Floor> {
  const io = new BtrfsIoctl({ timeoutMs: 60_000 });
  const sources = Array.from({ length: SHARES }, (_, i) => join(h.mount, extraShare(i + 1).dir));
  const dirs = sources.map((_, i) => join(h.mount, 'floor', String(i)));
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
  const commitCount = await commitCounter(h.mount);
  let n = 0;
  const round = async (k: number, how: 'at-once' | 'same-dir' | 'sequential', commits?: number[]): Promise<number> => {
    const before = commits ? await commitCount() : undefined;
    const t = performance.now();
    const one = async (i: number): Promise<string> => {
      const p = join(how === 'same-dir' ? h.mount : dirs[i]!, `floor-${n++}`);
      await io.snapshot(sources[i]!, p, true);
      return p;
    };
    const made: string[] = [];
    const which = sources.slice(0, k).map((_, i) => i);
    if (how === 'sequential') for (const i of which) made.push(await one(i));
    else made.push(...await Promise.all(which.map(one)));
    const ms = performance.now() - t;
    const after = before === undefined ? undefined : await commitCount();
    if (commits && before !== undefined && after !== undefined) commits.push(after - before);
    await Promise.all(made.map((p) => io.destroy(p)));
    return ms;
  };
  const out = { one: [] as number[], many: [] as number[], sameDir: [] as number[], sequential: [] as number[], manyCommits: [] as number[] };
  try {
    for (let i = 0; i < WARMUP_SETS + SETS; i++) {
      const one = await round(1, 'at-once');
      const many = await round(SHARES, 'at-once', i >= WARMUP_SETS ? out.manyCommits : undefined);
      const sameDir = await round(SHARES, 'same-dir');
      const sequential = await round(SHARES, 'sequential');
      if (i >= WARMUP_SETS) {
        out.one.push(one);
        out.many.push(many);
        out.sameDir.push(sameDir);
        out.sequential.push(sequential);
      }
    }
  } finally {
    await io.close();
  }
  return out;
}

async function measure(mode: SambaMode): Promise<ServerFigures> {
  checkInterrupted();
  const h = await SambaHarness.start({ mode, extraShares: SHARES, sizeMiB: 512 });
  let daemon: { stop(): Promise<void> } | undefined;
  try {
    if (mode === 'agent') daemon = await spawnAgent(h);
    const many = Array.from({ length: SHARES }, (_, i) => extraShare(i + 1).name);
    const file = join(h.root, 'fsrvp-multi.pcapng');
    let calls: CallTime[];
    const warm = open(h);
    try {
      for (let i = 0; i < WARMUP_SETS; i++) {
        await oneSet(warm, many);
        await oneSet(warm, [SHARE]);
      }
    } finally {
      await close(warm);
    }
    // The measured session starts under capture: tshark needs its bind to know the calls are FSRVP.
    const cap = await Capture.start(file);
    live.add(cap);
    try {
      const s = open(h);
      try {
        for (let i = 0; i < SETS; i++) await oneSet(s, many);
        for (let i = 0; i < SETS; i++) await oneSet(s, [SHARE]);
      } finally {
        await close(s);
      }
    } finally {
      await cap.stop();
      live.delete(cap);
    }
    calls = await callTimes(file);
    const commits = calls.filter((c) => c.opnum === OP.commit).length;
    if (commits !== 2 * SETS) throw new Error(`the capture has ${commits} Commit responses, expected ${2 * SETS}`);
    // The sets of 8 come first: split after the SETS-th Commit's set (its Expose follows it).
    let seen = 0;
    let cut = calls.length;
    for (let i = 0; i < calls.length; i++) {
      if (calls[i]!.opnum === OP.commit && ++seen === SETS) {
        const expose = calls.findIndex((c, j) => j > i && c.opnum === OP.expose);
        cut = expose + 1;
        break;
      }
    }
    const floor = mode === 'agent' ? await ioctlFloor(h) : undefined;
    return { many: perSet(calls.slice(0, cut)), one: perSet(calls.slice(cut)), ...(floor ? { floor } : {}) };
  } finally {
    await daemon?.stop();
    for (const x of live) x.kill();
    live.clear();
    await h.stop();
  }
}

const f = (n: number): string => n.toFixed(n >= 100 ? 0 : 1);

export async function benchSambaMulti(): Promise<void> {
  console.log(`-- many-share sets: ${SHARES} shares on ${SHARES} btrfs subvolumes, ours vs Samba rpcd_fsrvp, same private smbd, one run`);
  if (process.getuid?.() !== 0) {
    console.log('multi: skipped (needs root: loop filesystem, users, port 445)');
    return;
  }
  const unhandle = handleSignals();
  try {
    console.log(`   server time per call (tshark dcerpc.time: smbd + the FSRVP server), median of ${SETS} sets after ${WARMUP_SETS} warm-up sets; ours/Samba: LOWER is better`);
    const samba = await measure('samba');
    const ours = await measure('agent');
    const row = (what: string, a: number[], b: number[], goal?: string): void => {
      const ma = median(a);
      const mb = median(b);
      console.log(`   ${what.padEnd(26)} Samba ${f(ma).padStart(6)} ms   ours ${f(mb).padStart(6)} ms   ours/Samba ${(mb / ma).toFixed(2)}${goal ? ` (goal ${goal})` : ''}`);
    };
    row(`Commit, ${SHARES} shares`, samba.many.commit, ours.many.commit, '≤ 0.50');
    row(`Expose, ${SHARES} shares`, samba.many.expose, ours.many.expose);
    row(`Add, ${SHARES} calls (sum)`, samba.many.add, ours.many.add);
    row('Commit, 1 share', samba.one.commit, ours.one.commit);
    row('Expose, 1 share', samba.one.expose, ours.one.expose);
    const r = median(ours.many.commit) / median(ours.one.commit);
    console.log(`   ours: Commit of ${SHARES} shares / Commit of 1 share = ${f(median(ours.many.commit))} / ${f(median(ours.one.commit))} ms = ${r.toFixed(2)} (goal ≤ 1.50)`);
    if (ours.floor) {
      const fl = ours.floor;
      console.log(`   kernel floor: ${SHARES} read-only snapshot ioctls at once into ${SHARES} directories ${f(median(fl.many))} ms,`
        + ` into one directory ${f(median(fl.sameDir))} ms, one after another ${f(median(fl.sequential))} ms, 1 alone ${f(median(fl.one))} ms`
        + (fl.manyCommits.length ? `; btrfs commits per round of ${SHARES} at once: ${fl.manyCommits.join(' ')}` : ''));
      console.log('   (btrfs commits a transaction per snapshot call; calls at once share commits unless they queue on one parent directory\'s lock)');
      // The least the ratio can be: the 1-share Commit's time outside the kernel, unchanged, plus
      // the kernel's time for 8 at once, over the 1-share Commit.
      const rest = Math.max(0, median(ours.one.commit) - median(fl.one));
      const least = (rest + median(fl.many)) / (rest + median(fl.one));
      console.log(`   least ratio the kernel allows: (${f(rest)} ms outside the kernel + ${f(median(fl.many))}) / (${f(rest)} + ${f(median(fl.one))}) = ${least.toFixed(2)}`);
    }
    console.log(`   (all ${SETS} Commit times, ms: Samba ${samba.many.commit.map(f).join(' ')}; ours ${ours.many.commit.map(f).join(' ')})`);
  } finally {
    unhandle();
  }
}
