/**
 * btrfs snapshot create/delete and the read-only flag by ioctl, through the long-lived Python
 * helper (src/sys/helpers/fsrvp_helper.py, mode `btrfs`: fsrvp_helper_btrfs.py): no `btrfs` process per operation.
 * The ioctls (linux/btrfs.h): BTRFS_IOC_SNAP_CREATE_V2 (flag BTRFS_SUBVOL_RDONLY for read-only
 * snapshots), BTRFS_IOC_SNAP_DESTROY, BTRFS_IOC_SUBVOL_GETFLAGS/SETFLAGS — the ones
 * `btrfs subvolume snapshot`, `btrfs subvolume delete` and `btrfs property set … ro` issue.
 *
 * The backend (btrfs.ts) keeps the btrfs tool (`btrfs subvolume snapshot [-r]`, `btrfs subvolume
 * delete`, `btrfs property set -ts … ro true`) as the fallback (ioctlFallbackKind): for good once
 * the helper cannot start (no /usr/bin/python3) or the kernel does not know the ioctl (ENOTTY,
 * ENOSYS, EOPNOTSUPP), and for one call when the kernel refuses it (EPERM, EACCES, EINVAL: the
 * tool then reports the failure in its words) or the helper dies during it. `ioctl: false` uses
 * the tool only. Identity, listing and checks use the tool.
 *
 * Failures: HelperUnavailableError (no interpreter or script: use the btrfs tool), HelperFailure
 * (the helper died or timed out), HelperError with `code` = the errno name (EEXIST, ENOTTY, …).
 */
import { HelperError, HelperFailure, HelperUnavailableError } from '../sys/helper-process.js';
import { HelperClient, type FsrvpHelperOptions } from '../sys/helpers/fsrvp-helper.js';

/** errno names that say these ioctls cannot work here at all: the btrfs tool is used from then on. */
export const IOCTL_UNSUPPORTED_CODES: ReadonlySet<string> = new Set(['ENOTTY', 'ENOSYS', 'EOPNOTSUPP']);
/**
 * errno names after which the btrfs tool redoes this one call (it reports the failure in its own
 * words, or succeeds where a kernel check differs): a refusal that may concern only this
 * subvolume or this moment (EPERM: the default subvolume, a send in progress, …).
 */
export const IOCTL_RETRY_WITH_TOOL_CODES: ReadonlySet<string> = new Set(['EPERM', 'EACCES', 'EINVAL']);

/** Whether `e` says the ioctl path cannot work here (as opposed to a failure of the operation itself). */
export function isIoctlUnsupported(e: unknown): boolean {
  return e instanceof HelperError && IOCTL_UNSUPPORTED_CODES.has(e.code);
}

/** Whether the btrfs tool should redo the call that failed with `e`. */
export function isIoctlRefusal(e: unknown): boolean {
  return e instanceof HelperError && (IOCTL_UNSUPPORTED_CODES.has(e.code) || IOCTL_RETRY_WITH_TOOL_CODES.has(e.code));
}

export interface BtrfsIoctlOptions extends FsrvpHelperOptions {
  /** Timeout of each operation, ms. */
  readonly timeoutMs: number;
}

export class BtrfsIoctl extends HelperClient {
  constructor(options: BtrfsIoctlOptions) {
    super('btrfs', [], options, options.timeoutMs);
  }

  /** Snapshots the subvolume at `source` as `dest` (which must not exist), read-only or writable. */
  async snapshot(source: string, dest: string, readOnly: boolean): Promise<void> {
    await this.call('snapshot', { source, dest, readonly: readOnly });
  }

  /** Deletes the subvolume at `path` (the helper checks it is a subvolume root first). */
  async destroy(path: string): Promise<void> {
    await this.call('destroy', { path });
  }

  /** Sets the read-only flag of the subvolume at `path`; true when it changed. */
  async setReadOnly(path: string): Promise<boolean> {
    return (await this.call<{ changed: boolean }>('set_readonly', { path, readonly: true })).changed;
  }

  /**
   * The subvolumes strictly below directory `path` (absolute paths, sorted): the children of the
   * subvolume holding it that lie inside it, from the tree of tree roots (BTRFS_IOC_TREE_SEARCH
   * and BTRFS_IOC_INO_LOOKUP, the facts `btrfs subvolume list -o` prints), without a process.
   */
  async nestedSubvolumes(path: string): Promise<string[]> {
    const r = await this.call<{ subvolumes: unknown }>('nested', { path });
    if (!Array.isArray(r.subvolumes) || !r.subvolumes.every((p): p is string => typeof p === 'string')) {
      throw new HelperError('nested', 'EPROTO', 'the helper answered nested without a list of paths');
    }
    return r.subvolumes;
  }

  /** Whether the subvolume at `path` has the read-only flag. */
  async isReadOnly(path: string): Promise<boolean> {
    return (await this.call<{ readonly: boolean }>('get_flags', { path })).readonly;
  }
}

/**
 * Whether an ioctl failure means "use the btrfs tool instead": 'for-good' when ioctls cannot work
 * here (no helper, unknown ioctl), 'this-call' after a kernel refusal or when the helper died
 * during it; undefined for the operation's own failures (EEXIST, ENOSPC, a timeout, …).
 */
export function ioctlFallbackKind(e: unknown): 'for-good' | 'this-call' | undefined {
  if (e instanceof HelperUnavailableError || isIoctlUnsupported(e)) return 'for-good';
  if (isIoctlRefusal(e) || (e instanceof HelperFailure && e.kind !== 'timeout')) return 'this-call';
  return undefined;
}
