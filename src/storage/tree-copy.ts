/**
 * Copies a directory tree file by file, cloning file data with reflinks where the filesystem can
 * (`copyFile(…, COPYFILE_FICLONE_FORCE)`: btrfs, xfs with reflink=1, …) and copying it otherwise.
 *
 * Kept: directories (also empty ones), regular files, hard links within the tree, symbolic links
 * (as links, never followed), permission bits incl. setuid/setgid/sticky, owner and group (when
 * running as root), access and modification times (to the microsecond: Node's utimes keeps no more), and extended
 * attributes — POSIX ACLs, Samba's security.NTACL and user.DOSATTRIB — when `getfattr` and
 * `setfattr` (Debian package attr) are installed. Not kept: inode flags (chattr), FIFOs, sockets
 * and device nodes (skipped and reported), contents of other filesystems mounted below the root
 * (an empty directory stands in, as btrfs does for nested subvolumes).
 *
 * On any failure or abort the partial copy is removed.
 */
import type { BigIntStats } from 'node:fs';
import { constants as fsc } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, opendir, readdir, readlink, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { join, relative } from 'node:path';
import createDebug from 'debug';
import { abortError, pipeline, untilAborted, which } from '../sys/exec.js';
import { helperGone } from '../sys/helper-process.js';
import type { FileOps } from './file-ops.js';

const debug = createDebug('fsrvp:storage');

/** `auto`: reflink, falling back to a copy; `always`: reflink or fail; `never`: always copy. */
export type CloneMode = 'auto' | 'always' | 'never';

export interface CopyTreeOptions {
  readonly signal?: AbortSignal;
  /** Called now and then with entries done and the total from a first counting pass. */
  readonly progress?: (done: number, total: number | undefined) => void;
  readonly reflink?: CloneMode;
  /** Files copied at the same time (default 8). */
  readonly concurrency?: number;
  /** chown copies to the source owner (default: when running as root). */
  readonly preserveOwnership?: boolean;
  /**
   * Copy extended attributes (default 'auto': when possible). Through `fileOps` when given (no
   * process), else with getfattr/setfattr (Debian package attr).
   */
  readonly xattrs?: boolean | 'auto';
  /** The copy backend's helper for tree-wide file operations. */
  readonly fileOps?: FileOps;
  /** Count entries first so progress has a total (default true). */
  readonly count?: boolean;
  /** Name used in progress logs. */
  readonly label?: string;
  /** Interval of progress log lines, ms (default 2000). */
  readonly logIntervalMs?: number;
}

/** How file data was copied: all reflinks, all byte copies, both, or no files at all. */
export type CopyMethod = 'reflink' | 'copy' | 'mixed' | 'none';

export interface CopyStats {
  readonly entries: number;
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly hardLinks: number;
  readonly bytes: number;
  readonly reflinked: number;
  readonly copied: number;
  /** Paths (relative to the source root) that were not copied, with the reason. */
  readonly skipped: ReadonlyArray<{ path: string; reason: string }>;
  readonly method: CopyMethod;
  readonly xattrs: 'copied' | 'not-requested' | 'unavailable' | 'failed';
  readonly ms: number;
}

/**
 * A time for utimes(): Node passes seconds as a double and libuv keeps whole microseconds
 * (truncating), so aim at the middle of the microsecond to keep it exactly. Sub-microsecond
 * digits are lost.
 */
export function timeArg(ns: bigint): number {
  return (Number(ns / 1000n) + 0.5) / 1e6;
}

/** Errors of FICLONE that mean "this filesystem pair cannot share extents". */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EBADF']);

interface Counters {
  entries: number; files: number; directories: number; symlinks: number; hardLinks: number;
  bytes: number; reflinked: number; copied: number;
}

/** Counts entries below `root` on the same device (for progress totals). */
export async function countEntries(root: string, signal?: AbortSignal): Promise<number> {
  const rootDev = (await lstat(root)).dev;
  const stack = [root];
  let n = 0;
  while (stack.length > 0) {
    if (signal?.aborted) throw abortError(signal);
    const dir = stack.pop()!;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      n++;
      if (e.isDirectory()) {
        const p = join(dir, e.name);
        try {
          if ((await lstat(p)).dev === rootDev) stack.push(p);
        } catch { /* vanished */ }
      }
    }
  }
  return n;
}

/** Copies the tree at `src` to `dst` (which must not exist). Removes `dst` again on failure. */
export async function copyTree(src: string, dst: string, opts: CopyTreeOptions = {}): Promise<CopyStats> {
  const started = Date.now();
  const rootStat = await lstat(src, { bigint: true });
  if (!rootStat.isDirectory()) throw new Error(`${src} is not a directory`);
  if (opts.signal?.aborted) throw abortError(opts.signal);
  await mkdir(dst, { mode: 0o700 });
  try {
    return await copyInto(src, dst, rootStat, opts, started);
  } catch (e) {
    await rm(dst, { recursive: true, force: true }).catch((re: Error) => debug('removing partial copy %s failed: %s', dst, re.message));
    throw e;
  }
}

async function copyInto(src: string, dst: string, rootStat: BigIntStats, opts: CopyTreeOptions, started: number): Promise<CopyStats> {
  const signal = opts.signal;
  const label = opts.label ?? src;
  const owner = opts.preserveOwnership ?? process.getuid?.() === 0;
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const total = opts.count === false ? undefined : await countEntries(src, signal);
  const c: Counters = { entries: 0, files: 0, directories: 0, symlinks: 0, hardLinks: 0, bytes: 0, reflinked: 0, copied: 0 };
  const skipped: Array<{ path: string; reason: string }> = [];
  let reflinkState: 'try' | 'off' = opts.reflink === 'never' ? 'off' : 'try';
  const linked = new Map<bigint, Promise<string>>();
  const dirMeta: Array<{ path: string; st: BigIntStats }> = [{ path: dst, st: rootStat }];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let lastLog = Date.now();
  let lastProgress = 0;
  const logEvery = opts.logIntervalMs ?? 2000;

  const tick = (): void => {
    c.entries++;
    const now = Date.now();
    if (opts.progress && (now - lastProgress >= 250 || c.entries === total)) {
      lastProgress = now;
      opts.progress(c.entries, total);
    }
    if (now - lastLog >= logEvery) {
      lastLog = now;
      debug('copy %s: %d/%s entries, %d files (%d reflinked, %d copied), %d MiB',
        label, c.entries, total ?? '?', c.files, c.reflinked, c.copied, Math.round(c.bytes / 1048576));
    }
  };

  const setMeta = async (path: string, st: BigIntStats, isLink = false): Promise<void> => {
    if (owner) await lchown(path, Number(st.uid), Number(st.gid));
    if (isLink) {
      await lutimes(path, timeArg(st.atimeNs), timeArg(st.mtimeNs));
      return;
    }
    await chmod(path, Number(st.mode & 0o7777n));
    await utimes(path, timeArg(st.atimeNs), timeArg(st.mtimeNs));
  };

  const copyData = async (from: string, to: string): Promise<void> => {
    if (reflinkState === 'try') {
      try {
        await copyFile(from, to, fsc.COPYFILE_FICLONE_FORCE | fsc.COPYFILE_EXCL);
        c.reflinked++;
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (opts.reflink === 'always' || !NO_REFLINK.has(code)) throw e;
        debug('copy %s: reflinks not possible (%s), copying file data', label, code);
        reflinkState = 'off';
        await unlink(to).catch(() => undefined);
      }
    }
    await copyFile(from, to, fsc.COPYFILE_EXCL);
    c.copied++;
  };

  const copyFileEntry = async (from: string, to: string, st: BigIntStats): Promise<void> => {
    if (st.nlink > 1n) {
      const first = linked.get(st.ino);
      if (first) {
        await link(await first, to);
        c.hardLinks++;
        return;
      }
      let resolveFirst!: (p: string) => void;
      let rejectFirst!: (e: unknown) => void;
      const p = new Promise<string>((res, rej) => { resolveFirst = res; rejectFirst = rej; });
      p.catch(() => undefined);
      linked.set(st.ino, p);
      try {
        await copyData(from, to);
        await setMeta(to, st);
        resolveFirst(to);
      } catch (e) {
        rejectFirst(e);
        throw e;
      }
    } else {
      await copyData(from, to);
      await setMeta(to, st);
    }
    c.files++;
    c.bytes += Number(st.size);
  };

  const schedule = async (job: () => Promise<void>): Promise<void> => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure) throw failure;
    const p: Promise<void> = job()
      .then(tick, (e: unknown) => { failure ??= e; })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  try {
    await walk();
  } catch (e) {
    // Let copies in flight finish before the caller removes the partial tree.
    await Promise.allSettled(inFlight);
    throw e;
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  if (signal?.aborted) throw abortError(signal);

  const xattrs = await copyXattrs(src, dst, opts);
  // Deepest directories first, so setting a parent's times is not undone by its children.
  for (let i = dirMeta.length - 1; i >= 0; i--) {
    if (signal?.aborted) throw abortError(signal);
    await setMeta(dirMeta[i]!.path, dirMeta[i]!.st);
  }
  opts.progress?.(c.entries, total);
  const method: CopyMethod = c.reflinked && c.copied ? 'mixed' : c.reflinked ? 'reflink' : c.copied ? 'copy' : 'none';
  const stats: CopyStats = { ...c, skipped, method, xattrs, ms: Date.now() - started };
  debug('copy %s done: %d entries, %d files, %d MiB, method %s, xattrs %s, %d skipped, %d ms',
    label, c.entries, c.files, Math.round(c.bytes / 1048576), method, xattrs, skipped.length, stats.ms);
  return stats;

  async function walk(): Promise<void> {
    const stack: Array<{ from: string; to: string }> = [{ from: src, to: dst }];
    while (stack.length > 0) {
      const { from, to } = stack.pop()!;
      const dir = await opendir(from, { bufferSize: 256 });
      for await (const entry of dir) {
        if (signal?.aborted) throw abortError(signal);
        if (failure) throw failure;
        const s = join(from, entry.name);
        const d = join(to, entry.name);
        let st: BigIntStats;
        try {
          st = await lstat(s, { bigint: true });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while copying
          throw e;
        }
        if (st.isDirectory()) {
          await mkdir(d, { mode: 0o700 });
          dirMeta.push({ path: d, st });
          c.directories++;
          if (st.dev === rootStat.dev) stack.push({ from: s, to: d });
          else skipped.push({ path: relative(src, s), reason: 'another filesystem is mounted here; left empty' });
          tick();
        } else if (st.isFile()) {
          await schedule(() => copyFileEntry(s, d, st));
        } else if (st.isSymbolicLink()) {
          await symlink(await readlink(s), d);
          await setMeta(d, st, true);
          c.symlinks++;
          tick();
        } else {
          skipped.push({ path: relative(src, s), reason: 'not a regular file, directory or symbolic link' });
          tick();
        }
      }
    }
  }
}

async function copyXattrs(src: string, dst: string, opts: CopyTreeOptions): Promise<CopyStats['xattrs']> {
  const want = opts.xattrs ?? 'auto';
  if (want === false) return 'not-requested';
  const failed = (e: unknown): CopyStats['xattrs'] => {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    if (want === true) throw e;
    debug('copying extended attributes of %s failed: %s', src, (e as Error).message);
    return 'failed';
  };
  if (opts.fileOps) {
    try {
      const r = await untilAborted(opts.fileOps.xattrCopy(src, dst), opts.signal);
      if (r.failed === 0) return 'copied';
      return failed(new Error(`${r.failed} extended attributes were not copied: ${r.errors.join('; ')}`));
    } catch (e) {
      // Without the helper (no python3, or it died), the tools below do it.
      if (!helperGone(e)) return failed(e);
      debug('extended attributes of %s: helper not used (%s); using getfattr/setfattr', src, (e as Error).message);
    }
  }
  const [getfattr, setfattr] = await Promise.all([which('getfattr'), which('setfattr')]);
  if (!getfattr || !setfattr) {
    if (want === true) throw new Error('copying extended attributes needs getfattr and setfattr (Debian package attr)');
    return 'unavailable';
  }
  try {
    // Relative paths on both sides: no rewriting of the dump, and -h keeps links unfollowed.
    await pipeline(
      { file: getfattr, args: ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.'] },
      { file: setfattr, args: ['-h', '--restore=-'] },
      { cwd: src, consumerCwd: dst, signal: opts.signal, timeoutMs: 0 },
    );
    return 'copied';
  } catch (e) {
    return failed(e);
  }
}
