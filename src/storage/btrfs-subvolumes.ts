/**
 * Nested btrfs subvolumes below a share, found without walking the tree: `btrfs subvolume list
 * -o PATH` lists the subvolumes whose parent is the subvolume holding PATH (one tree search in
 * the kernel, BTRFS_IOC_TREE_SEARCH, needs CAP_SYS_ADMIN), each with its path from the
 * filesystem's top level; the mount table (mountinfo's root field: the path within the
 * filesystem that is mounted) turns the share's local path into that form. Subvolumes nested
 * deeper are inside one of these, so the first one inside the share is enough to refuse it.
 */
import { run } from '../sys/exec.js';
import { isInside, mountOf, type MountEntry } from './mounts.js';

/** Paths from the top level in `btrfs subvolume list -o` output (`ID n gen n top level n path P`). */
export function parseSubvolumeListPaths(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^ID \d+ .*? path (.+)$/.exec(line);
    if (m && !m[1]!.startsWith('<FS_TREE>')) out.push(m[1]!);
  }
  return out;
}

/** `path` (real, absolute, on btrfs) as a path from the filesystem's top level, e.g. `/vol/share`. */
export function pathInFilesystem(path: string, mounts: readonly MountEntry[]): string | undefined {
  const m = mountOf(path, mounts);
  if (!m || m.fsType !== 'btrfs' || !m.root.startsWith('/') || m.root.includes('//deleted')) return undefined;
  const rest = m.mountPoint === '/' ? path : path.slice(m.mountPoint.length);
  const joined = (m.root === '/' ? '' : m.root) + rest;
  return joined === '' ? '/' : joined;
}

/**
 * The local paths of the nested subvolumes strictly below `share` among `listed` (top-level
 * paths from parseSubvolumeListPaths), sorted.
 */
export function nestedBelow(share: string, shareInFs: string, listed: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of listed) {
    const abs = `/${p}`;
    if (abs === shareInFs || !isInside(abs, shareInFs)) continue;
    const tail = shareInFs === '/' ? abs : abs.slice(shareInFs.length);
    out.push(share === '/' ? tail : share + tail);
  }
  return out.sort();
}

/**
 * The nested subvolumes below `share`, or undefined when the filesystem cannot tell (the tool
 * fails: not root, an old kernel; the share's place in the filesystem is unknown): the caller
 * then walks the tree and compares st_dev.
 */
export async function listNestedSubvolumes(
  share: string, mounts: readonly MountEntry[], btrfsCommand = 'btrfs', timeoutMs = 60_000,
): Promise<string[] | undefined> {
  const inFs = pathInFilesystem(share, mounts);
  if (inFs === undefined) return undefined;
  try {
    const { stdout } = await run(btrfsCommand, ['subvolume', 'list', '-o', share], { timeoutMs });
    return nestedBelow(share, inFs, parseSubvolumeListPaths(stdout));
  } catch {
    return undefined;
  }
}

/**
 * The nested subvolumes below `top`: by ioctl through `io` (the btrfs helper, no process) when
 * given; after its failure (`onIoctlError` hears of it) or without it, from `btrfs subvolume list -o`.
 */
export async function nestedSubvolumes(
  top: string, mounts: readonly MountEntry[],
  o: { readonly io?: { nestedSubvolumes(path: string): Promise<string[]> } | undefined; readonly onIoctlError?: (e: unknown) => void; readonly cmd: string; readonly timeoutMs: number },
): Promise<string[] | undefined> {
  if (o.io !== undefined) {
    try {
      return await o.io.nestedSubvolumes(top);
    } catch (e) {
      o.onIoctlError?.(e);
    }
  }
  return listNestedSubvolumes(top, mounts, o.cmd, o.timeoutMs);
}
