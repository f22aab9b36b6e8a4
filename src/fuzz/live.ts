/**
 * Stateful live fuzzing of a running FSRVP server over any transport (TCP, SMB pipe, external RPC
 * pipe socket), authenticated or not: cases from live-case.ts, each on a fresh connection, then
 *  - a janitor on another connection aborts every set the case made (exposing the committed ones
 *    first) and deletes every mapping, then checks that no shadow copy of the fuzzed shares remains (IsPathShadowCopied);
 *  - after every batch, a canary connection opened at the start must still answer
 *    GetSupportedVersion (a bad PDU never disturbs another connection);
 *  - a finding (an unanswered request, a dead canary, a leftover copy) is minimized by dropping
 *    steps while it still reproduces, and kept with the PDUs of its last run as a fixture that
 *    fsrvp-replay replays.
 * Coverage is counted as PDU type × operation × result; inputs per second are reported.
 */
import createDebug from 'debug';
import type { ClientAuth } from '../dcerpc/client-auth.js';
import type { RpcClient } from '../dcerpc/client.js';
import { FsrvpClient } from '../client/fsrvp-client.js';
import { hresultName } from '../fsrvp/codes.js';
import * as Idl from '../fsrvp/idl.js';
import { Rng } from '../ndr/index.js';
import type { CapturedPdu } from '../replay/capture.js';
import { generateCase, runCase, UnansweredError, type CaseState, type CaseStep } from './live-case.js';

const log = createDebug('fsrvp:fuzz');

export interface LiveFuzzOptions {
  open: () => Promise<RpcClient>;
  /** A fresh security context per connection (authenticated campaigns). */
  auth?: () => ClientAuth;
  seed: number;
  iterations: number;
  /** Share names on the server that cases may shadow copy. */
  shares: readonly string[];
  /** Host part of the UNC names sent. */
  serverName: string;
  /** Per call (default 30 s: Commit on a loaded server is slow). */
  timeoutMs?: number;
  /** Canary probe every this many cases (default 10). */
  batch?: number;
  onProgress?: (done: number, perSecond: number) => void;
}

export type LiveFindingKind = 'unanswered' | 'canary-dead' | 'leftover' | 'janitor-failed';

export interface LiveFinding {
  iteration: number;
  kind: LiveFindingKind;
  detail: string;
  /** The minimized case (re-runnable) and the PDUs of its last run (a replay fixture). */
  steps: CaseStep[];
  capture: CapturedPdu[];
}

export interface LiveFuzzResult {
  cases: number;
  calls: number;
  seconds: number;
  perSecond: number;
  /** `request:<op>:<result>` and `bind:<result>` counts. */
  coverage: Record<string, number>;
  setsCreated: number;
  findings: LiveFinding[];
  canaryAlive: boolean;
}

/** A fresh connection with FSRVP bound (authenticated when the campaign is), as FsrvpClient binds it. */
async function bound(o: LiveFuzzOptions): Promise<RpcClient> {
  const c = await FsrvpClient.over(await o.open(), { timeoutMs: o.timeoutMs ?? 30_000, ...(o.auth ? { auth: o.auth() } : {}) });
  return c.rpc;
}

/** Deletes every mapping and aborts every set of the case; returns what could not be undone. */
async function janitor(o: LiveFuzzOptions, state: CaseState): Promise<string | undefined> {
  if (state.setIds.size === 0) return undefined;
  const rpc = await bound(o);
  const t = { timeoutMs: o.timeoutMs ?? 30_000 };
  try {
    for (const set of state.setIds) {
      // A set still in creation goes with Abort; a committed one must be exposed before its
      // mappings can be deleted (Abort of it is a no-op success in Samba, BAD_STATE in the spec).
      // Expose of a set Abort removed answers an error, which is fine.
      await rpc.callOp(Idl.AbortShadowCopySet, { ShadowCopySetId: set }, t);
      await rpc.callOp(Idl.ExposeShadowCopySet, { ShadowCopySetId: set, TimeOutInMilliseconds: t.timeoutMs }, t);
    }
    for (const [set, copy, share] of state.copies) await rpc.callOp(Idl.DeleteShareMapping, { ShadowCopySetId: set, ShadowCopyId: copy, ShareName: share }, t);
    for (const share of o.shares) {
      const r = await rpc.callOp(Idl.IsPathShadowCopied, { ShareName: `\\\\${o.serverName}\\${share}\\` }, t);
      if (r.result === 0 && r.ShadowCopyPresent) return `a shadow copy of ${share} remains after the janitor deleted and aborted everything the case made`;
    }
    return undefined;
  } finally {
    await rpc.close().catch(() => undefined);
  }
}

interface CaseRun {
  outcomes: Array<{ op: string; result: string }>;
  capture: CapturedPdu[];
  problem?: { kind: LiveFindingKind; detail: string };
  sets: number;
}

async function runOne(o: LiveFuzzOptions, steps: readonly CaseStep[], conn: number): Promise<CaseRun> {
  const state: CaseState = { setIds: new Set(), copies: [] };
  const capture: CapturedPdu[] = [];
  let outcomes: CaseRun['outcomes'] = [];
  let problem: CaseRun['problem'];
  let rpc: RpcClient | undefined;
  try {
    rpc = await bound(o);
    outcomes = await runCase(steps, {
      rpc, shares: o.shares, serverName: o.serverName, timeoutMs: o.timeoutMs ?? 30_000, state, record: capture, conn,
    });
  } catch (e) {
    if (e instanceof UnansweredError) problem = { kind: 'unanswered', detail: e.message };
    else outcomes.push({ op: 'bind', result: e instanceof Error ? e.message.replace(/\d+/g, 'N') : 'error' });
  } finally {
    await rpc?.close().catch(() => undefined);
  }
  try {
    const left = await janitor(o, state);
    if (left !== undefined && problem === undefined) problem = { kind: 'leftover', detail: left };
  } catch (e) {
    problem ??= { kind: 'janitor-failed', detail: e instanceof Error ? e.message : String(e) };
  }
  return { outcomes, capture, sets: state.setIds.size, ...(problem ? { problem } : {}) };
}

async function canaryOk(canary: RpcClient, timeoutMs: number): Promise<string | undefined> {
  try {
    const r = await canary.callOp(Idl.GetSupportedVersion, {}, { timeoutMs });
    return r.result === 0 ? undefined : `GetSupportedVersion returned ${hresultName(r.result)}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Drops steps (from the end, then one at a time) while the same kind of finding reproduces. */
async function minimize(o: LiveFuzzOptions, steps: CaseStep[], kind: LiveFindingKind, conn: number): Promise<{ steps: CaseStep[]; run?: CaseRun }> {
  let best = steps;
  let bestRun: CaseRun | undefined;
  const reproduces = async (s: CaseStep[]): Promise<boolean> => {
    const r = await runOne(o, s, conn);
    if (r.problem?.kind !== kind) return false;
    bestRun = r;
    return true;
  };
  for (let i = best.length - 1; i >= 0 && best.length > 1; i--) {
    const candidate = [...best.slice(0, i), ...best.slice(i + 1)];
    if (await reproduces(candidate)) best = candidate;
  }
  return { steps: best, ...(bestRun ? { run: bestRun } : {}) };
}

export async function fuzzLive(o: LiveFuzzOptions): Promise<LiveFuzzResult> {
  const g = new Rng(o.seed);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const batch = o.batch ?? 10;
  const coverage: Record<string, number> = {};
  const findings: LiveFinding[] = [];
  let calls = 0;
  let sets = 0;
  let cases = 0;
  let canaryAlive = true;
  const started = Date.now();
  const canary = await bound(o);
  try {
    for (let i = 0; i < o.iterations; i++) {
      const steps = generateCase(g, o.shares.length);
      const run = await runOne(o, steps, i);
      cases++;
      sets += run.sets;
      for (const x of run.outcomes) {
        const key = x.op === 'bind' ? `bind:${x.result}` : `request:${x.op}:${x.result}`;
        coverage[key] = (coverage[key] ?? 0) + 1;
        if (x.op !== 'bind') calls++;
      }
      if (run.problem) {
        log('case %d: %s (%s); minimizing', i, run.problem.kind, run.problem.detail);
        const m = run.problem.kind === 'janitor-failed' ? { steps } : await minimize(o, steps, run.problem.kind, i);
        findings.push({ iteration: i, kind: run.problem.kind, detail: run.problem.detail, steps: m.steps, capture: m.run?.capture ?? run.capture });
      }
      if ((i + 1) % batch === 0 || i === o.iterations - 1) {
        const dead = await canaryOk(canary, timeoutMs);
        if (dead !== undefined) {
          canaryAlive = false;
          findings.push({ iteration: i, kind: 'canary-dead', detail: `the canary connection stopped answering after case ${i}: ${dead}`, steps, capture: run.capture });
          break;
        }
        o.onProgress?.(i + 1, (i + 1) / Math.max(0.001, (Date.now() - started) / 1000));
      }
    }
  } finally {
    await canary.close().catch(() => undefined);
  }
  const seconds = (Date.now() - started) / 1000;
  return { cases, calls, seconds, perSecond: cases / Math.max(seconds, 0.001), coverage, setsCreated: sets, findings, canaryAlive };
}
