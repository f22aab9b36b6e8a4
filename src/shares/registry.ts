/**
 * Share registries: map share names to local paths, case-insensitively, keeping the canonical
 * (configured) name. Never resolve hosts or touch the network.
 *
 * - StaticShareRegistry: shares from the agent's own configuration.
 * - SambaShareRegistry: the shares Samba serves, read from `testparm` (smb.conf plus registry
 *   shares when smb.conf has `include = registry`) or from `net conf list` (registry only), cached.
 * - CombinedShareRegistry: the first registry that knows a name wins.
 *
 * A share section may choose its snapshot backend with the parametric option `fsrvp:backend`.
 */
import { isAbsolute, normalize } from 'node:path';
import createDebug from 'debug';
import { run } from '../sys/exec.js';
import { ShareListCache } from './share-list-cache.js';
import { getParam, parseBool, parseSmbConf, type SmbConfSection } from './smbconf.js';
import type { Share, ShareRegistry } from './types.js';

const debug = createDebug('fsrvp:shares');

/** Case-insensitive key of a share name (Samba compares share names without case). */
export function shareKey(name: string): string {
  return name.toLowerCase();
}

/** Normalised absolute path without a trailing slash. */
function cleanPath(p: string): string {
  return normalize(p).replace(/(.)\/+$/, '$1');
}

function checkShare(share: Share): Share {
  if (!share.name || /[\x00-\x1f\\/[\]]/.test(share.name)) throw new TypeError(`invalid share name: ${JSON.stringify(share.name)}`);
  if (!isAbsolute(share.path)) throw new TypeError(`share ${share.name}: path must be absolute: ${share.path}`);
  const out: Share = { name: share.name, path: cleanPath(share.path) };
  return share.backend ? { ...out, backend: share.backend } : out;
}

function indexShares(shares: Iterable<Share>): Map<string, Share> {
  const map = new Map<string, Share>();
  for (const s of shares) {
    const share = checkShare(s);
    const key = shareKey(share.name);
    if (map.has(key)) throw new TypeError(`share ${share.name} is defined twice (names are case-insensitive)`);
    map.set(key, share);
  }
  return map;
}

export type StaticShareConfig = Iterable<Share> | Readonly<Record<string, string | { readonly path: string; readonly backend?: string }>>;

/** Shares from configuration: `{ data: '/srv/data' }`, `{ data: { path, backend } }` or a list of Share. */
export class StaticShareRegistry implements ShareRegistry {
  private readonly shares: Map<string, Share>;

  constructor(config: StaticShareConfig) {
    const list: Share[] = Symbol.iterator in config
      ? [...(config as Iterable<Share>)]
      : Object.entries(config as Record<string, string | { path: string; backend?: string }>).map(([name, v]) =>
        typeof v === 'string' ? { name, path: v } : { name, path: v.path, ...(v.backend ? { backend: v.backend } : {}) });
    this.shares = indexShares(list);
  }

  async lookup(name: string): Promise<Share | undefined> {
    return this.shares.get(shareKey(name));
  }

  async list(): Promise<Share[]> {
    return [...this.shares.values()];
  }
}

/** The disk shares among parsed smb.conf sections: not [global], not printers, with an absolute path without substitutions. */
export function sharesFromSections(sections: readonly SmbConfSection[]): Share[] {
  const out: Share[] = [];
  const seen = new Set<string>();
  for (const s of sections) {
    const key = shareKey(s.name);
    if (key === 'global' || key === 'printers' || key === 'homes' || seen.has(key)) continue;
    const path = getParam(s, 'path');
    if (!path) continue;
    if (parseBool(getParam(s, 'printable') ?? getParam(s, 'print ok')) === true) continue;
    if (parseBool(getParam(s, 'available')) === false) continue;
    if (path.includes('%') || !isAbsolute(path)) {
      debug('share %s skipped: path %s has substitutions or is relative', s.name, path);
      continue;
    }
    const backend = getParam(s, 'fsrvp:backend');
    seen.add(key);
    out.push({ name: s.name, path: cleanPath(path), ...(backend ? { backend } : {}) });
  }
  return out;
}

export interface SambaShareRegistryOptions {
  /** smb.conf to read (testparm's argument, `net -s`); default: Samba's own. */
  readonly configFile?: string;
  /** 'testparm' (default: smb.conf and registry shares) or 'net-conf' (registry shares only). */
  readonly source?: 'testparm' | 'net-conf';
  readonly testparmCommand?: string;
  readonly netCommand?: string;
  /** How long a read stays fresh, ms (default 5000; 0 = always re-read). */
  readonly cacheMs?: number;
  /** Least time between two re-reads forced by unknown share names, ms (default 250). */
  readonly relookupMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Shares as Samba sees them, re-read at most every `cacheMs` (or on `refresh()`). A name the
 * cached list does not know is looked up again before it is refused (share-list-cache.ts: one
 * read for all the misses of a moment, at most one per `relookupMs`).
 */
export class SambaShareRegistry implements ShareRegistry {
  private readonly cache: ShareListCache;

  constructor(private readonly options: SambaShareRegistryOptions = {}) {
    this.cache = new ShareListCache(
      { read: async () => sharesFromSections(parseSmbConf(await this.dump())) },
      { ttlMs: options.cacheMs ?? 5000, relookupMs: options.relookupMs ?? 250, keyOf: shareKey },
    );
  }

  /** The configuration text as the chosen tool prints it. */
  async dump(): Promise<string> {
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    if (this.options.source === 'net-conf') {
      const args = [...(this.options.configFile ? ['-s', this.options.configFile] : []), 'conf', 'list'];
      return (await run(this.options.netCommand ?? 'net', args, { timeoutMs })).stdout;
    }
    // testparm: -s is --suppress-prompt; the configuration file is the positional argument.
    const args = ['--suppress-prompt', ...(this.options.configFile ? [this.options.configFile] : [])];
    return (await run(this.options.testparmCommand ?? 'testparm', args, { timeoutMs })).stdout;
  }

  /** Re-reads the configuration now. */
  refresh(): Promise<Share[]> {
    return this.cache.refresh();
  }

  lookup(name: string): Promise<Share | undefined> {
    return this.cache.lookup(name);
  }

  list(): Promise<Share[]> {
    return this.cache.list();
  }
}

/** Several registries as one: lookups try each in order; list() merges, the first definition of a name winning. */
export class CombinedShareRegistry implements ShareRegistry {
  private readonly registries: readonly ShareRegistry[];

  constructor(...registries: ShareRegistry[]) {
    this.registries = registries;
  }

  async lookup(name: string): Promise<Share | undefined> {
    for (const r of this.registries) {
      const s = await r.lookup(name);
      if (s) return s;
    }
    return undefined;
  }

  async list(): Promise<Share[]> {
    const out = new Map<string, Share>();
    for (const r of this.registries) {
      for (const s of await r.list()) if (!out.has(shareKey(s.name))) out.set(shareKey(s.name), s);
    }
    return [...out.values()];
  }
}
