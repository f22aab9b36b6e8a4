/**
 * What every operation handler works with: configuration, global state, the journal, the
 * sequence timer, the backends and the publisher, plus the few helpers they share. Handlers run
 * inside the service's serial queue, so they may read-modify-write state freely; they replace
 * sets copy-on-write and persist before the in-memory state changes.
 */
import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import type { Refusal, SnapshotBackend } from '../storage/backend.js';
import { PolicyCache } from '../storage/policy-cache.js';
import { policyKey, type SharePolicy } from '../storage/policy.js';
import type { Share, SharePublisher, ShareRegistry } from '../shares/types.js';
import type { FsrvpDeps, FsrvpEvent, ResolvedConfig } from './config.js';
import { HRESULT } from './codes.js';
import type { Change, StateStore } from './store.js';
import { pendingKey, snapshotKey, type FsrvpState, type ShadowCopySetState } from './state.js';
import { LocalNames } from './unc.js';
import { SequenceTimer, realScheduler, type Armed, type Scheduler } from './timer.js';

const debug = createDebug('fsrvp:service');

/** Set states whose records are not fsync'd on their own (see putSet). */
const NOT_DURABLE: ReadonlySet<ShadowCopySetState['status']> = new Set(['Started', 'Added', 'CreationInProgress']);

/** Set states after which no directory check of the set follows: its remembered checks go. */
const CHECKS_DONE: ReadonlySet<ShadowCopySetState['status']> = new Set(['Committed', 'Exposed', 'Recovered']);

/** An error that carries the HRESULT to answer with. */
export class FsrvpError extends Error {
  constructor(readonly hresult: number, message: string) {
    super(message);
    this.name = 'FsrvpError';
  }
}

/** The HRESULT for an unexpected failure: the error's own if it carries one, else E_FAIL. */
export function hresultOf(e: unknown): number {
  if (e instanceof FsrvpError) return e.hresult >>> 0;
  if (typeof e === 'object' && e !== null && typeof (e as { hresult?: unknown }).hresult === 'number') {
    return (e as { hresult: number }).hresult >>> 0;
  }
  return HRESULT.E_FAIL;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class ServiceCore {
  readonly registry: ShareRegistry;
  readonly publisher: SharePublisher;
  readonly backends: readonly SnapshotBackend[];
  readonly scheduler: Scheduler;
  readonly now: () => number;
  readonly newGuid: () => string;
  readonly names: LocalNames;
  readonly timer: SequenceTimer;
  /** Remembered directory-structure checks: one walk per share per set. */
  readonly policyCache: PolicyCache;
  private readonly policyFor: ((share: Share) => SharePolicy | undefined) | undefined;

  constructor(
    readonly cfg: ResolvedConfig,
    deps: FsrvpDeps,
    readonly state: FsrvpState,
    readonly store: StateStore,
    onExpire: (armed: Armed) => void,
    private readonly onEvent: ((e: FsrvpEvent) => void) | undefined,
  ) {
    this.registry = deps.registry;
    this.publisher = deps.publisher;
    this.backends = deps.backends;
    this.scheduler = deps.scheduler ?? realScheduler;
    this.now = deps.now ?? Date.now;
    this.newGuid = deps.newGuid ?? randomUUID;
    this.names = new LocalNames(cfg.netbiosName, cfg.localNames);
    this.policyCache = new PolicyCache({ ...cfg.policyCache, now: this.now });
    this.policyFor = deps.policyFor;
    this.timer = new SequenceTimer(this.scheduler, cfg.sequenceTimeoutSeconds, onExpire,
      cfg.policy.mode === 'strict' ? 'single' : 'per-set');
  }

  get strict(): boolean {
    return this.cfg.policy.mode === 'strict';
  }

  emit(e: FsrvpEvent): void {
    try {
      this.onEvent?.(e);
    } catch (err) {
      debug('event listener threw: %s', errorText(err));
    }
  }

  /** Logs and reports a cleanup step that failed; start-up reconciliation repairs what it left. */
  cleanupFailed(what: string, e: unknown): void {
    const reason = errorText(e);
    debug('cleanup failed: %s: %s', what, reason);
    this.emit({ kind: 'cleanup-failed', what, reason });
  }

  lookupSet(id: string): ShadowCopySetState | undefined {
    return this.state.sets.get(id.toLowerCase());
  }

  /**
   * Checks a share's directory structure under its policy, once per set (policy-cache.ts);
   * `setId` undefined for IsPathSupported. Long walks report progress as events.
   */
  checkShare(backend: SnapshotBackend, share: Share, setId: string | undefined): Promise<Refusal | undefined> {
    const policy = this.policyFor?.(share);
    return this.policyCache.check({ backend: backend.name, path: share.path, policy: policyKey(policy) }, setId, () =>
      backend.check(share.path, {
        ...(policy ? { policy } : {}),
        shareName: share.name,
        progress: (p) => this.emit({ kind: 'progress', what: `directory check of ${share.path}`, done: p.entries, total: undefined }),
      }));
  }

  backendNamed(name: string): SnapshotBackend | undefined {
    return this.backends.find((b) => b.name === name);
  }

  /** Persists `changes`, then makes them the in-memory state. */
  async commit(changes: readonly Change[], opts: { durable?: boolean } = {}): Promise<void> {
    await this.store.apply(changes, opts);
    this.applyToMemory(changes);
  }

  private applyToMemory(changes: readonly Change[]): void {
    for (const c of changes) {
      switch (c.t) {
        case 'set':
          this.state.sets.set(c.set.id, c.set);
          if (CHECKS_DONE.has(c.set.status)) this.policyCache.endSet(c.set.id);
          break;
        case 'del':
          this.state.sets.delete(c.id);
          this.policyCache.endSet(c.id);
          break;
        case 'retain': this.state.retained.set(snapshotKey(c.r.snapshot), c.r); break;
        case 'release': this.state.retained.delete(c.key); break;
        case 'pending': this.state.pending.set(pendingKey(c.p), c.p); break;
        case 'done': this.state.pending.delete(c.key); break;
      }
    }
  }

  /**
   * Like `commit`, but the in-memory state changes even if persisting fails (the failure is
   * reported). For removals and rollbacks that have already happened on disk.
   */
  async commitForced(changes: readonly Change[]): Promise<void> {
    try {
      await this.commit(changes);
    } catch (e) {
      this.cleanupFailed('persisting state', e);
      this.store.applyLater(changes);
      this.applyToMemory(changes);
    }
  }

  /**
   * Persists a set before the reply. Records are fsync'd when the state they describe has
   * something on disk or in Samba that a power loss must not forget: Committed and later. Three
   * states are written but not fsync'd on their own (the next durable record carries them):
   * Started and Added have nothing on disk yet, so a power loss only loses a set the client starts
   * again; CreationInProgress precedes the snapshots, and a snapshot whose record a power loss
   * took is an orphan that start-up reconciliation deletes (reconcile.ts step 4: our snapshot
   * names carry the shadow copy id, and nothing refers to it). A process crash loses none of them.
   */
  putSet(set: ShadowCopySetState): Promise<void> {
    return this.commit([{ t: 'set', set }], { durable: !NOT_DURABLE.has(set.status) });
  }
}
