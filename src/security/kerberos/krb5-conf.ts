/**
 * The little of krb5.conf (MIT's profile format) our Kerberos client reads: `[libdefaults]
 * default_realm` and each realm's `kdc` entries in `[realms]`:
 *
 *     [libdefaults]
 *       default_realm = EXAMPLE.COM
 *     [realms]
 *       EXAMPLE.COM = {
 *         kdc = kdc1.example.com:88
 *         kdc = 10.0.0.2
 *       }
 *
 * Files: KRB5_CONFIG (a colon-separated list, as MIT reads it), else /etc/krb5.conf. No DNS SRV
 * lookups and no `include` directives; a realm without a kdc entry needs the explicit KDC option
 * (`--kdc host[:port]`). Comments start with '#' or ';'. The parser is total and line-based.
 */
import { readFile } from 'node:fs/promises';

export interface Krb5Conf {
  readonly defaultRealm?: string;
  /** Realm (as written) -> its kdc entries, in order. */
  readonly kdcs: ReadonlyMap<string, readonly string[]>;
}

export interface KdcAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses krb5.conf text; unknown sections, relations and malformed lines are ignored. */
export function parseKrb5Conf(text: string): Krb5Conf {
  let section = '';
  let defaultRealm: string | undefined;
  const kdcs = new Map<string, string[]>();
  /** The open `{ }` groups: the relation name of each. */
  const stack: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
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
    if (section === 'realms' && stack.length === 1 && key === 'kdc' && value !== '') {
      const realm = stack[0]!;
      const list = kdcs.get(realm) ?? [];
      if (list.length < 64) list.push(value);
      kdcs.set(realm, list);
    }
  }
  return { ...(defaultRealm !== undefined ? { defaultRealm } : {}), kdcs };
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

/** Reads and merges the files in force (missing ones are skipped; earlier files win). */
export async function loadKrb5Conf(env: NodeJS.ProcessEnv = process.env): Promise<Krb5Conf> {
  let defaultRealm: string | undefined;
  const kdcs = new Map<string, readonly string[]>();
  for (const p of krb5ConfPaths(env)) {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch {
      continue;
    }
    const c = parseKrb5Conf(text);
    defaultRealm ??= c.defaultRealm;
    for (const [r, l] of c.kdcs) if (!kdcs.has(r)) kdcs.set(r, l);
  }
  return { ...(defaultRealm !== undefined ? { defaultRealm } : {}), kdcs };
}
