/**
 * The directory walk on worker threads (tree-walk.ts hands a big walk over): Node can only stat
 * by full path (statx from the current directory, where `find` uses fstatat on the directory it
 * just listed), so one thread pays more per entry than `find`; two threads make up for it. The
 * main thread only hands out jobs — a few directories and an entry budget each — and adds up the
 * answers, so its event loop stays free during the whole walk. The first refusal stops every
 * worker. Where a worker cannot start (no compiled worker script, e.g. under a TypeScript test
 * runner), the walk goes on in the main thread.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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

/** Worker threads being started for a walk: started early, handed the walk once they are up. */
export class WalkPool {
  readonly workers: Worker[] = [];
  private online = 0;
  failed = false;

  constructor(threads: number) {
    try {
      for (let i = 0; i < threads; i++) {
        const w = new Worker(WORKER_URL);
        w.once('online', () => this.online++);
        w.once('error', (e) => {
          debug('walk worker failed: %s', e.message);
          this.failed = true;
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

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
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
      const busy = new Map<Worker, Pending[]>();
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
          w.postMessage(job);
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
        w.on('error', () => {
          const lost = busy.get(w);
          busy.delete(w);
          if (lost) for (const p of lost) stack.push(p); // walked again by another worker (or the main thread)
          workers.splice(workers.indexOf(w), 1);
          if (workers.length === 0) finish('unavailable'); // the main thread walks what is left
          else dispatch();
        });
      }
      dispatch();
    });
  } finally {
    await pool.close();
  }
}
