/**
 * Making a copied snapshot tree read-only.
 *
 * - `immutable`: the inode immutable flag on every file and directory (`chattr -R +i`, Debian
 *   package e2fsprogs; ext4, xfs, btrfs, …). Writes, renames and deletes then fail with EPERM —
 *   also for root — and modes, owners and times stay exactly as copied.
 * - `mode-bits`: clear every write bit (files and directories). Protects against ordinary users
 *   only (root ignores mode bits) and changes the modes a restore would copy back; used only when
 *   the filesystem has no immutable flag (`auto`) or when asked for.
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { run, which } from '../sys/exec.js';

const debug = createDebug('fsrvp:storage');

export type ReadOnlyMethod = 'immutable' | 'mode-bits';

/** Whether the immutable flag is set on `path` (lsattr -d). */
export async function isImmutable(path: string): Promise<boolean> {
  const { stdout } = await run('lsattr', ['-d', path]);
  const flags = stdout.trim().split(/\s+/)[0] ?? '';
  return flags.includes('i');
}

/** Sets (or clears) the immutable flag on the tree at `path`; false when the filesystem cannot. */
export async function setImmutable(path: string, on: boolean): Promise<boolean> {
  if (!(await which('chattr'))) return false;
  try {
    // -f: quiet about entries that have no flags (symbolic links are skipped by chattr -R).
    await run('chattr', ['-R', '-f', on ? '+i' : '-i', path], { timeoutMs: 0 });
  } catch (e) {
    debug('chattr %s %s failed: %s', on ? '+i' : '-i', path, (e as Error).message);
    if (!on) return false;
  }
  try {
    return (await isImmutable(path)) === on;
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
export async function protectTree(path: string, method: ReadOnlyMethod | 'auto'): Promise<ReadOnlyMethod> {
  if (method !== 'mode-bits') {
    if (await setImmutable(path, true)) return 'immutable';
    if (method === 'immutable') throw new Error(`cannot set the immutable flag on ${path} (chattr +i); the filesystem may not support it`);
    debug('immutable flag not available on %s, clearing write bits instead', path);
  }
  await clearWriteBits(path);
  return 'mode-bits';
}

/** Undoes `protectTree` enough to delete the tree (clears the immutable flag; directories get u+w). */
export async function unprotectTree(path: string): Promise<void> {
  await setImmutable(path, false);
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
