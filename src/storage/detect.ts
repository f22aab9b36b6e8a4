/**
 * Picks the snapshot backend for a share: the configured override when there is one (it must
 * support the path), else the first backend in detection order that supports it — btrfs when
 * the share is on btrfs and the btrfs tool is installed, otherwise the reflink/copy backend.
 */
import type { Share } from '../shares/types.js';
import type { SnapshotBackend } from './backend.js';
import { BtrfsBackend, type BtrfsBackendOptions } from './btrfs.js';
import { CopyBackend, type CopyBackendOptions } from './copy.js';

export interface SelectedBackend {
  readonly backend: SnapshotBackend;
  /** Why this backend was chosen, for logs and `doctor` output. */
  readonly reason: string;
}

export interface BackendSelectorOptions {
  /** Names in auto-detection order (default: every backend in the order given to the constructor). */
  readonly order?: readonly string[];
  /** Backend used for every share that has no override of its own. */
  readonly defaultBackend?: string;
}

export class BackendSelector {
  private readonly byName = new Map<string, SnapshotBackend>();
  private readonly order: readonly string[];

  constructor(backends: readonly SnapshotBackend[], private readonly options: BackendSelectorOptions = {}) {
    for (const b of backends) {
      if (this.byName.has(b.name)) throw new Error(`two snapshot backends are named ${b.name}`);
      this.byName.set(b.name, b);
    }
    this.order = options.order ?? backends.map((b) => b.name);
    for (const n of this.order) if (!this.byName.has(n)) throw new Error(`unknown snapshot backend in detection order: ${n}`);
  }

  get(name: string): SnapshotBackend | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  async select(share: Pick<Share, 'name' | 'path' | 'backend'>): Promise<SelectedBackend> {
    const override = share.backend ?? this.options.defaultBackend;
    if (override) {
      const backend = this.byName.get(override);
      if (!backend) throw new Error(`share ${share.name}: unknown snapshot backend "${override}" (known: ${this.names().join(', ')})`);
      if (!(await backend.supports(share.path))) {
        throw new Error(`share ${share.name}: the configured backend "${override}" cannot serve ${share.path}`);
      }
      return { backend, reason: share.backend ? 'configured for the share' : 'configured default' };
    }
    for (const name of this.order) {
      const backend = this.byName.get(name)!;
      if (await backend.supports(share.path)) return { backend, reason: `detected (${name} supports ${share.path})` };
    }
    throw new Error(`share ${share.name}: no snapshot backend supports ${share.path}`);
  }
}

export interface DefaultBackendsOptions {
  readonly btrfs?: BtrfsBackendOptions;
  readonly copy?: CopyBackendOptions;
}

/** The built-in backends in detection order: btrfs, then copy. */
export function defaultBackends(options: DefaultBackendsOptions = {}): SnapshotBackend[] {
  return [new BtrfsBackend(options.btrfs), new CopyBackend(options.copy)];
}

/** A selector over the built-in backends. */
export function defaultSelector(options: DefaultBackendsOptions & BackendSelectorOptions = {}): BackendSelector {
  return new BackendSelector(defaultBackends(options), options);
}
