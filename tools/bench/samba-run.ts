/**
 * Driving rpcclient for the Samba comparison: the cycle and GetSupportedVersion commands, the set
 * of child processes alive during a run, and SIGINT/SIGTERM handling that stops the run at its
 * next step so the harness is torn down by the normal path.
 */
import { HOST, parseExposed, SHARE, type SambaHarness } from '../lib/samba-harness.js';
import { RpcclientSession } from './samba-rpcclient.js';

/** One cycle: three rpcclient commands in one session; the set/copy ids come from the first. */
export const CYCLE = [
  `fss_create_expose backup ro ${SHARE}`, 'fss_recovery_complete <set>', `fss_delete ${SHARE} <set> <copy>`,
] as const;
export const EXPOSED = /exposed as a snapshot of[^\n]*\n/;
export const RECOVERED = /marked recovery complete\n/;
export const DELETED = /shadow-copy deleted\n/;
export const VERSION = /supports FSRVP versions[^\n]*\n/;

/**
 * Warm-up before a rate of full cycles is taken, for either server: a fresh agent process runs
 * its first cycles noticeably slower (JIT compilation, first-use caches) for a second or two;
 * the rate is meant to be the steady state both servers reach.
 */
export const CYCLE_WARMUP_MS = 2500;

/** Child processes started during the run, killed at once by a signal. */
export const live = new Set<{ kill(): void }>();
let interrupted: NodeJS.Signals | undefined;

/** Installs the signal handlers for a run; returns their removal. */
export function handleSignals(): () => void {
  interrupted = undefined;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/**
 * SIGINT/SIGTERM: kill rpcclient and dumpcap now, and let the measuring code stop at its next
 * step, so the harness is stopped by the normal path (withHarness). A second signal exits at
 * once (the harness's exit hook still undoes what it recorded).
 */
function onSignal(sig: NodeJS.Signals): void {
  if (interrupted) process.exit(130);
  interrupted = sig;
  console.error(`samba bench: ${sig}, stopping and cleaning up (again to exit at once)`);
  for (const x of live) x.kill();
}

export function checkInterrupted(): void {
  if (interrupted) throw new Error(`samba bench interrupted by ${interrupted}`);
}

/** An interactive rpcclient session as the harness's privileged user. */
export function open(h: SambaHarness): RpcclientSession {
  const s = RpcclientSession.open({ conf: h.conf, user: h.admin.name, password: h.admin.password, host: HOST });
  live.add(s);
  return s;
}

export async function close(s: RpcclientSession): Promise<void> {
  await s.close();
  live.delete(s);
}

/** One full cycle (CYCLE): create+expose, recovery complete, delete of the copy it created. */
export async function cycle(s: RpcclientSession): Promise<void> {
  checkInterrupted();
  const out = await s.command(CYCLE[0], EXPOSED);
  const e = parseExposed(out);
  if (!e) throw new Error(`cannot parse fss_create_expose output: ${out}`);
  await s.command(`fss_recovery_complete ${e.setId}`, RECOVERED);
  await s.command(`fss_delete ${SHARE} ${e.setId} ${e.copyId}`, DELETED);
}

/** One `fss_get_sup_version` (one GetSupportedVersion call). */
export function getVersion(s: RpcclientSession): Promise<string> {
  checkInterrupted();
  return s.command('fss_get_sup_version', VERSION);
}
