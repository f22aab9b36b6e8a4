/**
 * A test harness around FsrvpService: fakes for everything below it, a temporary state
 * directory, callers with and without rights, and shortcuts for the usual call sequences.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallContext, CallerIdentity } from '../../src/dcerpc/interface.js';
import { CTX, HRESULT, hresultName } from '../../src/fsrvp/codes.js';
import type { FsrvpConfig, FsrvpEvent } from '../../src/fsrvp/config.js';
import { FsrvpService } from '../../src/fsrvp/service.js';
import type { Scheduler } from '../../src/fsrvp/timer.js';
import type { Share } from '../../src/shares/types.js';
import { FakeBackend, FakePublisher, FakeRegistry, FakeScheduler } from './fsrvp-fakes.js';

export const NETBIOS = 'FSRVPSRV';

export function callAs(caller: Partial<CallerIdentity>, callId = 1): CallContext {
  return { caller: { source: 'npa', sids: [], ...caller }, connectionId: 1, callId };
}

/** BUILTIN\Administrators member, not root. */
export const ADMIN = callAs({ sids: ['S-1-5-21-1-2-3-1001', 'S-1-5-32-544'], uid: 1001, accountName: 'admin', domainName: 'TEST', clientAddress: '127.0.0.1' });
/** An ordinary domain user. */
export const USER = callAs({ sids: ['S-1-5-21-1-2-3-1002', 'S-1-5-32-545'], uid: 1002, accountName: 'low', domainName: 'TEST', clientAddress: '127.0.0.1' });
export const ANONYMOUS: CallContext = { caller: { source: 'anonymous', sids: [] }, connectionId: 2, callId: 1 };

/** Shares of the fake world: vol1 holds fsrvp_share and other; vol2 holds data and hidden$. */
export const SHARES: Share[] = [
  { name: 'fsrvp_share', path: '/srv/vol1/share' },
  { name: 'other', path: '/srv/vol1/other' },
  { name: 'data', path: '/srv/vol2' },
  { name: 'hidden$', path: '/srv/vol2/hidden' },
  { name: 'refused', path: '/srv/vol1/refused' },
  { name: 'nowhere', path: '/mnt/nowhere' },
];

export const unc = (share: string, host = '127.0.0.1', trailing = false): string =>
  `\\\\${host}\\${share}${trailing ? '\\' : ''}`;

export const hex = (v: number): string => hresultName(v);

export interface HarnessOptions {
  readonly config?: Partial<FsrvpConfig>;
  /** Use real timers instead of the fake scheduler. */
  readonly realTime?: boolean;
  readonly shares?: Share[];
}

export class Harness {
  readonly backend: FakeBackend;
  readonly backend2: FakeBackend;
  readonly publisher = new FakePublisher();
  readonly registry: FakeRegistry;
  readonly clock = new FakeScheduler();
  readonly events: FsrvpEvent[] = [];
  svc!: FsrvpService;
  private guidSeq = 0;

  private constructor(readonly dir: string, readonly opts: HarnessOptions) {
    this.registry = new FakeRegistry(opts.shares ?? SHARES);
    const now = (): number => 1_700_000_000_000 + this.clock.now;
    this.backend = new FakeBackend('fake', [{ id: 'vol1', root: '/srv/vol1' }, { id: 'vol2', root: '/srv/vol2' }], now);
    this.backend2 = new FakeBackend('other-backend', [{ id: 'vol9', root: '/srv/vol9' }], now);
    this.backend.refusals.set('/srv/vol1/refused', 'a mount point below the share root');
  }

  static async create(opts: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(mkdtempSync(join(tmpdir(), 'fsrvp-test-')), opts);
    await h.open();
    return h;
  }

  get scheduler(): Scheduler | undefined {
    return this.opts.realTime ? undefined : this.clock;
  }

  /** A fresh service on the same state directory and the same fakes. */
  async open(config: Partial<FsrvpConfig> = {}): Promise<FsrvpService> {
    this.svc = await FsrvpService.open({
      stateDir: this.dir,
      netbiosName: NETBIOS,
      localNames: ['fsrvpsrv.example.test', '192.0.2.10'],
      fsync: false,
      ...this.opts.config,
      ...config,
      registry: this.registry,
      publisher: this.publisher,
      backends: [this.backend, this.backend2],
      ...(this.scheduler ? { scheduler: this.scheduler } : {}),
      now: () => 1_700_000_000_000 + this.clock.now,
      newGuid: () => this.nextGuid(),
      onEvent: (e) => this.events.push(e),
    });
    return this.svc;
  }

  async restart(config: Partial<FsrvpConfig> = {}): Promise<FsrvpService> {
    await this.svc.close();
    return this.open(config);
  }

  nextGuid(): string {
    const n = (++this.guidSeq).toString(16).padStart(12, '0');
    return `5e7e0000-0000-4000-8000-${n}`;
  }

  async cleanup(): Promise<void> {
    await this.svc.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Moves fake time and waits for whatever the timer queued. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.svc.idle();
  }

  // ---- shortcuts; each asserts nothing, returns raw results ------------------------------

  async start(ctx = ADMIN, context: number = CTX.BACKUP): Promise<{ setId: string; result: number }> {
    const c = await this.svc.setContext({ Context: context }, ctx);
    if (c.result !== 0) return { setId: '', result: c.result };
    const s = await this.svc.startShadowCopySet({ ClientShadowCopySetId: '11111111-1111-1111-1111-111111111111' }, ctx);
    return { setId: s.pShadowCopySetId, result: s.result };
  }

  add(setId: string, share: string, ctx = ADMIN): Promise<{ pShadowCopyId: string; result: number }> {
    return this.svc.addToShadowCopySet({ ClientShadowCopyId: '22222222-2222-2222-2222-222222222222', ShadowCopySetId: setId, ShareName: share }, ctx);
  }

  /** SetContext → Start → Add(each) → Prepare → Commit → Expose; throws on any failure. */
  async exposed(shares: string[] = [unc('fsrvp_share')], context: number = CTX.BACKUP): Promise<{ setId: string; copyIds: string[] }> {
    const r = await this.committed(shares, context, { prepare: true });
    must('Expose', (await this.svc.exposeShadowCopySet({ ShadowCopySetId: r.setId, TimeOutInMilliseconds: 120000 }, ADMIN)).result);
    return r;
  }

  /** Start → Add(each) → [Prepare] → Commit; throws on any failure; returns ids. */
  async committed(
    shares: string[] = [unc('fsrvp_share')], context: number = CTX.BACKUP, opts: { prepare?: boolean } = {},
  ): Promise<{ setId: string; copyIds: string[] }> {
    const { setId, result } = await this.start(ADMIN, context);
    must('Start', result);
    const copyIds: string[] = [];
    for (const s of shares) {
      const a = await this.add(setId, s);
      must(`Add ${s}`, a.result);
      copyIds.push(a.pShadowCopyId);
    }
    if (opts.prepare) must('Prepare', (await this.svc.prepareShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 240000 }, ADMIN)).result);
    must('Commit', (await this.svc.commitShadowCopySet({ ShadowCopySetId: setId, TimeOutInMilliseconds: 180000 }, ADMIN)).result);
    return { setId, copyIds };
  }

  status(setId: string): string | undefined {
    return this.svc.view().sets.find((s) => s.id === setId)?.status;
  }
}

export function must(what: string, result: number): void {
  if (result !== HRESULT.ZERO) throw new Error(`${what} returned ${hresultName(result)}`);
}

/** The set-level calls as ADMIN on the current harness (`get()`), with the timeouts smbtorture uses. */
export function setCalls(get: () => Harness) {
  return {
    prepare: (id: string, t = 240000) => get().svc.prepareShadowCopySet({ ShadowCopySetId: id, TimeOutInMilliseconds: t }, ADMIN),
    commit: (id: string, t = 180000) => get().svc.commitShadowCopySet({ ShadowCopySetId: id, TimeOutInMilliseconds: t }, ADMIN),
    expose: (id: string, t = 120000) => get().svc.exposeShadowCopySet({ ShadowCopySetId: id, TimeOutInMilliseconds: t }, ADMIN),
    recover: (id: string) => get().svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: id }, ADMIN),
    abort: (id: string) => get().svc.abortShadowCopySet({ ShadowCopySetId: id }, ADMIN),
    getMap: (copy: string, set: string, share: string, level = 1) =>
      get().svc.getShareMapping({ ShadowCopyId: copy, ShadowCopySetId: set, ShareName: share, Level: level }, ADMIN),
    del: (set: string, copy: string, share: string) =>
      get().svc.deleteShareMapping({ ShadowCopySetId: set, ShadowCopyId: copy, ShareName: share }, ADMIN),
  };
}
