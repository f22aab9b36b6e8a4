/**
 * Reflink/copy backend for any filesystem: a shadow copy is a copy of the share's tree, made file
 * by file with reflinks where the filesystem allows (btrfs, xfs with reflink=1: instant and
 * space-sharing) and byte copies elsewhere (ext4, tmpfs, across filesystems: slow for big shares).
 *
 * Volume = the share root itself (id `copy:<real path>`).
 *
 * Layout, per volume:
 *   `<snapshotDir>/<share basename>-<8 hex of sha256(root)>/` when `snapshotDir` is configured,
 *   `<share parent>/.fsrvp-snapshots/<share basename>/` otherwise — never inside the share, so
 *   snapshots do not appear in the live share. In it:
 *     `<name>/`           the snapshot tree (name: see naming.ts)
 *     `<name>.json`       metadata (volume id, source, writable, how it was made)
 *     `.<name>.partial/`  a copy in progress (removed on failure or abort)
 *
 * Read-only snapshots get the immutable flag (see protect.ts; EPERM on writes even for root),
 * falling back to clearing write bits on filesystems without it. `setReadOnly` applies the same.
 * Extended attributes and the flag go through the long-lived helper process (file-ops.ts), with
 * getfattr/setfattr, chattr and lsattr as the fallback.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import createDebug from 'debug';
import type { CheckOptions, CreateOptions, SnapshotBackend, SnapshotRef, Volume } from './backend.js';
import { abortError } from '../sys/exec.js';
import { writeFileAtomic } from '../sys/atomic.js';
import { isInside } from './mounts.js';
import { normalizeGuid, parseSnapshotName, snapshotName, toSeconds } from './naming.js';
import { checkTree, policyOptionsFor, refusal, type PolicyOptions, type PolicyRefusal } from './policy.js';
import { FileOps } from './file-ops.js';
import { protectTree, unprotectTree, type ReadOnlyMethod } from './protect.js';
import { copyTree, type CloneMode, type CopyMethod } from './tree-copy.js';
import { exists, unlessMissing } from '../sys/enoent.js';

const debug = createDebug('fsrvp:storage');

export const COPY_SNAPSHOT_DIR_NAME = '.fsrvp-snapshots';

export interface CopyBackendOptions {
  /** Base directory for snapshots; see the file comment for the default. */
  readonly snapshotDir?: string;
  /** Reflink use (default 'auto': reflink where possible, byte copy otherwise). */
  readonly reflink?: CloneMode;
  /** Files copied in parallel (default 8). */
  readonly concurrency?: number;
  /** Copy extended attributes (ACLs, Samba NT ACLs); default 'auto'. */
  readonly xattrs?: boolean | 'auto';
  /** How read-only snapshots are protected (default 'auto': immutable flag, else write bits). */
  readonly readOnly?: ReadOnlyMethod | 'auto';
  /** Directory-structure policy for `check()` (ONTAP-like defaults, see policy.ts). */
  readonly policy?: Partial<PolicyOptions>;
  /**
   * Extended attributes and the immutable flag through the long-lived helper process (default
   * true); the tools (getfattr/setfattr, chattr, lsattr) are the fallback.
   */
  readonly helper?: boolean;
  /** Python interpreter for the helper (default /usr/bin/python3). */
  readonly python?: string;
  /** The helper script (default: src/sys/helpers/fsrvp_helper.py, found from this module). */
  readonly helperScript?: string;
}

/** Metadata stored beside each snapshot. */
export interface CopySnapshotMeta {
  readonly version: 1;
  readonly backend: 'copy';
  readonly volumeId: string;
  readonly source: string;
  readonly name: string;
  readonly shadowCopyId: string;
  readonly writable: boolean;
  readonly createdAt: number;
  readonly method: CopyMethod;
  readonly readOnlyMethod?: ReadOnlyMethod;
}

/** A snapshot made by this backend: a SnapshotRef plus how its data was copied. */
export interface CopySnapshotRef extends SnapshotRef {
  readonly method: CopyMethod;
}

export class CopyBackend implements SnapshotBackend {
  readonly name = 'copy';
  private readonly fileOps: FileOps | undefined;

  constructor(private readonly options: CopyBackendOptions = {}) {
    if (options.helper ?? true) this.fileOps = new FileOps({ python: options.python, script: options.helperScript });
  }

  /** Stops the helper process (if this was its last user). The backend stays usable (it restarts it). */
  async close(): Promise<void> {
    await this.fileOps?.close();
  }

  async supports(path: string): Promise<boolean> {
    try {
      return (await stat(path)).isDirectory();
    } catch {
      return false;
    }
  }

  async volumeOf(sharePath: string): Promise<Volume> {
    const root = await realpath(sharePath);
    if (!(await stat(root)).isDirectory()) throw new Error(`${sharePath} is not a directory`);
    return { id: `copy:${root}`, root, backend: this.name };
  }

  /** Where the snapshots of the volume rooted at `root` live. */
  snapshotDirFor(root: string): string {
    const label = basename(root) || 'root';
    if (this.options.snapshotDir) {
      const tag = createHash('sha256').update(root).digest('hex').slice(0, 8);
      return join(this.options.snapshotDir, `${label}-${tag}`);
    }
    return join(dirname(root), COPY_SNAPSHOT_DIR_NAME, label);
  }

  async check(sharePath: string, options: CheckOptions = {}): Promise<PolicyRefusal | undefined> {
    let root: string;
    try {
      root = (await this.volumeOf(sharePath)).root;
    } catch (e) {
      return refusal('not-a-directory', sharePath, (e as Error).message);
    }
    if (root === '/') return refusal('location', root, 'the share is the filesystem root');
    const dir = this.snapshotDirFor(root);
    if (isInside(dir, root)) {
      return refusal('location', root, `snapshots would be stored inside the share (${dir}); configure another snapshotDir`);
    }
    if (root.split('/').includes(COPY_SNAPSHOT_DIR_NAME) || (this.options.snapshotDir && isInside(root, this.options.snapshotDir))) {
      return refusal('location', root, 'the share is inside a snapshot directory');
    }
    const policy = options.policy ? policyOptionsFor(options.policy) : this.options.policy;
    return checkTree(root, policy, options.progress ? { progress: options.progress } : {});
  }

  async create(volume: Volume, opts: CreateOptions): Promise<CopySnapshotRef> {
    const guid = normalizeGuid(opts.shadowCopyId);
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const dir = this.snapshotDirFor(volume.root);
    if (isInside(dir, volume.root)) throw new Error(`refusing to copy ${volume.root} into itself (${dir}); configure another snapshotDir`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const createdAt = toSeconds(Date.now());
    let seq = 1;
    let name = snapshotName(guid, createdAt);
    while ((await exists(join(dir, name))) || (await exists(join(dir, `.${name}.partial`)))) {
      name = snapshotName(guid, createdAt, ++seq);
    }
    const path = join(dir, name);
    const partial = join(dir, `.${name}.partial`);
    const metaPath = `${path}.json`;
    debug('copy snapshot %s -> %s (%s)', volume.root, path, opts.writable ? 'writable' : 'read-only');
    const stats = await copyTree(volume.root, partial, {
      signal: opts.signal,
      progress: opts.progress,
      reflink: this.options.reflink,
      concurrency: this.options.concurrency,
      xattrs: this.options.xattrs,
      fileOps: this.fileOps,
      label: `${volume.root} -> ${name}`,
    });
    try {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      let meta: CopySnapshotMeta = {
        version: 1, backend: 'copy', volumeId: volume.id, source: volume.root, name,
        shadowCopyId: guid, writable: opts.writable, createdAt, method: stats.method,
      };
      await writeFileAtomic(metaPath, JSON.stringify(meta, null, 2) + '\n');
      await rename(partial, path);
      if (!opts.writable) {
        const readOnlyMethod = await protectTree(path, this.options.readOnly ?? 'auto', this.fileOps);
        meta = { ...meta, readOnlyMethod };
        await writeFileAtomic(metaPath, JSON.stringify(meta, null, 2) + '\n');
      }
    } catch (e) {
      await this.removeTree(partial);
      await this.removeTree(path);
      await rm(metaPath, { force: true });
      throw e;
    }
    debug('copy snapshot %s made by %s in %d ms (%d files, %d bytes)', path, stats.method, stats.ms, stats.files, stats.bytes);
    return { backend: this.name, volumeId: volume.id, path, name, writable: opts.writable, createdAt, method: stats.method };
  }

  async setReadOnly(snap: SnapshotRef): Promise<void> {
    this.assertOurs(snap);
    const meta = await readMeta(`${snap.path}.json`);
    const readOnlyMethod = await protectTree(snap.path, this.options.readOnly ?? 'auto', this.fileOps);
    if (meta && (meta.writable || meta.readOnlyMethod !== readOnlyMethod)) {
      await writeFileAtomic(`${snap.path}.json`, JSON.stringify({ ...meta, writable: false, readOnlyMethod }, null, 2) + '\n');
    }
    debug('copy snapshot %s is read-only (%s)', snap.path, readOnlyMethod);
  }

  async delete(snap: SnapshotRef): Promise<void> {
    this.assertOurs(snap);
    await this.removeTree(snap.path);
    await this.removeTree(join(dirname(snap.path), `.${snap.name}.partial`));
    await rm(`${snap.path}.json`, { force: true });
    debug('deleted copy snapshot %s', snap.path);
  }

  private async removeTree(path: string): Promise<void> {
    if (!(await exists(path))) return;
    await unprotectTree(path, this.fileOps);
    await rm(path, { recursive: true, force: true });
  }

  private assertOurs(snap: SnapshotRef): void {
    if (snap.backend !== this.name || basename(snap.path) !== snap.name || !parseSnapshotName(snap.name)) {
      throw new Error(`${snap.path} is not a snapshot made by the copy backend`);
    }
  }

  async list(volume: Volume): Promise<CopySnapshotRef[]> {
    const dir = this.snapshotDirFor(volume.root);
    const names = await unlessMissing(readdir(dir));
    if (names === undefined) return [];
    // A snapshot is its directory plus `<name>.json`, both in this listing. Start-up
    // reconciliation lists every snapshot: the metadata files are read synchronously (readMetaSync).
    const present = new Set(names);
    const candidates = names.filter((n) => parseSnapshotName(n) && present.has(`${n}.json`)).sort();
    const found: CopySnapshotRef[] = [];
    for (let i = 0; i < candidates.length; i++) {
      if (i > 0 && i % 256 === 0) await new Promise<void>((r) => setImmediate(r));
      const name = candidates[i] as string;
      const path = join(dir, name);
      const meta = readMetaSync(`${path}.json`);
      if (!meta || meta.volumeId !== volume.id || meta.name !== name) continue;
      found.push({ backend: this.name, volumeId: volume.id, path, name, writable: meta.writable, createdAt: meta.createdAt, method: meta.method });
    }
    return found;
  }

  /** Removes copies left half-done by a crash (`.<name>.partial`); returns their paths. */
  async removePartials(volume: Volume): Promise<string[]> {
    const dir = this.snapshotDirFor(volume.root);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names) {
      const m = /^\.(.+)\.partial$/.exec(n);
      if (!m || !parseSnapshotName(m[1]!)) continue;
      await this.removeTree(join(dir, n));
      removed.push(join(dir, n));
    }
    return removed;
  }
}

function parseMeta(text: string): CopySnapshotMeta | undefined {
  try {
    const meta = JSON.parse(text) as Partial<CopySnapshotMeta>;
    if (meta.version !== 1 || meta.backend !== 'copy' || typeof meta.volumeId !== 'string') return undefined;
    return meta as CopySnapshotMeta;
  } catch {
    return undefined;
  }
}

async function readMeta(path: string): Promise<CopySnapshotMeta | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseMeta(text);
}

/**
 * readMeta by one synchronous read: a metadata file is a few hundred bytes in the agent's own
 * snapshot directory, and one read call costs far less than the four thread-pool round trips of
 * readFile (start-up lists every snapshot: 10,000 files). list() yields between batches.
 */
function readMetaSync(path: string): CopySnapshotMeta | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return parseMeta(text);
}

