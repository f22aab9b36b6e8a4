/**
 * Retained snapshots: list them, restore a file or directory from one into the live share, and
 * prune old ones. Library functions for the admin CLI; they work with any SnapshotBackend.
 */
import type { Stats } from 'node:fs';
import { constants as fsc } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, readlink, realpath, rename, rm, symlink, utimes } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import createDebug from 'debug';
import type { SnapshotBackend, SnapshotRef, Volume } from './backend.js';
import { parseSnapshotName } from './naming.js';
import { copyTree, timeArg, type CloneMode, type CopyStats } from './tree-copy.js';

const debug = createDebug('fsrvp:storage');

export interface RetainedSnapshot extends SnapshotRef {
  /** The shadow copy id embedded in the name (undefined for names from elsewhere). */
  readonly shadowCopyId: string | undefined;
  readonly ageMs: number;
}

/** The backend's snapshots of `volume`, newest first. */
export async function listRetained(backend: SnapshotBackend, volume: Volume, now = Date.now()): Promise<RetainedSnapshot[]> {
  const refs = await backend.list(volume);
  return refs
    .map((r) => ({ ...r, shadowCopyId: parseSnapshotName(r.name)?.shadowCopyId, ageMs: Math.max(0, now - r.createdAt) }))
    .sort((a, b) => b.createdAt - a.createdAt || (a.name < b.name ? 1 : -1));
}

export interface PruneOptions {
  /** Delete snapshots older than this. */
  readonly maxAgeMs?: number;
  /** Keep at most this many (the newest); older ones are deleted. */
  readonly keepLast?: number;
  /** Snapshots never deleted, e.g. ones still exposed or in an active shadow copy set. */
  readonly keep?: (snap: SnapshotRef) => boolean;
  /** Report what would be deleted without deleting. */
  readonly dryRun?: boolean;
  readonly now?: number;
}

export interface PruneResult {
  readonly deleted: RetainedSnapshot[];
  readonly kept: RetainedSnapshot[];
}

/**
 * Deletes the snapshots of `volume` that are older than `maxAgeMs` or beyond the newest
 * `keepLast` (either rule suffices), except those `keep` protects. With neither rule, nothing
 * is deleted.
 */
export async function prune(backend: SnapshotBackend, volume: Volume, opts: PruneOptions): Promise<PruneResult> {
  if (opts.keepLast !== undefined && (!Number.isInteger(opts.keepLast) || opts.keepLast < 0)) {
    throw new RangeError(`keepLast must be a non-negative integer, not ${opts.keepLast}`);
  }
  if (opts.maxAgeMs !== undefined && !(opts.maxAgeMs >= 0)) throw new RangeError(`maxAgeMs must be ≥ 0, not ${opts.maxAgeMs}`);
  const all = await listRetained(backend, volume, opts.now);
  const deleted: RetainedSnapshot[] = [];
  const kept: RetainedSnapshot[] = [];
  all.forEach((snap, index) => {
    const tooOld = opts.maxAgeMs !== undefined && snap.ageMs > opts.maxAgeMs;
    const tooMany = opts.keepLast !== undefined && index >= opts.keepLast;
    if ((tooOld || tooMany) && !opts.keep?.(snap)) deleted.push(snap);
    else kept.push(snap);
  });
  if (!opts.dryRun) {
    for (const snap of deleted) {
      debug('pruning %s (%s old)', snap.path, `${Math.round(snap.ageMs / 1000)} s`);
      await backend.delete(snap);
    }
  }
  return { deleted, kept };
}

/** What to do when the restore target exists in the live share. */
export type OnExisting = 'fail' | 'replace' | 'rename';

export interface RestoreOptions {
  readonly snapshot: SnapshotRef;
  /** The volume the snapshot was taken of (the snapshot root corresponds to `volume.root`). */
  readonly volume: Volume;
  /** The live share's root (at or below `volume.root`). */
  readonly sharePath: string;
  /** File or directory to restore, relative to the share root. */
  readonly relPath: string;
  /** Where to put it, relative to the share root (default: `relPath`). */
  readonly targetRelPath?: string;
  /**
   * When the target exists: 'fail' (default), 'replace' (swap in the restored copy, then delete the
   * old one), or 'rename' (keep the old one beside it as `<name>.pre-restore-<stamp>`).
   */
  readonly onExisting?: OnExisting;
  readonly reflink?: CloneMode;
  readonly signal?: AbortSignal;
  readonly progress?: (done: number, total: number | undefined) => void;
}

export interface RestoreResult {
  readonly source: string;
  readonly target: string;
  /** Where the previous version went with onExisting 'rename'. */
  readonly previous?: string;
  readonly replaced: boolean;
  readonly kind: 'file' | 'directory' | 'symlink';
  readonly stats?: CopyStats;
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

/** Splits a share-relative path into components; refuses absolute paths, `..`, and the share root itself. */
export function safeRelative(rel: string): string[] {
  if (rel.includes('\0')) throw new RestoreError('path contains a NUL character');
  const unified = rel.replace(/\\/g, '/');
  if (isAbsolute(unified)) throw new RestoreError(`path must be relative to the share root: ${rel}`);
  const parts = unified.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new RestoreError(`path must not contain "..": ${rel}`);
  if (parts.length === 0) throw new RestoreError('restoring the share root itself is not supported; name a file or directory in it');
  return parts;
}

/** lstat every component of `parts` below `base`; refuses symbolic links except (optionally) the last. */
async function walkNoSymlinks(base: string, parts: readonly string[], lastMayBeLink: boolean): Promise<{ path: string; st: Stats | undefined }> {
  let path = base;
  let st: Stats | undefined;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]!);
    try {
      st = await lstat(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        if (i === parts.length - 1) return { path, st: undefined };
        throw new RestoreError(`${path} does not exist`);
      }
      throw e;
    }
    const last = i === parts.length - 1;
    if (st.isSymbolicLink() && !(last && lastMayBeLink)) throw new RestoreError(`${path} is a symbolic link; not following it`);
    if (!last && !st.isDirectory()) throw new RestoreError(`${path} is not a directory`);
  }
  return { path, st };
}

/** Restores a file, symbolic link or directory from a snapshot into the live share. */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const from = safeRelative(opts.relPath);
  const to = safeRelative(opts.targetRelPath ?? opts.relPath);
  const share = await realpath(opts.sharePath);
  const volumeRoot = await realpath(opts.volume.root);
  const shareRel = relative(volumeRoot, share);
  if (shareRel.startsWith('..') || isAbsolute(shareRel)) throw new RestoreError(`${share} is not inside the volume ${volumeRoot}`);
  const shareParts = shareRel ? shareRel.split(sep) : [];

  const src = await walkNoSymlinks(opts.snapshot.path, [...shareParts, ...from], true);
  if (!src.st) throw new RestoreError(`${opts.relPath} does not exist in snapshot ${opts.snapshot.name}`);
  const kind = src.st.isDirectory() ? 'directory' : src.st.isFile() ? 'file' : src.st.isSymbolicLink() ? 'symlink' : undefined;
  if (!kind) throw new RestoreError(`${src.path} is not a file, directory or symbolic link`);

  const dst = await walkNoSymlinks(share, to, true);
  const parent = dirname(dst.path);
  const onExisting = opts.onExisting ?? 'fail';
  if (dst.st && onExisting === 'fail') throw new RestoreError(`${dst.path} exists (choose replace or rename)`);

  const tag = randomBytes(4).toString('hex');
  const tmp = join(parent, `.${basename(dst.path)}.fsrvp-restore-${tag}`);
  let stats: CopyStats | undefined;
  try {
    if (kind === 'directory') {
      stats = await copyTree(src.path, tmp, { signal: opts.signal, progress: opts.progress, reflink: opts.reflink, label: `restore ${opts.relPath}` });
    } else if (kind === 'file') {
      await copyOneFile(src.path, tmp, opts.reflink ?? 'auto');
    } else {
      await copySymlink(src.path, tmp);
    }
    // The parent must still be where we checked it (no symlink swapped in meanwhile).
    if ((await realpath(parent)) !== normalize(parent)) throw new RestoreError(`${parent} moved while restoring`);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }

  let previous: string | undefined;
  let replaced = false;
  if (dst.st) {
    const aside = onExisting === 'rename'
      ? join(parent, `${basename(dst.path)}.pre-restore-${stamp()}`)
      : join(parent, `.${basename(dst.path)}.fsrvp-old-${tag}`);
    await rename(dst.path, aside);
    try {
      await rename(tmp, dst.path);
    } catch (e) {
      await rename(aside, dst.path).catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    if (onExisting === 'rename') previous = aside;
    else await rm(aside, { recursive: true, force: true });
    replaced = true;
  } else {
    await rename(tmp, dst.path);
  }
  debug('restored %s from %s to %s', opts.relPath, opts.snapshot.name, dst.path);
  return { source: src.path, target: dst.path, previous, replaced, kind, stats };
}

async function copyOneFile(from: string, to: string, mode: CloneMode): Promise<void> {
  const st = await lstat(from, { bigint: true });
  const flags = fsc.COPYFILE_EXCL | (mode === 'always' ? fsc.COPYFILE_FICLONE_FORCE : mode === 'auto' ? fsc.COPYFILE_FICLONE : 0);
  await copyFile(from, to, flags);
  if (process.getuid?.() === 0) await lchown(to, Number(st.uid), Number(st.gid));
  await chmod(to, Number(st.mode & 0o7777n));
  await utimes(to, timeArg(st.atimeNs), timeArg(st.mtimeNs));
}

async function copySymlink(from: string, to: string): Promise<void> {
  const st = await lstat(from, { bigint: true });
  await symlink(await readlink(from), to);
  if (process.getuid?.() === 0) await lchown(to, Number(st.uid), Number(st.gid));
  await lutimes(to, timeArg(st.atimeNs), timeArg(st.mtimeNs));
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
