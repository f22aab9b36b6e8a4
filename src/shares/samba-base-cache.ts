/**
 * Caching what `testparm --section-name=<base>` prints, safely: an entry is used only while
 * nothing testparm read has changed. Its key is
 * - the identity and times of smb.conf and of every file it includes, recursively (inode, size,
 *   mtime and ctime in ns; a missing file counts as "missing"), and
 * - the registry's definitions of the base share and of [global] (read through the helper by the
 *   caller: registry contents, not file times).
 * A configuration whose view depends on more than that is never cached: an include with a
 * substitution (%m, %U, …) or a relative path, `config file =`, usershares.
 * An entry is stored only when no file changed shortly before the read began (a change within
 * the same timestamp tick could otherwise go unseen) and the key read again after testparm is
 * unchanged. "Shortly" depends on the file's timestamps: FINE_RACY_MS when they have a sub-second
 * part (Linux local filesystems stamp with the kernel's coarse clock, a few ms per tick), RACY_MS
 * when they are whole seconds (a filesystem with 1–2 s granularity, or a file whose times were set
 * by hand). So publishes right after an edit of smb.conf pay for testparm for 0.1 s, not 2 s.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { normalizeParam, type SmbConfSection } from './smbconf.js';

/** Files changed this recently (ms) are not trusted to show a further change in their times. */
export const RACY_MS = 2_000;
/** The same for files whose times have a sub-second part (a fine-grained clock). */
export const FINE_RACY_MS = 100;
/** At most this many files are followed through includes. */
const MAX_FILES = 64;

export interface ConfScan {
  /** Absolute paths of the files included (`include = registry` is not a file). */
  readonly includes: readonly string[];
  /** Why testparm's view of this configuration cannot be keyed on files. */
  readonly uncacheable?: string;
}

/** The includes of one smb.conf text, and whether it has something that defeats caching. */
export function scanConfText(text: string): ConfScan {
  const includes: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.trim();
    if (!line || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const name = normalizeParam(line.slice(0, eq));
    const value = line.slice(eq + 1).trim();
    if (name === 'include') {
      if (value.toLowerCase() === 'registry') continue;
      if (value.includes('%')) return { includes, uncacheable: `include with a substitution: ${value}` };
      if (!isAbsolute(value)) return { includes, uncacheable: `include with a relative path: ${value}` };
      includes.push(value);
    } else if (name === 'configfile') {
      return { includes, uncacheable: `config file = ${value}` };
    } else if (name === 'usersharemaxshares' && Number(value) !== 0) {
      return { includes, uncacheable: 'usershares are enabled' };
    }
  }
  return { includes };
}

export type Fingerprint =
  | {
    readonly key: string;
    readonly newestChangeMs: number;
    /** Until when (ms since the epoch) a further change could carry the same times: no caching before. */
    readonly racyUntilMs: number;
  }
  | { readonly uncacheable: string };

/** Fingerprints smb.conf and its includes; files are re-read only when their stat changed. */
export class ConfFingerprinter {
  private readonly scans = new Map<string, { readonly statKey: string; readonly scan: ConfScan }>();

  async fingerprint(main: string): Promise<Fingerprint> {
    const parts: string[] = [];
    let newest = 0;
    let racyUntil = 0;
    const seen = new Set<string>();
    const queue = [main];
    while (queue.length) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      if (seen.size > MAX_FILES) return { uncacheable: `more than ${MAX_FILES} included files` };
      let st;
      try {
        st = await stat(file, { bigint: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        parts.push(`${file}\0missing`);
        continue;
      }
      const statKey = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      parts.push(`${file}\0${statKey}`);
      const changedNs = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
      const changed = Number(changedNs / 1_000_000n);
      if (changed > newest) newest = changed;
      const fine = st.mtimeNs % 1_000_000_000n !== 0n && st.ctimeNs % 1_000_000_000n !== 0n;
      racyUntil = Math.max(racyUntil, changed + (fine ? FINE_RACY_MS : RACY_MS));
      let scanned = this.scans.get(file);
      if (scanned?.statKey !== statKey) {
        scanned = { statKey, scan: scanConfText(await readFile(file, 'utf8')) };
        if (this.scans.size > MAX_FILES * 4) this.scans.clear();
        this.scans.set(file, scanned);
      }
      if (scanned.scan.uncacheable) return { uncacheable: `${file}: ${scanned.scan.uncacheable}` };
      queue.push(...scanned.scan.includes);
    }
    return { key: parts.join('\n'), newestChangeMs: newest, racyUntilMs: racyUntil };
  }
}

/** Base share definitions by share name (without case), each valid for one key. */
export class BaseDefinitionCache {
  private readonly entries = new Map<string, { readonly key: string; readonly section: SmbConfSection }>();

  constructor(private readonly maxEntries = 256) {}

  get(name: string, key: string): SmbConfSection | undefined {
    const e = this.entries.get(name.toLowerCase());
    return e && e.key === key ? e.section : undefined;
  }

  set(name: string, key: string, section: SmbConfSection): void {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(name.toLowerCase(), { key, section });
  }

  clear(): void {
    this.entries.clear();
  }
}
