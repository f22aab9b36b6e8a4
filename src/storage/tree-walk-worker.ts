/**
 * A walk process of the directory walk (tree-walk-parallel.ts), started with an IPC channel:
 * takes a job (directories to walk, an entry budget), walks a slice on synchronous calls — in a
 * process of its own it may change its current directory, so entries are stat'ed by name — and
 * answers with what it found and the directories it did not reach. Exits when the channel closes
 * (the agent stopped or died).
 */
import { walkSlice, type Pending, type WalkRules } from './tree-walk-rules.js';

export interface WalkJob {
  readonly stack: Pending[];
  readonly rootDev: number;
  readonly rules: WalkRules;
  readonly budget: number;
  readonly entriesLeft: number;
}

if (process.send) {
  process.on('message', (job: WalkJob) => {
    const result = walkSlice(job.stack, job.rootDev, job.rules, job.budget, job.entriesLeft, true);
    process.send!({ ...result, rest: job.stack });
  });
  process.on('disconnect', () => process.exit(0));
}
