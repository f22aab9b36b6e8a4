/**
 * A worker thread of the directory walk (tree-walk-parallel.ts): takes a job (directories to walk,
 * an entry budget), walks a slice on synchronous calls and answers with what it found and the
 * directories it did not reach.
 */
import { parentPort } from 'node:worker_threads';
import { walkSlice, type Pending, type WalkRules } from './tree-walk-rules.js';

export interface WalkJob {
  readonly stack: Pending[];
  readonly rootDev: number;
  readonly rules: WalkRules;
  readonly budget: number;
  readonly entriesLeft: number;
}

parentPort?.on('message', (job: WalkJob) => {
  const result = walkSlice(job.stack, job.rootDev, job.rules, job.budget, job.entriesLeft);
  parentPort!.postMessage({ ...result, rest: job.stack });
});
