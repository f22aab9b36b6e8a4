/**
 * Which credential cache file a cache name means, as MIT krb5 resolves it (read-only: nothing is
 * created here):
 *  - FILE:path, or a name without a type: that file;
 *  - DIR:dir, a cache collection: its primary cache, the file in `dir` that the first line of
 *    `dir/primary` names (a name beginning with "tkt", no slash); "tkt" when there is no
 *    primary file yet (the one MIT's kinit then creates);
 *  - DIR::path, one cache of a collection: that file (its name begins with "tkt");
 *  - KCM: or KCM:name, a cache kept by the KCM daemon (ccache-kcm.ts).
 * Other types (KEYRING:, MEMORY:, API:) are a CcacheError saying how to get a file cache
 * instead. No name (KRB5CCNAME unset) is MIT's default /tmp/krb5cc_<uid>.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CcacheError, readCcache, type Ccache } from './ccache.js';
import { DEFAULT_KCM_SOCKET, readKcmCcache } from './ccache-kcm.js';
import type { Krb5Conf } from './krb5-conf.js';

const SUBSIDIARY = /^tkt[^/\\]*$/;

const refuse = (name: string, why: string): CcacheError => new CcacheError(-1, `credential cache ${name}: ${why}`);

/** The primary cache file of the DIR: collection `dir`. */
async function primaryOf(name: string, dir: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(join(dir, 'primary'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return join(dir, 'tkt');
    if (code === 'ENOTDIR') throw refuse(name, `${dir} is not a directory`);
    throw refuse(name, `${join(dir, 'primary')}: ${code ?? String(e)}`);
  }
  const nl = text.indexOf('\n');
  const first = nl < 0 ? '' : text.slice(0, nl);
  if (!SUBSIDIARY.test(first)) throw refuse(name, `${join(dir, 'primary')} does not name a cache file (one line, a name beginning with "tkt")`);
  return join(dir, first);
}

export type CcacheLocation = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'kcm'; readonly residual: string };

/** Where the cache `name` (a KRB5CCNAME value) is; CcacheError for other cache types. */
export async function locateCcache(name: string): Promise<CcacheLocation> {
  const m = /^([A-Za-z]+):(.*)$/s.exec(name);
  if (m === null) return { kind: 'file', path: name };
  const type = m[1]!.toUpperCase();
  const rest = m[2]!;
  if (type === 'KCM') return { kind: 'kcm', residual: rest };
  return { kind: 'file', path: await fileOf(name, type, rest) };
}

async function fileOf(name: string, type: string, rest: string): Promise<string> {
  if (type === 'FILE') return rest;
  if (type === 'DIR') {
    if (rest.startsWith(':')) {
      const file = rest.slice(1);
      if (!SUBSIDIARY.test(basename(file)) || dirname(file) === '.') throw refuse(name, 'a DIR:: cache is a file whose name begins with "tkt", in its collection directory');
      return file;
    }
    if (rest === '') throw refuse(name, 'DIR: needs a directory');
    return primaryOf(name, rest);
  }
  throw refuse(name, `${type}: caches cannot be read here; only FILE:, DIR: and KCM: caches can (kinit -c FILE:/path, or --krb5-ccache FILE)`);
}

/** The cache name in force: `name`, else KRB5CCNAME, else MIT's default /tmp/krb5cc_<uid>. */
export function ccacheName(name: string | undefined, env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string {
  if (name !== undefined && name !== '') return name;
  const fromEnv = env.KRB5CCNAME;
  return fromEnv === undefined || fromEnv === '' ? `/tmp/krb5cc_${uid}` : fromEnv;
}

/**
 * Reads the cache `name` means (locateCcache): a file, or from the KCM daemon at krb5.conf's
 * kcm_socket. `where` names it for messages (the file, or KCM:<cache name>).
 */
export async function loadCcache(name: string, conf: () => Promise<Krb5Conf>): Promise<{ where: string; ccache: Ccache }> {
  const loc = await locateCcache(name);
  if (loc.kind === 'file') return { where: loc.path, ccache: await readCcache(loc.path) };
  const kcm = await readKcmCcache(loc.residual, (await conf()).kcmSocket ?? DEFAULT_KCM_SOCKET);
  return { where: kcm.displayName, ccache: kcm.ccache };
}
