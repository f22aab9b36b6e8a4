/**
 * Standalone publisher (no Samba): records published snapshot shares in a JSON file in the state
 * directory, replaced atomically on every change (temporary file, fsync, rename), and serves them
 * as a ShareRegistry so the agent can resolve `share@{guid}` names itself.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { ATOMIC_TMP_PREFIX, writeFileAtomic } from '../sys/atomic.js';
import { shareKey } from './registry.js';
import type { PublishRequest, Share, SharePublisher, ShareRegistry } from './types.js';

const debug = createDebug('fsrvp:shares');

export const STANDALONE_FILE = 'published-shares.json';

/** A published snapshot share. */
export interface PublishedShare extends Share {
  readonly readOnly: boolean;
  /** Canonical name of the share it is a copy of. */
  readonly base: string;
  readonly comment: string;
  readonly publishedAt: number;
}

interface StoreFile {
  readonly version: 1;
  readonly shares: PublishedShare[];
}

export interface StandalonePublisherOptions {
  /** Directory for the JSON file (created if missing). */
  readonly stateDir: string;
  readonly fileName?: string;
}

export class StandalonePublisher implements SharePublisher {
  readonly name = 'standalone';
  readonly file: string;
  /** The published shares as a registry (case-insensitive lookups). */
  readonly registry: ShareRegistry;
  private shares: Map<string, PublishedShare> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: StandalonePublisherOptions) {
    this.file = join(options.stateDir, options.fileName ?? STANDALONE_FILE);
    const self = this;
    this.registry = {
      async lookup(name: string): Promise<Share | undefined> {
        return (await self.load()).get(shareKey(name));
      },
      async list(): Promise<Share[]> {
        return [...(await self.load()).values()];
      },
    };
  }

  /** Runs mutations one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async load(): Promise<Map<string, PublishedShare>> {
    if (this.shares) return this.shares;
    let parsed: StoreFile | undefined;
    try {
      parsed = JSON.parse(await readFile(this.file, 'utf8')) as StoreFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${this.file}: ${(e as Error).message}`);
    }
    if (parsed && (parsed.version !== 1 || !Array.isArray(parsed.shares))) throw new Error(`${this.file}: unknown format`);
    this.shares ??= new Map((parsed?.shares ?? []).map((s) => [shareKey(s.name), s] as const));
    return this.shares;
  }

  private async save(shares: Map<string, PublishedShare>): Promise<void> {
    await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    const body: StoreFile = { version: 1, shares: [...shares.values()] };
    await writeFileAtomic(this.file, JSON.stringify(body, null, 2) + '\n', 0o600);
  }

  /** Replaces the in-memory copy with a mutated one only after the file was written. */
  private mutate(fn: (next: Map<string, PublishedShare>) => boolean): Promise<void> {
    return this.serial(async () => {
      const next = new Map(await this.load());
      if (!fn(next)) return;
      await this.save(next);
      this.shares = next;
    });
  }

  publish(req: PublishRequest): Promise<void> {
    return this.publishMany([req]);
  }

  /** Several shares in one atomic replacement of the file: all or none. */
  publishMany(reqs: readonly PublishRequest[]): Promise<void> {
    const entries = reqs.map((req): PublishedShare => {
      debug('publish %s -> %s', req.name, req.path);
      return {
        name: req.name, path: req.path, readOnly: req.readOnly, base: req.base.name, comment: req.comment, publishedAt: Date.now(),
        ...(req.base.backend ? { backend: req.base.backend } : {}),
      };
    });
    return this.mutate((m) => {
      for (const e of entries) m.set(shareKey(e.name), e);
      return entries.length > 0;
    });
  }

  setReadOnly(name: string): Promise<void> {
    return this.mutate((m) => {
      const s = m.get(shareKey(name));
      if (!s) throw new Error(`no published share named ${name}`);
      if (s.readOnly) return false;
      m.set(shareKey(name), { ...s, readOnly: true });
      return true;
    });
  }

  unpublish(name: string): Promise<void> {
    debug('unpublish %s', name);
    return this.mutate((m) => m.delete(shareKey(name)));
  }

  async list(): Promise<string[]> {
    return [...(await this.load()).values()].map((s) => s.name);
  }

  /** A published share with its read-only flag, by name (case-insensitive). */
  async get(name: string): Promise<PublishedShare | undefined> {
    return (await this.load()).get(shareKey(name));
  }

  /** Forgets the in-memory copy; the next call reads the file again. */
  reload(): void {
    this.shares = undefined;
  }

  /** Removes temporary files a crash left mid-write; returns how many. */
  async removeStaleTemporaries(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.options.stateDir);
    } catch {
      return 0;
    }
    const prefix = `${ATOMIC_TMP_PREFIX}${this.options.fileName ?? STANDALONE_FILE}-`;
    const stale = names.filter((n) => n.startsWith(prefix));
    await Promise.all(stale.map((n) => rm(join(this.options.stateDir, n), { force: true })));
    return stale.length;
  }
}
