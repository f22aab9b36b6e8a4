/**
 * The little of krb5.conf (MIT's profile format) our Kerberos client reads: `[libdefaults]
 * default_realm` and `kcm_socket`, each realm's `kdc` entries in `[realms]`, the `[domain_realm]` mapping, and
 * `include FILE` / `includedir DIR` lines:
 *
 *     include /etc/krb5.conf.d/site.conf
 *     [libdefaults]
 *       default_realm = EXAMPLE.COM
 *     [realms]
 *       EXAMPLE.COM = {
 *         kdc = kdc1.example.com:88
 *         kdc = 10.0.0.2
 *       }
 *     [domain_realm]
 *       .example.com = EXAMPLE.COM
 *       fs.other.org = EXAMPLE.COM
 *
 * Files: KRB5_CONFIG (a colon-separated list, as MIT reads it), else /etc/krb5.conf; included
 * files follow their `include` line (each starts with a section header of its own, as MIT wants;
 * `includedir` takes the files whose names are letters, digits, '-' and '_' or end in ".conf",
 * sorted). The first value of a relation wins; kdc lists of a realm from several files are
 * joined. No DNS SRV lookups; a realm without a kdc entry needs the explicit KDC option (`--kdc
 * host[:port]`). Comments start with '#' or ';'. The parser is total and line-based.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Krb5Conf {
  readonly defaultRealm?: string;
  /** [libdefaults] kcm_socket: the KCM daemon's socket (KCM: caches). */
  readonly kcmSocket?: string;
  /** Realm (as written) -> its kdc entries, in order. */
  readonly kdcs: ReadonlyMap<string, readonly string[]>;
  /** [domain_realm]: host name or ".domain" (lower case) -> realm, first entry winning. */
  readonly domainRealm: ReadonlyMap<string, string>;
}

/** What one file says: its relations, and the files it includes (in order). */
export interface Krb5ConfText extends Krb5Conf {
  readonly includes: readonly { readonly kind: 'file' | 'dir'; readonly path: string }[];
}

export interface KdcAddress {
  readonly host: string;
  readonly port: number;
}

const MAX_ENTRIES = 256;

/** Parses krb5.conf text; unknown sections, relations and malformed lines are ignored. */
export function parseKrb5Conf(text: string): Krb5ConfText {
  let section = '';
  let defaultRealm: string | undefined;
  let kcmSocket: string | undefined;
  const kdcs = new Map<string, string[]>();
  const domainRealm = new Map<string, string>();
  const includes: Array<{ kind: 'file' | 'dir'; path: string }> = [];
  /** The open `{ }` groups: the relation name of each. */
  const stack: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const inc = /^(include|includedir)\s+(\S.*)$/.exec(raw);
    if (inc) {
      if (includes.length < 64) includes.push({ kind: inc[1] === 'include' ? 'file' : 'dir', path: inc[2]!.trim() });
      continue;
    }
    const sec = /^\[([^\]]*)\]/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      stack.length = 0;
      continue;
    }
    if (line.startsWith('}')) {
      stack.pop();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value === '{') {
      if (stack.length < 16) stack.push(key);
      continue;
    }
    if (value.endsWith('*')) value = value.slice(0, -1).trim(); // "final" marker
    if (section === 'libdefaults' && stack.length === 0 && key === 'default_realm') defaultRealm ??= value;
    if (section === 'libdefaults' && stack.length === 0 && key === 'kcm_socket' && value !== '') kcmSocket ??= value;
    if (section === 'realms' && stack.length === 1 && key === 'kdc' && value !== '') {
      const realm = stack[0]!;
      const list = kdcs.get(realm) ?? [];
      if (list.length < 64 && kdcs.size < MAX_ENTRIES) list.push(value);
      if (kdcs.size < MAX_ENTRIES) kdcs.set(realm, list);
    }
    if (section === 'domain_realm' && stack.length === 0 && value !== '' && domainRealm.size < MAX_ENTRIES) {
      const k = key.toLowerCase();
      if (!domainRealm.has(k)) domainRealm.set(k, value);
    }
  }
  return { ...(defaultRealm !== undefined ? { defaultRealm } : {}), ...(kcmSocket !== undefined ? { kcmSocket } : {}), kdcs, domainRealm, includes };
}

/** `host`, `host:port`, `[v6]` or `[v6]:port` (default port 88); undefined when malformed. */
export function parseKdcAddress(spec: string): KdcAddress | undefined {
  const s = spec.replace(/^tcp\//i, '').trim();
  let host: string;
  let port = 88;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const parts = s.split(':');
    if (parts.length > 2) {
      host = s; // a bare IPv6 address
    } else {
      host = parts[0]!;
      if (parts[1] !== undefined) port = Number(parts[1]);
    }
  }
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** The KDCs configured for `realm` (compared case-sensitively first, then without case). */
export function kdcsForRealm(conf: Krb5Conf, realm: string): KdcAddress[] {
  const list = conf.kdcs.get(realm) ?? [...conf.kdcs.entries()].find(([r]) => r.toUpperCase() === realm.toUpperCase())?.[1] ?? [];
  return list.map(parseKdcAddress).filter((a): a is KdcAddress => a !== undefined);
}

/** The krb5.conf files in force: KRB5_CONFIG's list, else /etc/krb5.conf. */
export function krb5ConfPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const v = env.KRB5_CONFIG;
  return v !== undefined && v !== '' ? v.split(':').filter((p) => p !== '') : ['/etc/krb5.conf'];
}

/** The realm [domain_realm] maps `host` to: the host itself, then ".domain" suffixes, longest first. */
export function realmForHost(conf: Krb5Conf, host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  const exact = conf.domainRealm.get(h);
  if (exact !== undefined) return exact;
  for (let i = h.indexOf('.'); i >= 0; i = h.indexOf('.', i + 1)) {
    const r = conf.domainRealm.get(h.slice(i));
    if (r !== undefined) return r;
  }
  return undefined;
}

const INCLUDEDIR_NAME = /^([A-Za-z0-9_-]+|.*\.conf)$/;

/** Reads and merges the files in force and what they include (missing ones are skipped; earlier values win). */
export async function loadKrb5Conf(env: NodeJS.ProcessEnv = process.env): Promise<Krb5Conf> {
  let defaultRealm: string | undefined;
  let kcmSocket: string | undefined;
  const kdcs = new Map<string, string[]>();
  const domainRealm = new Map<string, string>();
  const seen = new Set<string>();
  const visit = async (p: string, depth: number): Promise<void> => {
    if (depth > 8 || seen.has(p) || seen.size >= 256) return;
    seen.add(p);
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch {
      return;
    }
    const c = parseKrb5Conf(text);
    defaultRealm ??= c.defaultRealm;
    kcmSocket ??= c.kcmSocket;
    for (const [r, l] of c.kdcs) {
      const have = kdcs.get(r) ?? [];
      kdcs.set(r, [...have, ...l.filter((k) => !have.includes(k))]);
    }
    for (const [d, r] of c.domainRealm) if (!domainRealm.has(d)) domainRealm.set(d, r);
    for (const inc of c.includes) {
      if (inc.kind === 'file') {
        await visit(inc.path, depth + 1);
        continue;
      }
      const names = await readdir(inc.path).catch(() => [] as string[]);
      for (const n of names.filter((x) => INCLUDEDIR_NAME.test(x)).sort()) await visit(join(inc.path, n), depth + 1);
    }
  };
  for (const p of krb5ConfPaths(env)) await visit(p, 0);
  return { ...(defaultRealm !== undefined ? { defaultRealm } : {}), ...(kcmSocket !== undefined ? { kcmSocket } : {}), kdcs, domainRealm };
}
