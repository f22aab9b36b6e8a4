/**
 * The directory walk in walk processes (tree-walk.ts hands a big walk over). Node stats by path
 * only (no fstatat on the directory just listed, as `find` does), and a full path costs the
 * kernel a lookup of every component; a process of its own may enter each directory and stat by
 * name, which a worker thread may not (the current directory is the process's). Two of them also
 * use both CPUs. The main thread only hands out jobs — a few directories and an entry budget
 * each — and adds up the answers, so its event loop stays free during the whole walk. The first
 * refusal stops every walker. Where none can start (no compiled worker script, e.g. under a
 * TypeScript test runner), the walk goes on in the main thread.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import { tooMany, type Pending, type PolicyRefusal, type SliceResult, type WalkRules } from './tree-walk-rules.js';
import type { WalkJob } from './tree-walk-worker.js';

const debug = createDebug('fsrvp:policy');

const WORKER_URL = new URL('./tree-walk-worker.js', import.meta.url);

/** Entries one job visits at most (about 50–100 ms of work): progress and fairness between workers. */
export const JOB_ENTRIES = 16_384;

/** Whether the compiled worker script is there. */
export function workersAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

export interface ParallelCount {
  entries: number;
  rootEntries: number;
  tick(): void;
}

interface Answer extends SliceResult {
  readonly rest: Pending[];
}

/** Walk processes being started for a walk: started early, handed the walk once they are up. */
export class WalkPool {
  readonly workers: ChildProcess[] = [];
  private online = 0;
  failed = false;

  constructor(threads: number) {
    try {
      for (let i = 0; i < threads; i++) {
        // No inherited flags (an inspector, --cpu-prof); structured clone keeps Infinity limits.
        const w = fork(fileURLToPath(WORKER_URL), [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        w.once('spawn', () => this.online++);
        w.once('error', (e) => {
          debug('walk process failed: %s', e.message);
          this.failed = true;
        });
        w.once('exit', () => {
          if (this.online < this.workers.length) this.failed = true;
        });
        this.workers.push(w);
      }
    } catch (e) {
      debug('walk workers cannot start: %s', (e as Error).message);
      this.failed = true;
    }
  }

  /** Whether every worker is up (the walk can be handed over without waiting). */
  get ready(): boolean {
    return !this.failed && this.online === this.workers.length;
  }

  close(): void {
    for (const w of this.workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  }
}

/**
 * Walks every directory on `stack` (emptied) with the pool's workers (closed at the end).
 * 'unavailable' when the workers failed: the stack then holds what is left to walk.
 */
export async function walkParallel(
  top: string, stack: Pending[], rootDev: number, rules: WalkRules, count: ParallelCount, pool: WalkPool,
): Promise<PolicyRefusal | undefined | 'unavailable'> {
  const workers = pool.workers.slice();
  try {
    return await new Promise<PolicyRefusal | undefined | 'unavailable'>((resolve) => {
      const busy = new Map<ChildProcess, Pending[]>();
      let finished = false;
      const finish = (v: PolicyRefusal | undefined | 'unavailable'): void => {
        if (finished) return;
        finished = true;
        resolve(v);
      };
      const dispatch = (): void => {
        for (const w of workers) {
          if (finished || stack.length === 0) break;
          if (busy.has(w)) continue;
          // Several directories when there are many, so a worker does not come back after one small one.
          const share = Math.max(1, Math.min(64, Math.floor(stack.length / (workers.length * 2))));
          const job: WalkJob = {
            stack: stack.splice(stack.length - share, share), rootDev, rules, budget: JOB_ENTRIES,
            entriesLeft: rules.maxEntries - count.entries,
          };
          busy.set(w, job.stack.slice());
          w.send(job);
        }
        if (!finished && stack.length === 0 && busy.size === 0) finish(undefined);
      };
      for (const w of workers) {
        w.on('message', (a: Answer) => {
          busy.delete(w);
          count.entries += a.entries;
          count.rootEntries += a.rootEntries;
          count.tick();
          if (a.refusal) return finish(a.refusal);
          if (count.entries > rules.maxEntries) return finish(tooMany(top, rules.maxEntries));
          for (const p of a.rest) stack.push(p);
          dispatch();
        });
        const failed = (): void => {
          if (!workers.includes(w)) return;
          const lost = busy.get(w);
          busy.delete(w);
          if (lost) for (const p of lost) stack.push(p); // walked again by another worker (or the main thread)
          workers.splice(workers.indexOf(w), 1);
          if (workers.length === 0) finish('unavailable'); // the main thread walks what is left
          else dispatch();
        };
        w.on('error', failed);
        w.on('exit', failed);
      }
      dispatch();
    });
  } finally {
    pool.close();
  }
}
