/**
 * Ours vs Samba's own rpcd_fsrvp behind the same private smbd (tools/lib/samba-harness.ts), measured in
 * one run: first the harness in reference mode (Samba's rpcd_fsrvp, `rpcd_fsrvp:num_workers = 1`),
 * then in agent mode (our agent in this process, behind `external_rpc_pipe:socket_dir`). Each mode
 * gets a fresh harness, so a fresh btrfs loop filesystem. Figures per server:
 *  - full cycles per second through ONE interactive rpcclient session (see CYCLE);
 *  - GetSupportedVersion calls per second, one at a time in that session and batched (`-c` with
 *    many commands in one rpcclient process, the process's start-up subtracted);
 *  - server time per FSRVP operation from a packet capture of the SMB traffic (tshark
 *    `-z dcerpc,srt`), in a separate phase so capturing does not slow the rates.
 * When our full-cycle rate is below GOAL × Samba's, a probe shows where our time goes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HOST, SambaHarness, agentConfig, startTestAgent, type SambaMode } from '../lib/samba-harness.js';
import { Capture, serverTimes, type ServerTime } from './samba-capture.js';
import { investigate } from './samba-investigate.js';
import { floorLines, measureFloor } from './samba-floor.js';
import {
  checkInterrupted, close, cycle, CYCLE, CYCLE_WARMUP_MS, getVersion, handleSignals, live, open, VERSION,
} from './samba-run.js';
import { rate, report, slicedRate, type Rate } from './measure.js';

const GOAL = 2.0;
const REF = 'Samba rpcd_fsrvp (reference)';
const OURS = 'ours (fsrvpd agent)';
/** GetSupportedVersion calls made at the end of the captured phase (not part of any cycle). */
const CAPTURED_GSV = 200;
/** Most commands in one `-c` argument (Linux limits one argument to 128 KiB). */
const MAX_BATCH = 5000;

interface ServerResult {
  cycles: Rate;
  gsvOne: Rate;
  gsvBatched: Rate;
  batchSize: number;
  processStartMs: number;
  srt?: { times: ServerTime[]; cycles: number; received: number; dropped: number };
  srtError?: string;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

/** `fss_get_sup_version` ×n in one `rpcclient -c`, minus a one-command process's time. */
async function batchedGsv(h: SambaHarness, label: string, seconds: number, estimate: number): Promise<{ r: Rate; n: number; baseMs: number }> {
  const one = async (n: number): Promise<number> => {
    checkInterrupted();
    const [res, ms] = await timed(() => h.rpcclient(Array.from({ length: n }, () => 'fss_get_sup_version')));
    const got = res.stdout.match(new RegExp(VERSION.source, 'g'))?.length ?? 0;
    if (res.code !== 0 || got !== n) throw new Error(`rpcclient -c fss_get_sup_version ×${n}: ${got} answers, exit ${res.code}: ${res.stderr.slice(-500)}`);
    return ms;
  };
  const bases = [await one(1), await one(1), await one(1)].sort((a, b) => a - b);
  const baseMs = bases[1] as number;
  const n = Math.min(MAX_BATCH, Math.max(200, Math.round((estimate * seconds) / 2)));
  let calls = 0;
  let netMs = 0;
  const deadline = Date.now() + seconds * 3000 + 30_000;
  while (netMs < seconds * 1000 && Date.now() < deadline) {
    const ms = await one(n);
    calls += n - 1;
    netMs += Math.max(1, ms - baseMs);
  }
  return { r: { label, ops: calls, seconds: netMs / 1000, perSecond: calls / (netMs / 1000) }, n, baseMs };
}

/** Cycles and GetSupportedVersion calls under capture; server times per operation. */
async function captured(h: SambaHarness, seconds: number): Promise<NonNullable<ServerResult['srt']>> {
  const file = join(h.root, 'fsrvp-bench.pcapng');
  const cap = await Capture.start(file);
  live.add(cap);
  let cycles = 0;
  let summary;
  try {
    const s = open(h);
    try {
      const end = Date.now() + Math.min(seconds, 3) * 1000;
      while (Date.now() < end) {
        await cycle(s);
        cycles++;
      }
      for (let i = 0; i < CAPTURED_GSV; i++) await getVersion(s);
    } finally {
      await close(s);
    }
  } finally {
    summary = await cap.stop();
    live.delete(cap);
  }
  const { times } = await serverTimes(file);
  return { times, cycles, ...summary };
}

async function measureServer(h: SambaHarness, who: string, seconds: number, afterCycles?: (cycles: Rate) => Promise<void>): Promise<ServerResult> {
  const s = open(h);
  let cycles: Rate;
  let gsvOne: Rate;
  try {
    await getVersion(s); // connected and bound
    cycles = await slicedRate(`${who}: full cycles`, () => cycle(s), Math.max(seconds, 5), 1000, CYCLE_WARMUP_MS);
    gsvOne = await rate(`${who}: GetSupportedVersion, one at a time`, () => getVersion(s), seconds, 50);
  } finally {
    await close(s);
  }
  const b = await batchedGsv(h, `${who}: GetSupportedVersion, batched -c`, seconds, gsvOne.perSecond);
  const result: ServerResult = { cycles, gsvOne, gsvBatched: b.r, batchSize: b.n, processStartMs: b.baseMs };
  if (toolsForCapture()) {
    try {
      result.srt = await captured(h, seconds);
    } catch (e) {
      result.srtError = (e as Error).message;
    }
  } else {
    result.srtError = 'dumpcap/tshark not installed (Debian package tshark)';
  }
  checkInterrupted();
  if (afterCycles) await afterCycles(cycles);
  return result;
}

function toolsForCapture(): boolean {
  return existsSync('/usr/bin/dumpcap') && existsSync('/usr/bin/tshark');
}

async function withHarness<T>(mode: SambaMode, fn: (h: SambaHarness) => Promise<T>): Promise<T> {
  checkInterrupted();
  const h = await SambaHarness.start({ mode });
  try {
    checkInterrupted();
    return await fn(h);
  } finally {
    for (const x of live) x.kill();
    live.clear();
    await h.stop();
  }
}

const ms = (n: number): string => n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);

function printServerTimes(samba: ServerResult, ours: ServerResult): void {
  console.log('server time per FSRVP operation (tshark -z dcerpc,srt on the SMB traffic: smbd + the FSRVP server; mean ms;');
  console.log('  calls/cycle as Samba/ours; ours/Samba: LOWER is better):');
  if (!samba.srt || !ours.srt) {
    console.log(`  unavailable: ${samba.srtError ?? ours.srtError ?? '?'}`);
    return;
  }
  const bySamba = new Map(samba.srt.times.map((t) => [t.opnum, t]));
  const byOurs = new Map(ours.srt.times.map((t) => [t.opnum, t]));
  const opnums = [...new Set([...bySamba.keys(), ...byOurs.keys()])].sort((a, b) => a - b);
  console.log(`  ${'operation'.padEnd(31)} ${'calls/cycle'.padStart(11)} ${'Samba ms'.padStart(9)} ${'ours ms'.padStart(9)} ${'ours/Samba'.padStart(10)}`);
  let sumS = 0;
  let sumO = 0;
  for (const op of opnums) {
    const a = bySamba.get(op);
    const b = byOurs.get(op);
    const perCycle = (t: ServerTime | undefined, r: ServerResult): string => {
      if (!t || !r.srt) return '-';
      const n = t.calls - (op === 0 ? CAPTURED_GSV : 0);
      return (n / r.srt.cycles).toFixed(2);
    };
    const pc = `${perCycle(a, samba)}/${perCycle(b, ours)}`;
    if (a && b) {
      const perS = Number(perCycle(a, samba));
      const perO = Number(perCycle(b, ours));
      if (Number.isFinite(perS)) sumS += a.avgMs * perS;
      if (Number.isFinite(perO)) sumO += b.avgMs * perO;
    }
    const ratio = a && b ? (b.avgMs / a.avgMs).toFixed(2) : '-';
    console.log(`  ${(a ?? b)!.name.padEnd(31)} ${pc.padStart(11)} ${(a ? ms(a.avgMs) : '-').padStart(9)} ${(b ? ms(b.avgMs) : '-').padStart(9)} ${ratio.padStart(10)}`);
  }
  console.log(`  ${'sum per cycle'.padEnd(31)} ${''.padStart(11)} ${ms(sumS).padStart(9)} ${ms(sumO).padStart(9)} ${(sumO / sumS).toFixed(2).padStart(10)}`);
  for (const [who, r] of [[REF, samba], [OURS, ours]] as const) {
    console.log(`  (${who}: ${r.srt!.cycles} cycles + ${CAPTURED_GSV} GetSupportedVersion captured; packets ${r.srt!.received}, dropped ${r.srt!.dropped})`);
  }
}

/** Starts `fsrvpd --config` for the harness `h` and waits until its pipe socket listens. */
export async function spawnAgent(h: SambaHarness): Promise<{ stop(): Promise<void> }> {
  const file = join(h.root, 'fsrvpd.json');
  await writeFile(file, JSON.stringify(agentConfig(h)));
  const fsrvpd = fileURLToPath(new URL('../../src/cli/fsrvpd.js', import.meta.url));
  // FSRVP_BENCH_AGENT_NODE_ARGS: Node options for the agent alone (e.g. --cpu-prof --cpu-prof-dir=DIR).
  const nodeArgs = (process.env.FSRVP_BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  const proc = spawn(process.execPath, [...nodeArgs, fsrvpd, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 20_000;
  while (!/listening on samba socket/.test(out)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`fsrvpd did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export async function benchSamba(seconds: number): Promise<void> {
  console.log(`-- Samba: ${OURS} vs ${REF}, same private smbd on ${HOST}:445, same machine, one run`);
  if (process.getuid?.() !== 0) {
    console.log('samba: skipped (needs root: loop filesystem, users, port 445)');
    return;
  }
  const unhandle = handleSignals();
  try {
    console.log('   each server gets a fresh harness: new 320 MiB btrfs loop filesystem, smbd, samba-dcerpcd;');
    console.log('   Samba first (rpcd_fsrvp:num_workers = 1), then ours (fsrvpd in its own process, behind external_rpc_pipe:socket_dir)');
    console.log('   rates: ratio = ours/Samba, HIGHER is better; server times: ours/Samba, LOWER is better');
    console.log(`   cycle = one interactive rpcclient session, one command at a time: ${CYCLE.join('; ')}`);
    console.log(`   cycle rates: after ${CYCLE_WARMUP_MS / 1000} s of warm-up cycles on each server, the median of 1 s slices (steady state, robust to bursts of outside load)`);
    const samba = await withHarness('samba', (h) => measureServer(h, REF, seconds));
    let investigation: string[] = [];
    const ours = await withHarness('agent', async (h) => {
      // Measured as it runs in production: fsrvpd in a process of its own, as rpcd_fsrvp is.
      const daemon = await spawnAgent(h);
      let result: Awaited<ReturnType<typeof measureServer>>;
      try {
        result = await measureServer(h, OURS, seconds);
      } finally {
        await daemon.stop();
      }
      // The breakdown needs the agent's internals, so it runs an in-process agent on the same state.
      if (result.cycles.perSecond < GOAL * samba.cycles.perSecond) {
        const agent = await startTestAgent(h);
        investigation = await investigate(h, agent, seconds);
        checkInterrupted();
        investigation.push(...floorLines(await measureFloor(h, agent, seconds), 1000 / samba.cycles.perSecond, GOAL));
      }
      return result;
    });
    const ops = (samba.srt ?? ours.srt)?.times.filter((t) => t.calls - (t.opnum === 0 ? CAPTURED_GSV : 0) > 0).map((t) => t.name);
    if (ops) console.log(`   = ${ops.length} FSRVP calls on the wire per cycle (from the capture, by opnum): ${ops.join(', ')}`);
    report(samba.cycles);
    report(ours.cycles, samba.cycles);
    report(samba.gsvOne);
    report(ours.gsvOne, samba.gsvOne);
    report(samba.gsvBatched);
    report(ours.gsvBatched, samba.gsvBatched);
    console.log(`   (batched: ${samba.batchSize}/${ours.batchSize} commands per rpcclient process; a one-command process took ${ms(samba.processStartMs)}/${ms(ours.processStartMs)} ms and is subtracted)`);
    printServerTimes(samba, ours);
    if (investigation.length > 0) {
      console.log(`why ours is below ${GOAL.toFixed(1)}x:`);
      for (const l of investigation) console.log(l);
    }
    console.log(`full-cycle ratio ${(ours.cycles.perSecond / samba.cycles.perSecond).toFixed(2)} (goal ≥ ${GOAL.toFixed(1)})`);
  } finally {
    unhandle();
  }
}
