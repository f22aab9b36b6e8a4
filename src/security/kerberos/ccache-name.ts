/**
 * Which credential cache file a cache name means, as MIT krb5 resolves it (read-only: nothing is
 * created here):
 *  - FILE:path, or a name without a type: that file;
 *  - DIR:dir, a cache collection: its primary cache, the file in `dir` that the first line of
 *    `dir/primary` names (a name beginning with "tkt", no slash); "tkt" when there is no
 *    primary file yet (the one MIT's kinit then creates);
 *  - DIR::path, one cache of a collection: that file (its name begins with "tkt").
 * Other types (KEYRING:, KCM:, MEMORY:, API:) live outside the filesystem: a CcacheError says
 * how to get a file cache instead. No name (KRB5CCNAME unset) is MIT's default /tmp/krb5cc_<uid>.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CcacheError } from './ccache.js';

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

/** The cache file that `name` (a KRB5CCNAME value) means; CcacheError for other cache types. */
export async function ccacheFile(name: string): Promise<string> {
  const m = /^([A-Za-z]+):(.*)$/s.exec(name);
  if (m === null) return name;
  const type = m[1]!.toUpperCase();
  const rest = m[2]!;
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
  throw refuse(name, `${type}: caches are not files; only FILE: and DIR: caches can be read (kinit -c FILE:/path, or --krb5-ccache FILE)`);
}

/** The cache file `KRB5CCNAME` names (ccacheFile), or MIT's default /tmp/krb5cc_<uid>. */
export function ccachePath(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): Promise<string> {
  const name = env.KRB5CCNAME;
  return name === undefined || name === '' ? Promise.resolve(`/tmp/krb5cc_${uid}`) : ccacheFile(name);
}
