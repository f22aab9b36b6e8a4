/**
 * btrfs backend: a shadow copy is a btrfs snapshot of the subvolume that holds the share.
 *
 * Where snapshots go (per volume, i.e. per subvolume):
 * - `snapshotDir` configured: `<snapshotDir>/<subvolume basename>/` (must be on the same btrfs
 *   filesystem; another mount of it is fine);
 * - otherwise, when the subvolume root is not a mount point: beside it,
 *   `<parent of subvolume>/.fsrvp-snapshots/<subvolume basename>/` — outside the subvolume, so
 *   snapshots never show up in the share and are never inside a later snapshot;
 * - otherwise (the subvolume is itself mounted, e.g. the top level or `subvol=`):
 *   `<subvolume root>/.fsrvp-snapshots/`, accepted only for shares that do not contain it
 *   (`check()` refuses a share rooted at such a subvolume and asks for `snapshotDir`).
 *
 * Names: see naming.ts. `list()` reports only names of that form whose btrfs "Parent UUID" is the
 * volume's UUID. Read-only snapshots use the btrfs read-only flag (writes fail with EROFS, even
 * for root); `setReadOnly` sets it.
 *
 * Snapshot create, delete, setReadOnly and the nested-subvolume list go by ioctl through a helper
 * process, the tool being the fallback (btrfs-ioctl.ts). Checks: btrfs-check.ts; listing: btrfs-list.ts.
 */
import { statSync } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import createDebug from 'debug';
import type { CheckOptions, CreateOptions, SnapshotBackend, SnapshotRef, Volume } from './backend.js';
import { CommandError, abortError, run, untilAborted, which } from '../sys/exec.js';
import { HelperError, HelperFailure } from '../sys/helper-process.js';
import { BtrfsIoctl, ioctlFallbackKind } from './btrfs-ioctl.js';
import { FS_MAGIC, fsTypeOf, readMounts, type MountEntry } from './mounts.js';
import { normalizeGuid, parseSnapshotName, snapshotName, toSeconds } from './naming.js';
import { BTRFS_SUBVOLUME_INO, type PolicyOptions, type PolicyRefusal } from './policy.js';
import { checkBtrfsShare, SNAPSHOT_DIR_NAME } from './btrfs-check.js';
import { nestedSubvolumes } from './btrfs-subvolumes.js';
import { listSnapshots } from './btrfs-list.js';
import { subvolumeRootOf, parseSubvolumeShow, type SubvolumeInfo } from './btrfs-tool.js';
import { exists, unlessMissing } from '../sys/enoent.js';
import { createPlaced, type PlacedContext } from './btrfs-placed.js';
import { placementForVolume, type Placement, type ShareShadowConf } from './layout.js';
import { OwnedSnapshots } from './owned.js';

const debug = createDebug('fsrvp:storage');

export { SNAPSHOT_DIR_NAME } from './btrfs-check.js';
export { parseSubvolumeList, parseSubvolumeShow, type SubvolumeInfo, type SubvolumeListEntry } from './btrfs-tool.js';

export interface BtrfsBackendOptions {
  /** Directory that holds snapshots (on the same btrfs filesystem); see the file comment for the default. */
  readonly snapshotDir?: string;
  /** The btrfs tool (name on PATH or absolute path); default `btrfs`. */
  readonly btrfsCommand?: string;
  /** Directory-structure policy for `check()` (ONTAP-like defaults, see policy.ts). */
  readonly policy?: Partial<PolicyOptions>;
  /** Timeout of each btrfs command or ioctl, ms (default 120 s). */
  readonly timeoutMs?: number;
  /** Create, delete and set read-only by ioctl through the helper process (default true; the btrfs tool is the fallback). */
  readonly ioctl?: boolean;
  /** Python interpreter for the helper (default /usr/bin/python3). */
  readonly python?: string;
  /** The helper script (default: src/sys/helpers/fsrvp_helper.py, found from this module). */
  readonly helperScript?: string;
  /**
   * The shares' shadow_copy2 settings (e.g. ShadowConfReader over testparm): snapshots go where
   * they make the share's previous versions (layout.ts). Needs `ownedFile`. Without: the README layout.
   */
  readonly shareSettings?: (shareName?: string) => Promise<readonly ShareShadowConf[]>;
  /** State file recording the snapshots made in shadow_copy2 placements (owned.ts). */
  readonly ownedFile?: string;
}

/** What `btrfs subvolume show` says about a subvolume. */
export class BtrfsBackend implements SnapshotBackend {
  readonly name = 'btrfs';
  private readonly cmd: string;
  private readonly timeoutMs: number;
  private readonly identityCache = new Map<string, Pick<SubvolumeInfo, 'uuid' | 'id'>>();
  private ioctl: BtrfsIoctl | undefined;
  /** Why the ioctl path is off (undefined while it is used). */
  ioctlDisabled: string | undefined;

  private readonly owned: OwnedSnapshots | undefined;
  private readonly reserved = new Set<string>();
  private readonly placements = new WeakMap<object, Map<string, ReturnType<typeof placementForVolume>>>();

  constructor(private readonly options: BtrfsBackendOptions = {}) {
    this.owned = options.ownedFile ? new OwnedSnapshots(options.ownedFile) : undefined;
    this.cmd = options.btrfsCommand ?? 'btrfs';
    this.timeoutMs = options.timeoutMs ?? 120_000;
    if (options.ioctl ?? true) {
      this.ioctl = new BtrfsIoctl({ timeoutMs: this.timeoutMs, python: options.python, script: options.helperScript });
    } else {
      this.ioctlDisabled = 'disabled by configuration';
    }
  }

  /** Stops the helper process (if this was its last user). The backend stays usable (it restarts it). */
  async close(): Promise<void> {
    await this.ioctl?.close();
  }

  /** Whether to redo the call with the btrfs tool (ioctlFallbackKind); turns the ioctls off for good when they cannot work. */
  private ioctlFallback(e: unknown, what: string): boolean {
    const fallback = ioctlFallbackKind(e);
    if (fallback === 'for-good') {
      this.ioctlDisabled = `${what}: ${(e as Error).message}`;
      debug('btrfs ioctls off, using the %s tool from now on: %s', this.cmd, this.ioctlDisabled);
      const io = this.ioctl;
      this.ioctl = undefined;
      void io?.close();
    } else if (fallback === 'this-call') {
      debug('btrfs %s: %s; using the %s tool for this call', what, (e as Error).message, this.cmd);
    }
    return fallback !== undefined;
  }

  private btrfs(args: string[], signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
    return run(this.cmd, args, { timeoutMs: this.timeoutMs, signal });
  }

  async supports(path: string): Promise<boolean> {
    try {
      if ((await fsTypeOf(path)) !== FS_MAGIC.btrfs) return false;
    } catch {
      return false;
    }
    return (await which(this.cmd)) !== undefined;
  }

  /** The subvolume root that holds `path`: walk up to the directory with inode 256. */
  async subvolumeRoot(path: string): Promise<string> {
    if ((await fsTypeOf(path)) !== FS_MAGIC.btrfs) throw new Error(`${path} is not on a btrfs filesystem`);
    return subvolumeRootOf(path);
  }

  async subvolumeInfo(path: string): Promise<SubvolumeInfo> {
    return parseSubvolumeShow((await this.btrfs(['subvolume', 'show', path])).stdout);
  }

  /**
   * The identity part of subvolumeInfo (UUID, id), cached: it changes only when the subvolume
   * is deleted and recreated, which gives its root another st_dev or birth time (every btrfs
   * subvolume has its own anonymous device number). Saves a process per call on the
   * Add/Prepare path. The read-only flag, which does change, is never taken from here.
   */
  private async subvolumeIdentity(path: string): Promise<Pick<SubvolumeInfo, 'uuid' | 'id'>> {
    const st = statSync(path); // a subvolume root on btrfs: local, see subvolumeRootOf
    const key = `${path}\0${st.dev}\0${st.birthtimeMs}\0${st.ino}`;
    const cached = this.identityCache.get(key);
    if (cached) return cached;
    const { uuid, id } = await this.subvolumeInfo(path);
    if (this.identityCache.size > 1024) this.identityCache.clear();
    this.identityCache.set(key, { uuid, id });
    return { uuid, id };
  }

  async volumeOf(sharePath: string): Promise<Volume> {
    return this.volumeOfRoot(await this.subvolumeRoot(sharePath));
  }

  private async volumeOfRoot(root: string): Promise<Volume> {
    const info = await this.subvolumeIdentity(root);
    let id: string;
    if (info.uuid) {
      id = `btrfs:${info.uuid}`;
    } else {
      const fsShow = (await this.btrfs(['filesystem', 'show', root])).stdout;
      const fsid = /uuid:\s*([0-9a-f-]{36})/i.exec(fsShow)?.[1];
      if (!fsid) throw new Error(`cannot identify the btrfs filesystem of ${root}`);
      id = `btrfs:${fsid.toLowerCase()}:${info.id}`;
    }
    return { id, root, backend: this.name };
  }

  /** Where the snapshots of the subvolume at `volumeRoot` live. */
  async snapshotDirFor(volumeRoot: string, mounts?: readonly MountEntry[]): Promise<string> {
    const label = basename(volumeRoot) || 'root';
    if (this.options.snapshotDir) return join(this.options.snapshotDir, label);
    const mounted = (mounts ?? (await readMounts())).some((m) => m.mountPoint === volumeRoot);
    return mounted ? join(volumeRoot, SNAPSHOT_DIR_NAME) : join(dirname(volumeRoot), SNAPSHOT_DIR_NAME, label);
  }

  /** Where the next snapshot of the subvolume at `volumeRoot` goes (layout.ts). */
  async placementOf(volumeRoot: string, mounts?: readonly MountEntry[], shareName?: string): Promise<Placement> {
    if (!this.options.shareSettings) return { kind: 'readme', why: 'share settings are not read' };
    const readmeDir = await this.snapshotDirFor(volumeRoot, mounts);
    let confs: readonly ShareShadowConf[];
    try {
      confs = await this.options.shareSettings(shareName);
    } catch (e) {
      debug('reading the share settings failed, README layout for %s: %s', volumeRoot, (e as Error).message);
      return { kind: 'readme', why: `reading the share settings failed: ${(e as Error).message}` };
    }
    // Memoised while the settings are the same read (ShadowConfReader keeps one for up to 5 s):
    // the volumes of one Commit, and Add/Prepare, then skip the realpath of every share.
    let memo = this.placements.get(confs);
    if (!memo) this.placements.set(confs, (memo = new Map()));
    const key = `${volumeRoot}\0${readmeDir}`;
    let found = memo.get(key);
    if (!found) {
      const m = memo;
      m.set(key, (found = placementForVolume(confs, volumeRoot, readmeDir)));
      found.catch(() => m.delete(key));
    }
    const { placement, conflicts } = await found;
    if (conflicts.length) debug('shares %s on %s ask for another snapshot placement than share %s; they will not list the snapshots', conflicts.join(', '), volumeRoot, placement.kind === 'shadow_copy2' ? placement.share : '');
    if (placement.kind === 'shadow_copy2' && !this.owned) return { kind: 'readme', why: 'no ownedFile configured' };
    if (placement.kind === 'readme') debug('README layout for %s: %s', volumeRoot, placement.why);
    return placement;
  }

  private placedContext(owned: OwnedSnapshots): PlacedContext {
    return {
      backend: this.name,
      owned,
      reserved: this.reserved,
      ensureDir: (dir) => this.ensureDir(dir),
      makeAt: (source, dir, path, opts) => this.makeAt(source, dir, path, opts),
      uuidOf: async (path) => (await this.subvolumeInfo(path)).uuid,
      removeSubvolume: (path) => this.removeSubvolume(path),
    };
  }

  /**
   * After one statfs says the share is on btrfs (a local filesystem), everything else runs on
   * synchronous calls (btrfs-check.ts).
   */
  check(sharePath: string, options: CheckOptions = {}): Promise<PolicyRefusal | undefined> {
    return checkBtrfsShare({
      cmd: this.cmd, timeoutMs: this.timeoutMs, options: this.options,
      supports: (p) => this.supports(p), volumeOfRoot: (r) => this.volumeOfRoot(r),
      placementOf: (r, m, n) => this.placementOf(r, m, n), snapshotDirFor: (r, m) => this.snapshotDirFor(r, m),
      nestedSubvolumes: (top, m) => nestedSubvolumes(top, m, {
        io: this.ioctl, cmd: this.cmd, timeoutMs: this.timeoutMs, onIoctlError: (e) => this.ioctlFallback(e, `nested subvolumes of ${top}`),
      }),
    }, sharePath, options);
  }

  /** Snapshot directories this process made or found, so create() skips the mkdir. */
  private readonly knownDirs = new Set<string>();

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (this.knownDirs.size > 1024) this.knownDirs.clear();
    this.knownDirs.add(dir);
  }

  async create(volume: Volume, opts: CreateOptions): Promise<SnapshotRef> {
    const guid = normalizeGuid(opts.shadowCopyId);
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const mounts = await readMounts();
    const placement = await this.placementOf(volume.root, mounts);
    if (placement.kind === 'shadow_copy2' && this.owned) {
      return createPlaced(this.placedContext(this.owned), volume, placement, guid, opts);
    }
    const dir = await this.snapshotDirFor(volume.root, mounts);
    await this.ensureDir(dir);
    const createdAt = toSeconds(Date.now());
    for (let seq = 1; ; seq++) {
      const name = snapshotName(guid, createdAt, seq);
      const path = join(dir, name);
      const made = await this.makeAt(volume.root, dir, path, opts);
      if (made === 'exists' && seq < 10) continue;
      if (made === 'exists') throw new Error(`${path} exists`);
      return { backend: this.name, volumeId: volume.id, path, name, writable: opts.writable, createdAt };
    }
  }

  /**
   * Makes the snapshot of `source` at `path` (in `dir`): 'exists' when the name is taken. On an
   * abort or failure nothing is left behind.
   */
  private async makeAt(source: string, dir: string, path: string, opts: CreateOptions, retried = false): Promise<'made' | 'exists'> {
    const args = ['subvolume', 'snapshot', ...(opts.writable ? [] : ['-r']), source, path];
    debug('btrfs snapshot %s -> %s (%s)', source, path, opts.writable ? 'writable' : 'read-only');
    opts.progress?.(0, 1);
    let done: boolean;
    try {
      done = await this.snapshotByIoctl(source, path, !opts.writable, opts.signal);
    } catch (e) {
      // A name in use (even by something that is not a snapshot).
      if (e instanceof HelperError && e.code === 'EEXIST') return 'exists';
      // The snapshot directory was removed since this process made it: once more, after mkdir.
      if (e instanceof HelperError && e.code === 'ENOENT' && !retried && this.knownDirs.delete(dir)) {
        await this.ensureDir(dir);
        return this.makeAt(source, dir, path, opts, true);
      }
      throw e;
    }
    if (!done) {
      if (await exists(path)) return 'exists';
      await this.ensureDir(dir);
      try {
        await this.btrfs(args, opts.signal);
      } catch (e) {
        if (e instanceof CommandError && e.kind === 'exit' && /exists/i.test(e.stderr)) return 'exists';
        if (e instanceof CommandError && (e.kind === 'aborted' || e.kind === 'timeout')) {
          // The ioctl may have completed before the kill: remove what it made.
          await this.removeSubvolume(path).catch((re: Error) => debug('cleanup of %s failed: %s', path, re.message));
        }
        if (opts.signal?.aborted) throw abortError(opts.signal);
        throw e;
      }
    }
    if (opts.signal?.aborted) {
      await this.removeSubvolume(path);
      throw abortError(opts.signal);
    }
    opts.progress?.(1, 1);
    return 'made';
  }

  /**
   * Takes the snapshot by ioctl; false when the btrfs tool must do it instead. An abort returns at
   * once; a snapshot the ioctl still makes after that is removed when it is done.
   */
  private async snapshotByIoctl(source: string, dest: string, readOnly: boolean, signal: AbortSignal | undefined): Promise<boolean> {
    const io = this.ioctl;
    if (!io) return false;
    const req = io.snapshot(source, dest, readOnly);
    try {
      await untilAborted(req, signal);
      return true;
    } catch (e) {
      if (signal?.aborted) {
        req.then(
          () => this.removeSubvolume(dest).then(() => debug('removed %s, made after its create was aborted', dest)),
          () => undefined,
        ).catch((re: Error) => debug('cleanup of %s failed: %s', dest, re.message));
        throw abortError(signal);
      }
      if (e instanceof HelperFailure) {
        // The helper died or hung: the snapshot may exist. Leave nothing behind before going on.
        await this.removeSubvolume(dest).catch((re: Error) => debug('cleanup of %s failed: %s', dest, re.message));
      }
      if (this.ioctlFallback(e, 'snapshot')) return false;
      throw e;
    }
  }

  async setReadOnly(snap: SnapshotRef): Promise<void> {
    await this.assertOurs(snap);
    const io = this.ioctl;
    if (io) {
      try {
        await io.setReadOnly(snap.path);
        debug('btrfs snapshot %s is read-only', snap.path);
        return;
      } catch (e) {
        if (!this.ioctlFallback(e, 'setReadOnly')) throw e;
      }
    }
    await this.btrfs(['property', 'set', '-ts', snap.path, 'ro', 'true']);
    debug('btrfs snapshot %s is read-only', snap.path);
  }

  async delete(snap: SnapshotRef): Promise<void> {
    const placed = await this.assertOurs(snap);
    await this.removeSubvolume(snap.path);
    if (placed) await this.owned?.forget(snap.path);
  }

  private async removeSubvolume(path: string): Promise<void> {
    const st = await unlessMissing(lstat(path));
    if (st === undefined) return;
    if (!st.isDirectory() || st.ino !== BTRFS_SUBVOLUME_INO) throw new Error(`${path} is not a btrfs subvolume; not deleting it`);
    const io = this.ioctl;
    if (io) {
      try {
        await io.destroy(path);
        debug('deleted btrfs snapshot %s', path);
        return;
      } catch (e) {
        if (e instanceof HelperError && e.code === 'ENOENT') return; // gone meanwhile
        if (!this.ioctlFallback(e, 'delete')) throw e;
      }
      if (!(await exists(path))) return; // deleted before the helper failed
    }
    await this.btrfs(['subvolume', 'delete', path]);
    debug('deleted btrfs snapshot %s', path);
  }

  /**
   * Refuses to touch a path that is not a snapshot made by this backend (a damaged journal must
   * not delete data): a README-layout name, or one recorded in the ownership file (then true).
   */
  private async assertOurs(snap: SnapshotRef): Promise<boolean> {
    if (snap.backend === this.name && basename(snap.path) === snap.name && parseSnapshotName(snap.name)) return false;
    const entry = snap.backend === this.name ? await this.owned?.get(snap.path) : undefined;
    if (entry && entry.name === snap.name) return true;
    throw new Error(`${snap.path} is not a snapshot made by the btrfs backend`);
  }

  list(volume: Volume): Promise<SnapshotRef[]> {
    return listSnapshots({
      name: this.name, owned: this.owned, snapshotDirFor: (r) => this.snapshotDirFor(r),
      subvolumeIdentity: (p) => this.subvolumeIdentity(p), btrfs: (args) => this.btrfs(args),
      placedContext: (o) => this.placedContext(o),
    }, volume);
  }
}
