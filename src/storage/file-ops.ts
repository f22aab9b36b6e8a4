/**
 * Tree-wide file operations of the copy backend through the long-lived Python helper
 * (src/sys/helpers/fsrvp_helper.py, mode `files`: fsrvp_helper_files.py): extended attributes copied from one tree to
 * another (what `getfattr -R -d -m - | setfattr --restore` does) and the inode immutable flag of a
 * whole tree (`chattr -R ±i`, `lsattr -d`), without starting a process each.
 *
 * Failures: HelperUnavailableError (no interpreter or script) and HelperFailure (the helper died
 * or timed out): the callers use the tools instead. HelperError with code EOPNOTSUPP: the
 * filesystem has no inode flags.
 */
import { HelperError } from '../sys/helper-process.js';
import { HelperClient, type FsrvpHelperOptions } from '../sys/helpers/fsrvp-helper.js';

/** What a tree-wide operation did; `errors` holds the first few failures in words. */
export interface TreeOpResult {
  readonly failed: number;
  readonly errors: readonly string[];
}

export interface XattrCopyResult extends TreeOpResult {
  readonly copied: number;
}

export interface ImmutableResult extends TreeOpResult {
  readonly changed: number;
  /** The root's flag afterwards. */
  readonly immutable: boolean;
}

/** Whether `e` says the filesystem has no inode flags. */
export function isFlagsUnsupported(e: unknown): boolean {
  return e instanceof HelperError && e.code === 'EOPNOTSUPP';
}

export interface FileOpsOptions extends FsrvpHelperOptions {
  /** Timeout of each operation, ms (0: none; a tree may be large). */
  readonly timeoutMs?: number;
}

export class FileOps extends HelperClient {
  constructor(options: FileOpsOptions = {}) {
    super('files', [], options, options.timeoutMs ?? 0);
  }

  /** Copies every extended attribute below `src` to the same path below `dst` (absolute paths). */
  xattrCopy(src: string, dst: string): Promise<XattrCopyResult> {
    return this.call('xattr_copy', { src, dst });
  }

  /** Sets or clears the immutable flag on every directory and regular file of the tree at `path`. */
  setImmutable(path: string, on: boolean): Promise<ImmutableResult> {
    return this.call('set_immutable', { path, on });
  }

  async isImmutable(path: string): Promise<boolean> {
    return (await this.call<{ immutable: boolean }>('get_immutable', { path })).immutable;
  }
}
