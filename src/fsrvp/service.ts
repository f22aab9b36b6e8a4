/**
 * FsrvpService: the 13 FileServerVssAgent operations over typed requests and responses.
 *
 * Every operation first authorizes the caller, before any argument (a share name above all) is
 * looked at (ECOSYSTEM.md §7). Operations that touch state then run one at a time through a
 * serial queue shared by all connections; pure queries run directly. Unexpected exceptions are
 * logged and answered with E_FAIL (or the HRESULT they carry), never as DCE faults, with the
 * out-parameters zero/NULL-filled as Samba marshals them.
 */
import createDebug from 'debug';
import type { CallContext } from '../dcerpc/interface.js';
import { ZERO_GUID } from '../ndr/index.js';
import type * as Idl from './idl.js';
import type { RequestOf, ResponseOf } from './idl.js';
import { FSRVP_RPC_VERSION_1, HRESULT } from './codes.js';
import { compileAuthz, type Authorizer } from './authz.js';
import { resolveConfig, type FsrvpServiceOptions, type ResolvedConfig } from './config.js';
import { errorText, hresultOf, ServiceCore } from './core.js';
import { collectPending, discardSnapshots } from './cleanup.js';
import { abortShadowCopySet, expire, setContext, startShadowCopySet } from './ops-session.js';
import { addToShadowCopySet, isPathShadowCopied, isPathSupported } from './ops-add.js';
import {
  commitShadowCopySet, exposeShadowCopySet, prepareShadowCopySet, recoveryCompleteShadowCopySet,
} from './ops-create.js';
import { deleteShareMapping, getShareMapping, shareMappingFailure } from './ops-mapping.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { SerialQueue } from './serial.js';
import {
  emptyState, IN_PROGRESS, pendingKey, snapshotKey, type PendingCleanup, type RetainedSnapshot, type ShadowCopySetState,
} from './state.js';
import { StateStore, type LoadReport } from './store.js';
import type { Armed } from './timer.js';

const debug = createDebug('fsrvp:service');
const debugAuthz = createDebug('fsrvp:authz');

type Req<K extends keyof typeof Idl> = RequestOf<(typeof Idl)[K]>;
type Res<K extends keyof typeof Idl> = ResponseOf<(typeof Idl)[K]>;

/** A read-only view of the global state (for the admin CLI, tests and diagnostics). */
export interface StateView {
  readonly contextSet: boolean;
  readonly currentContext: number;
  readonly sets: readonly ShadowCopySetState[];
  readonly retained: readonly RetainedSnapshot[];
  /** Shares and snapshots a cleanup step could not remove yet (retried). */
  readonly pending: readonly PendingCleanup[];
  /** The running sequence timer, if any. */
  readonly timer: { readonly length: 'short' | 'long'; readonly ms: number; readonly setId: string | undefined } | undefined;
}

export class FsrvpService {
  private readonly queue = new SerialQueue();
  private readonly authorize: Authorizer;
  private closed = false;
  private core!: ServiceCore;
  private loadReportValue!: LoadReport;
  private reconcileReportValue!: ReconcileReport;
  readonly config: ResolvedConfig;

  private constructor(private readonly options: FsrvpServiceOptions) {
    this.config = resolveConfig(options);
    this.authorize = compileAuthz(this.config.authz);
  }

  /**
   * Opens the state journal in `stateDir`, replays it, reconciles it with the backends and the
   * publisher, and arms the sequence timer for any set left in creation (it expires unless its
   * client comes back). Throws if the journal cannot be opened.
   */
  static async open(options: FsrvpServiceOptions): Promise<FsrvpService> {
    const svc = new FsrvpService(options);
    await svc.start();
    return svc;
  }

  private async start(): Promise<void> {
    const cfg = this.config;
    const store = await StateStore.open(cfg.stateDir, { fsync: cfg.fsync, compactMinRecords: cfg.compactMinRecords });
    const state = emptyState();
    for (const s of store.loadedSets()) state.sets.set(s.id, s);
    for (const r of store.loadedRetained()) state.retained.set(snapshotKey(r.snapshot), r);
    for (const p of store.loadedPending()) state.pending.set(pendingKey(p), p);
    this.loadReportValue = store.report;
    this.core = new ServiceCore(cfg, this.options, state, store, (armed) => this.onExpire(armed), this.options.onEvent);
    this.reconcileReportValue = await this.queue.run(() => reconcile(this.core));
    if ([...state.sets.values()].some((s) => IN_PROGRESS.has(s.status))) this.core.timer.arm('short', undefined);
    debug('started (%s mode): %d sets, %d retained, %d repairs', cfg.policy.mode, state.sets.size,
      state.retained.size, this.reconcileReportValue.repairs.length);
  }

  /** What loading the journal found (dropped records included). */
  get loadReport(): LoadReport {
    return this.loadReportValue;
  }

  /** What start-up reconciliation repaired. */
  get reconcileReport(): ReconcileReport {
    return this.reconcileReportValue;
  }

  /** Resolves once every queued operation (and timer expiry) has finished. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops the timer, waits for running operations and closes the journal. State stays on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.core.timer.stopAll();
    await this.queue.idle();
    await this.core.store.close();
  }

  view(): StateView {
    const st = this.core.state;
    const t = this.core.timer.current();
    return {
      contextSet: st.contextSet,
      currentContext: st.currentContext,
      sets: [...st.sets.values()],
      retained: [...st.retained.values()],
      pending: [...st.pending.values()],
      timer: t ? { length: t.length, ms: t.ms, setId: t.setId } : undefined,
    };
  }

  /** Deletes a retained snapshot and forgets it. Returns false if no such snapshot is retained. */
  releaseRetained(backend: string, name: string): Promise<boolean> {
    return this.queue.run(async () => {
      const key = snapshotKey({ backend, name });
      const r = this.core.state.retained.get(key);
      if (!r) return false;
      await this.core.commit([{ t: 'release', key }]);
      await discardSnapshots(this.core, [{ snapshot: r.snapshot, volume: r.volume }]);
      return true;
    });
  }

  /** Retries pending cleanups now; resolves to how many are still pending. */
  collectPending(): Promise<number> {
    return this.queue.run(async () => {
      await collectPending(this.core);
      return this.core.state.pending.size;
    });
  }

  private onExpire(armed: Armed): void {
    if (this.closed) return;
    void this.queue.run(() => expire(this.core, armed)).catch((e: unknown) => {
      debug('timer expiry failed: %s', errorText(e));
    });
  }

  /**
   * Authorize, then run `body` (serialized unless `direct`), mapping exceptions to `fail`.
   */
  private async call<R>(
    op: string, ctx: CallContext, fail: (result: number) => R, body: () => Promise<R>, direct = false,
  ): Promise<R> {
    const d = this.authorize(ctx.caller);
    if (!d.allow) {
      debugAuthz('%s denied: %s', op, d.reason);
      this.core.emit({ kind: 'denied', op, reason: d.reason, caller: ctx.caller });
      return fail(HRESULT.E_ACCESSDENIED);
    }
    if (this.closed) return fail(HRESULT.E_FAIL);
    const run = async (): Promise<R> => {
      try {
        return await body();
      } catch (e) {
        debug('%s failed: %s', op, e instanceof Error ? e.stack ?? e.message : String(e));
        return fail(hresultOf(e));
      }
    };
    return direct ? run() : this.queue.run(run);
  }

  // ---- the 13 operations, in opnum order ------------------------------------------------------

  getSupportedVersion(_req: Req<'GetSupportedVersion'>, ctx: CallContext): Promise<Res<'GetSupportedVersion'>> {
    return this.call('GetSupportedVersion', ctx, (result) => ({ MinVersion: 0, MaxVersion: 0, result }),
      async () => ({ MinVersion: FSRVP_RPC_VERSION_1, MaxVersion: FSRVP_RPC_VERSION_1, result: HRESULT.ZERO }), true);
  }

  setContext(req: Req<'SetContext'>, ctx: CallContext): Promise<Res<'SetContext'>> {
    return this.call('SetContext', ctx, (result) => ({ result }), () => setContext(this.core, req, ctx.caller));
  }

  startShadowCopySet(req: Req<'StartShadowCopySet'>, ctx: CallContext): Promise<Res<'StartShadowCopySet'>> {
    return this.call('StartShadowCopySet', ctx, (result) => ({ pShadowCopySetId: ZERO_GUID, result }),
      () => startShadowCopySet(this.core, req));
  }

  addToShadowCopySet(req: Req<'AddToShadowCopySet'>, ctx: CallContext): Promise<Res<'AddToShadowCopySet'>> {
    return this.call('AddToShadowCopySet', ctx, (result) => ({ pShadowCopyId: ZERO_GUID, result }),
      () => addToShadowCopySet(this.core, req));
  }

  commitShadowCopySet(req: Req<'CommitShadowCopySet'>, ctx: CallContext): Promise<Res<'CommitShadowCopySet'>> {
    return this.call('CommitShadowCopySet', ctx, (result) => ({ result }), () => commitShadowCopySet(this.core, req));
  }

  exposeShadowCopySet(req: Req<'ExposeShadowCopySet'>, ctx: CallContext): Promise<Res<'ExposeShadowCopySet'>> {
    return this.call('ExposeShadowCopySet', ctx, (result) => ({ result }), () => exposeShadowCopySet(this.core, req));
  }

  recoveryCompleteShadowCopySet(
    req: Req<'RecoveryCompleteShadowCopySet'>, ctx: CallContext,
  ): Promise<Res<'RecoveryCompleteShadowCopySet'>> {
    return this.call('RecoveryCompleteShadowCopySet', ctx, (result) => ({ result }),
      () => recoveryCompleteShadowCopySet(this.core, req));
  }

  abortShadowCopySet(req: Req<'AbortShadowCopySet'>, ctx: CallContext): Promise<Res<'AbortShadowCopySet'>> {
    return this.call('AbortShadowCopySet', ctx, (result) => ({ result }), () => abortShadowCopySet(this.core, req));
  }

  isPathSupported(req: Req<'IsPathSupported'>, ctx: CallContext): Promise<Res<'IsPathSupported'>> {
    return this.call('IsPathSupported', ctx,
      (result) => ({ SupportedByThisProvider: false, OwnerMachineName: null, result }),
      () => isPathSupported(this.core, req), true);
  }

  isPathShadowCopied(req: Req<'IsPathShadowCopied'>, ctx: CallContext): Promise<Res<'IsPathShadowCopied'>> {
    return this.call('IsPathShadowCopied', ctx,
      (result) => ({ ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result }),
      () => isPathShadowCopied(this.core, req), true);
  }

  getShareMapping(req: Req<'GetShareMapping'>, ctx: CallContext): Promise<Res<'GetShareMapping'>> {
    return this.call('GetShareMapping', ctx, (result) => shareMappingFailure(req.Level >>> 0, result),
      () => getShareMapping(this.core, req));
  }

  deleteShareMapping(req: Req<'DeleteShareMapping'>, ctx: CallContext): Promise<Res<'DeleteShareMapping'>> {
    return this.call('DeleteShareMapping', ctx, (result) => ({ result }), () => deleteShareMapping(this.core, req));
  }

  prepareShadowCopySet(req: Req<'PrepareShadowCopySet'>, ctx: CallContext): Promise<Res<'PrepareShadowCopySet'>> {
    return this.call('PrepareShadowCopySet', ctx, (result) => ({ result }), () => prepareShadowCopySet(this.core, req));
  }
}
