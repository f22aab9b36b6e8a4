import { lstat } from 'node:fs/promises';

/** Awaits `p`; a missing file or directory (ENOENT) gives undefined, any other error is thrown. */
export async function unlessMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Whether anything (a file, directory or link, not followed) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
