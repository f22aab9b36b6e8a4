/**
 * One agent per state directory: a lock file created exclusively, holding the owner's PID. A lock
 * left by a process that no longer exists (a crash, kill -9) is taken over; a live owner makes
 * the second agent refuse to start, since two journals writers would corrupt state.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'fsrvp-state.lock';

export class StateLockedError extends Error {
  constructor(readonly dir: string, readonly pid: number) {
    super(`state directory ${dir} is in use by process ${pid} (another fsrvpd?); stop it or choose another stateDir`);
    this.name = 'StateLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface StateLock {
  release(): Promise<void>;
}

/** Takes the lock of `dir` (which must exist). Throws StateLockedError if a live process holds it. */
export async function lockStateDir(dir: string): Promise<StateLock> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      // The PID says who holds it; the nonce lets release() tell its own lock from a successor's.
      const content = `${process.pid} ${randomUUID()}\n`;
      await fh.writeFile(content);
      await fh.sync();
      await fh.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          if ((await readFile(path, 'utf8').catch(() => '')) === content) await rm(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim().split(' ')[0] ?? '', 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new StateLockedError(dir, pid);
    if (pid === process.pid) throw new StateLockedError(dir, pid);
    // Stale (owner gone, or an empty file from a crash mid-write): remove and try again.
    await rm(path, { force: true });
  }
  throw new Error(`could not take the lock ${path}`);
}
