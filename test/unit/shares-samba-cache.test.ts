import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BaseDefinitionCache, ConfFingerprinter, FINE_RACY_MS, RACY_MS, scanConfText, type Fingerprint,
} from '../../src/shares/samba-base-cache.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-samba-cache-unit-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function keyOf(fp: Fingerprint): string {
  if ('uncacheable' in fp) throw new Error(`uncacheable: ${fp.uncacheable}`);
  return fp.key;
}

describe('base definition cache keys', () => {
  it('finds includes (with continuations and any spelling) and skips include = registry', () => {
    expect(scanConfText('[global]\n  include = registry\n  Include=/etc/samba/a.conf\n; include = /x\n# include = /y\n[s]\n  in\\\n  clude = /etc/samba/b.conf\n')).toEqual({
      includes: ['/etc/samba/a.conf', '/etc/samba/b.conf'],
    });
  });

  it('refuses to cache what files cannot describe: substitutions, relative includes, config file, usershares', () => {
    expect(scanConfText('include = /etc/samba/%m.conf').uncacheable).toMatch(/substitution/);
    expect(scanConfText('include = local.conf').uncacheable).toMatch(/relative/);
    expect(scanConfText('[global]\nconfig file = /etc/samba/other.conf').uncacheable).toMatch(/config file/);
    expect(scanConfText('usershare max shares = 100').uncacheable).toMatch(/usershares/);
    expect(scanConfText('usershare max shares = 0').uncacheable).toBeUndefined();
  });

  it('changes when smb.conf or an included file changes, appears or disappears', async () => {
    const main = join(dir, 'smb.conf');
    const inc = join(dir, 'inc.conf');
    await writeFile(main, `[global]\n  include = ${inc}\n[a]\n  path = /a\n`);
    const fp = new ConfFingerprinter();
    const k0 = keyOf(await fp.fingerprint(main));
    expect(k0).toMatch(/inc\.conf\0missing/);
    expect(keyOf(await fp.fingerprint(main))).toBe(k0);
    await writeFile(inc, '[b]\n  path = /b\n');
    const k1 = keyOf(await fp.fingerprint(main));
    expect(k1).not.toBe(k0);
    await writeFile(inc, '[b]\n  path = /cc\n'); // another size too: file times may not move within one clock tick
    const k2 = keyOf(await fp.fingerprint(main));
    expect(k2).not.toBe(k1);
    await writeFile(main, `[global]\n  include = ${inc}\n[a]\n  path = /zz\n`);
    expect(keyOf(await fp.fingerprint(main))).not.toBe(k2);
    await writeFile(inc, `include = ${join(dir, 'deeper.conf')}\n`);
    expect(keyOf(await fp.fingerprint(main))).toMatch(/deeper\.conf\0missing/);
    await writeFile(inc, 'include = %U.conf\n');
    expect(await fp.fingerprint(main)).toMatchObject({ uncacheable: expect.stringMatching(/inc\.conf: include with a substitution/) });
    const loop = join(dir, 'loop.conf');
    await writeFile(loop, `include = ${loop}\n`);
    expect(keyOf(await fp.fingerprint(loop))).toMatch(/loop\.conf/);
  });

  it('reports when the newest file changed, for the racy-timestamp rule', async () => {
    const main = join(dir, 'recent.conf');
    await writeFile(main, '[x]\n');
    const fp = await new ConfFingerprinter().fingerprint(main);
    expect('newestChangeMs' in fp && Math.abs(fp.newestChangeMs - Date.now()) < 5_000).toBe(true);
  });

  it('trusts file times after 0.1 s when they have a sub-second part, after 2 s when they are whole seconds', async () => {
    const main = join(dir, 'times.conf');
    await writeFile(main, '[x]\n');
    const whole = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
    await utimes(main, whole, whole); // mtime whole seconds; ctime (now) is not, but both must be fine-grained
    const coarse = await new ConfFingerprinter().fingerprint(main);
    if (!('racyUntilMs' in coarse)) throw new Error('uncacheable');
    expect(coarse.racyUntilMs - coarse.newestChangeMs).toBe(RACY_MS);
    const fineTime = new Date(Date.now() - 1000 + 123.456);
    await utimes(main, fineTime, fineTime);
    const fine = await new ConfFingerprinter().fingerprint(main);
    if (!('racyUntilMs' in fine)) throw new Error('uncacheable');
    expect(fine.racyUntilMs - fine.newestChangeMs).toBe(FINE_RACY_MS);
  });

  it('returns an entry only for its own key, by share name without case', () => {
    const c = new BaseDefinitionCache(2);
    const section = { name: 'Data', params: [['path', '/d']] as const };
    c.set('Data', 'k1', section);
    expect(c.get('DATA', 'k1')).toBe(section);
    expect(c.get('data', 'k2')).toBeUndefined();
    c.set('b', 'k', section);
    c.set('c', 'k', section); // over the limit: starts again
    expect(c.get('data', 'k1')).toBeUndefined();
    expect(c.get('c', 'k')).toBe(section);
  });
});
