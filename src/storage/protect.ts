/**
 * Making a copied snapshot tree read-only.
 *
 * - `immutable`: the inode immutable flag on every file and directory (by ioctl through the
 *   helper, else `chattr -R +i`, Debian package e2fsprogs; ext4, xfs, btrfs, …). Writes, renames
 *   and deletes then fail with EPERM — also for root — and modes, owners and times stay exactly
 *   as copied.
 * - `mode-bits`: clear every write bit (files and directories). Protects against ordinary users
 *   only (root ignores mode bits) and changes the modes a restore would copy back; used only when
 *   the filesystem has no immutable flag (`auto`) or when asked for.
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { run, which } from '../sys/exec.js';
import { helperGone } from '../sys/helper-process.js';
import { isFlagsUnsupported, type FileOps } from './file-ops.js';

const debug = createDebug('fsrvp:storage');

export type ReadOnlyMethod = 'immutable' | 'mode-bits';

/** Whether the immutable flag is set on `path` (by ioctl through `ops`, else lsattr -d). */
export async function isImmutable(path: string, ops?: FileOps): Promise<boolean> {
  if (ops) {
    try {
      return await ops.isImmutable(path);
    } catch (e) {
      if (isFlagsUnsupported(e)) return false;
      if (!helperGone(e)) throw e;
    }
  }
  const { stdout } = await run('lsattr', ['-d', path]);
  const flags = stdout.trim().split(/\s+/)[0] ?? '';
  return flags.includes('i');
}

/**
 * Sets (or clears) the immutable flag on the tree at `path`; false when the filesystem cannot.
 * By ioctl through `ops` when given, else `chattr -R`. As with `chattr -f`, entries that refuse are
 * logged, and the answer is the root's flag afterwards.
 */
export async function setImmutable(path: string, on: boolean, ops?: FileOps): Promise<boolean> {
  if (ops) {
    try {
      const r = await ops.setImmutable(path, on);
      if (r.failed > 0) debug('immutable flag %s on %s: %d entries refused: %s', on ? 'set' : 'cleared', path, r.failed, r.errors.join('; '));
      return r.immutable === on;
    } catch (e) {
      if (isFlagsUnsupported(e)) return false;
      if (!helperGone(e)) throw e;
      debug('immutable flag on %s: helper not used (%s); using chattr', path, (e as Error).message);
    }
  }
  if (!(await which('chattr'))) return false;
  try {
    // -f: quiet about entries that have no flags (symbolic links are skipped by chattr -R).
    await run('chattr', ['-R', '-f', on ? '+i' : '-i', path], { timeoutMs: 0 });
  } catch (e) {
    debug('chattr %s %s failed: %s', on ? '+i' : '-i', path, (e as Error).message);
    if (!on) return false;
  }
  try {
    return (await isImmutable(path, ops)) === on;
  } catch {
    return false;
  }
}

/** Clears every write bit on the files and directories at and below `path` (symbolic links untouched). */
export async function clearWriteBits(path: string): Promise<void> {
  const stack = [path];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) for (const name of await readdir(p)) stack.push(join(p, name));
    await chmod(p, st.mode & 0o7777 & ~0o222);
  }
}

/** Makes the tree read-only with `method` ('auto': immutable when possible); returns what was used. */
export async function protectTree(path: string, method: ReadOnlyMethod | 'auto', ops?: FileOps): Promise<ReadOnlyMethod> {
  if (method !== 'mode-bits') {
    if (await setImmutable(path, true, ops)) return 'immutable';
    if (method === 'immutable') throw new Error(`cannot set the immutable flag on ${path} (chattr +i); the filesystem may not support it`);
    debug('immutable flag not available on %s, clearing write bits instead', path);
  }
  await clearWriteBits(path);
  return 'mode-bits';
}

/** Undoes `protectTree` enough to delete the tree (clears the immutable flag; directories get u+w). */
export async function unprotectTree(path: string, ops?: FileOps): Promise<void> {
  await setImmutable(path, false, ops);
  if (process.getuid?.() !== 0) {
    const stack = [path];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const st = await lstat(p);
      if (!st.isDirectory()) continue;
      await chmod(p, (st.mode & 0o7777) | 0o700);
      for (const name of await readdir(p)) stack.push(join(p, name));
    }
  }
}
