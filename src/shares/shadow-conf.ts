/**
 * The shadow_copy2 settings of Samba's shares, for snapshot placement (storage/layout.ts):
 * every disk share testparm prints, with its parameters by normalised name. Exposed snapshot
 * shares (`<base>@{guid}`) are left out: they are copies, not places to put snapshots.
 * Re-read at most every `cacheMs` (default 5 s), and at once when smb.conf or an included file
 * changed (ConfFingerprinter). A share the cached read does not know (added a moment ago with
 * `net conf addshare`) is read again at once, bounded: at most one such re-read per
 * `relookupMs` (default 250 ms), so a flood of unknown names costs one testparm run per window.
 */
import createDebug from 'debug';
import { run } from '../sys/exec.js';
import type { ShareShadowConf } from '../storage/layout.js';
import { ConfFingerprinter } from './samba-base-cache.js';
import { sharesFromSections } from './registry.js';
import { normalizeParam, parseSmbConf } from './smbconf.js';

const debug = createDebug('fsrvp:shares');

const SNAPSHOT_SHARE_RE = /@\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}\$?$/i;

export interface ShadowConfOptions {
  readonly configFile?: string;
  readonly testparmCommand?: string;
  readonly cacheMs?: number;
  readonly timeoutMs?: number;
  /** Least time between two re-reads forced by a share the cache does not know, ms (default 250). */
  readonly relookupMs?: number;
}

/** Parses testparm output into the disk shares' settings. */
export function shadowConfsFromText(text: string): ShareShadowConf[] {
  const sections = parseSmbConf(text);
  const byName = new Map(sections.map((s) => [s.name.toLowerCase(), s] as const));
  const out: ShareShadowConf[] = [];
  for (const share of sharesFromSections(sections)) {
    if (SNAPSHOT_SHARE_RE.test(share.name)) continue;
    const section = byName.get(share.name.toLowerCase());
    if (!section) continue;
    const params = new Map<string, string>();
    for (const [k, v] of section.params) params.set(normalizeParam(k), v);
    out.push({ name: share.name, path: share.path, params });
  }
  return out;
}

export class ShadowConfReader {
  private cache: { at: number; key: string | undefined; confs: ShareShadowConf[] } | undefined;
  private readonly fingerprints = new ConfFingerprinter();
  private inFlight: Promise<ShareShadowConf[]> | undefined;
  private lastRelookup = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ShadowConfOptions = {}) {}

  private async key(): Promise<string | undefined> {
    if (!this.options.configFile) return undefined;
    const fp = await this.fingerprints.fingerprint(this.options.configFile).catch(() => undefined);
    return fp && 'key' in fp ? fp.key : undefined;
  }

  /**
   * The settings; concurrent callers (the volumes of one Commit) share one read. With
   * `shareName`, a cached read that does not know that share is replaced by a new one (bounded).
   */
  async read(shareName?: string): Promise<ShareShadowConf[]> {
    const confs = await this.shared();
    if (shareName === undefined) return confs;
    const want = shareName.toLowerCase();
    if (confs.some((c) => c.name.toLowerCase() === want)) return confs;
    const now = Date.now();
    if (now - this.lastRelookup < (this.options.relookupMs ?? 250)) return confs;
    this.lastRelookup = now;
    debug('share %s is not in the cached shadow_copy2 settings; reading them again', shareName);
    this.cache = undefined;
    return this.shared();
  }

  private shared(): Promise<ShareShadowConf[]> {
    this.inFlight ??= this.readNow().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readNow(): Promise<ShareShadowConf[]> {
    const key = await this.key();
    const c = this.cache;
    if (c && key !== undefined && c.key === key && Date.now() - c.at < (this.options.cacheMs ?? 5000)) return c.confs;
    const args = ['--suppress-prompt', ...(this.options.configFile ? [this.options.configFile] : [])];
    const { stdout } = await run(this.options.testparmCommand ?? 'testparm', args, { timeoutMs: this.options.timeoutMs ?? 30_000 });
    const confs = shadowConfsFromText(stdout);
    debug('read the shadow_copy2 settings of %d shares', confs.length);
    this.cache = { at: Date.now(), key, confs };
    return confs;
  }
}
