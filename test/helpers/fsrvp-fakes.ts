/**
 * In-memory stand-ins for the snapshot backend, the share publisher, the share registry and the
 * scheduler, for FSRVP service tests. Each records its calls and can be told to be slow or to
 * fail. Keep the same instances across a service restart: they play the part of the disk.
 */
import type { CreateOptions, Refusal, SnapshotBackend, SnapshotRef, Volume } from '../../src/storage/backend.js';
import type { PublishRequest, Share, SharePublisher, ShareRegistry } from '../../src/shares/types.js';
import type { Scheduler, TimerHandle } from '../../src/fsrvp/timer.js';

export interface Call {
  readonly method: string;
  readonly args: readonly unknown[];
}

/** A failure to inject: always, or when the predicate returns an error for the arguments. */
export type Failure = Error | ((...args: never[]) => Error | undefined);

function injected(f: Failure | undefined, args: unknown[]): Error | undefined {
  if (!f) return undefined;
  return typeof f === 'function' ? (f as (...a: unknown[]) => Error | undefined)(...args) : f;
}

/** Waits `ms` real milliseconds; rejects with the signal's reason when it fires (unless `ignoreAbort`). */
export function sleep(ms: number, signal?: AbortSignal, ignoreAbort = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0 && !signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal && !ignoreAbort) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

type BackendMethod = 'supports' | 'volumeOf' | 'check' | 'create' | 'setReadOnly' | 'delete' | 'list';

export class FakeBackend implements SnapshotBackend {
  readonly calls: Call[] = [];
  /** Snapshots "on disk", by name. */
  readonly snapshots = new Map<string, SnapshotRef>();
  readonly delays: Partial<Record<BackendMethod, number>> = {};
  readonly failures: Partial<Record<BackendMethod, Failure>> = {};
  /** Path -> reason the directory policy refuses it. */
  readonly refusals = new Map<string, string>();
  /** When true, `create` finishes its work even after the signal fired (a misbehaving backend). */
  ignoreAbort = false;
  private counter = 0;

  constructor(
    readonly name: string,
    /** Volumes this backend serves: a share path under `root` belongs to volume `id`. */
    readonly volumes: Array<{ id: string; root: string }>,
    private readonly clock: () => number = Date.now,
  ) {}

  private async enter(method: BackendMethod, args: unknown[], signal?: AbortSignal): Promise<void> {
    this.calls.push({ method, args });
    const d = this.delays[method];
    if (d) await sleep(d, signal, this.ignoreAbort);
    const e = injected(this.failures[method], args);
    if (e) throw e;
  }

  count(method: BackendMethod): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  private volumeFor(path: string): { id: string; root: string } | undefined {
    return this.volumes
      .filter((v) => path === v.root || path.startsWith(`${v.root}/`))
      .sort((a, b) => b.root.length - a.root.length)[0];
  }

  async supports(path: string): Promise<boolean> {
    await this.enter('supports', [path]);
    return this.volumeFor(path) !== undefined;
  }

  async volumeOf(sharePath: string): Promise<Volume> {
    await this.enter('volumeOf', [sharePath]);
    const v = this.volumeFor(sharePath);
    if (!v) throw new Error(`${sharePath} is on no volume of ${this.name}`);
    return { id: v.id, root: v.root, backend: this.name };
  }

  async check(sharePath: string): Promise<Refusal | undefined> {
    await this.enter('check', [sharePath]);
    const reason = this.refusals.get(sharePath);
    return reason ? { path: sharePath, reason } : undefined;
  }

  async create(volume: Volume, opts: CreateOptions): Promise<SnapshotRef> {
    await this.enter('create', [volume, { shadowCopyId: opts.shadowCopyId, writable: opts.writable }], opts.signal);
    const name = `${volume.id}-${opts.shadowCopyId}-${++this.counter}`;
    const ref: SnapshotRef = {
      backend: this.name,
      volumeId: volume.id,
      path: `${volume.root}/.snapshots/${name}`,
      name,
      writable: opts.writable,
      createdAt: this.clock(),
    };
    this.snapshots.set(name, ref);
    return ref;
  }

  async setReadOnly(snap: SnapshotRef): Promise<void> {
    await this.enter('setReadOnly', [snap]);
    const s = this.snapshots.get(snap.name);
    if (s) this.snapshots.set(snap.name, { ...s, writable: false });
  }

  async delete(snap: SnapshotRef): Promise<void> {
    await this.enter('delete', [snap]);
    this.snapshots.delete(snap.name);
  }

  async list(volume: Volume): Promise<SnapshotRef[]> {
    await this.enter('list', [volume]);
    return [...this.snapshots.values()].filter((s) => s.volumeId === volume.id);
  }
}

type PublisherMethod = 'publish' | 'setReadOnly' | 'unpublish' | 'list';

export class FakePublisher implements SharePublisher {
  readonly name = 'fake-publisher';
  readonly calls: Call[] = [];
  /** Published shares by name (case preserved). */
  readonly shares = new Map<string, PublishRequest>();
  readonly delays: Partial<Record<PublisherMethod, number>> = {};
  readonly failures: Partial<Record<PublisherMethod, Failure>> = {};

  private async enter(method: PublisherMethod, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    const d = this.delays[method];
    if (d) await sleep(d);
    const e = injected(this.failures[method], args);
    if (e) throw e;
  }

  count(method: PublisherMethod): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  async publish(req: PublishRequest): Promise<void> {
    await this.enter('publish', [req]);
    if (this.shares.has(req.name)) throw new Error(`share ${req.name} already exists`);
    this.shares.set(req.name, req);
  }

  async setReadOnly(name: string): Promise<void> {
    await this.enter('setReadOnly', [name]);
    const s = this.shares.get(name);
    if (s) this.shares.set(name, { ...s, readOnly: true });
  }

  async unpublish(name: string): Promise<void> {
    await this.enter('unpublish', [name]);
    this.shares.delete(name);
  }

  async list(): Promise<string[]> {
    await this.enter('list', []);
    return [...this.shares.keys()];
  }
}

export class FakeRegistry implements ShareRegistry {
  readonly calls: Call[] = [];

  constructor(readonly shares: Share[]) {}

  async lookup(name: string): Promise<Share | undefined> {
    this.calls.push({ method: 'lookup', args: [name] });
    return this.shares.find((s) => s.name.toLowerCase() === name.toLowerCase());
  }

  async list(): Promise<Share[]> {
    this.calls.push({ method: 'list', args: [] });
    return [...this.shares];
  }
}

/** A scheduler whose time only moves when a test says so. */
export class FakeScheduler implements Scheduler {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}
