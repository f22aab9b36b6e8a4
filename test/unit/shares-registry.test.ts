import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CombinedShareRegistry, SambaShareRegistry, StaticShareRegistry, sharesFromSections } from '../../src/shares/registry.js';
import { getParam, parseSmbConf } from '../../src/shares/smbconf.js';

/** What `testparm --suppress-prompt` prints on stdout (Samba 4.17, tabs and all). */
const TESTPARM_OUTPUT = `# Global parameters
[global]
\tbind interfaces only = Yes
\tinterfaces = 127.0.0.1/8
\tregistry shares = Yes
\tstate directory = /var/lib/samba
\tidmap config * : backend = tdb


[homes]
\tbrowseable = No
\tcomment = Home Directories
\tread only = No


[printers]
\tbrowseable = No
\tcomment = All Printers
\tpath = /var/spool/samba
\tprintable = Yes


[Data]
\tcomment = Department data
\thide files = /@GMT-*/
\tpath = /srv/data/
\tread only = No
\tvalid users = root @staff
\tvfs objects = shadow_copy2
\tshadow: snapdir = .


[Backup$]
\tpath = /srv/backup
\tfsrvp:backend = copy


[userdirs]
\tpath = /home/%U


[off]
\tavailable = No
\tpath = /srv/off


[data@{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}]
\tcomment = Shadow copy of Data taken 2026-11-26T08:00:00Z
\tpath = /srv/.fsrvp-snapshots/data/fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.11.26-08.00.00
\tread only = Yes
`;

describe('smb.conf parsing', () => {
  it('reads sections and parameters from testparm output', () => {
    const sections = parseSmbConf(TESTPARM_OUTPUT);
    expect(sections.map((s) => s.name)).toEqual(['global', 'homes', 'printers', 'Data', 'Backup$', 'userdirs', 'off',
      'data@{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}']);
    const data = sections[3]!;
    expect(getParam(data, 'READONLY')).toBe('No');
    expect(getParam(data, 'shadow:snapdir')).toBe('.');
    expect(getParam(data, 'hide files')).toBe('/@GMT-*/');
    expect(getParam(sections[0]!, 'idmap config * : backend')).toBe('tdb');
  });

  it('handles comments, continuations and the last-one-wins rule of hand-written files', () => {
    const [s] = parseSmbConf('; c\n[x]\n # comment\n path = /a\n comment = one \\\n two\n path = /b\n');
    expect(getParam(s!, 'path')).toBe('/b');
    expect(getParam(s!, 'comment')).toBe('one two');
  });

  it('keeps disk shares with absolute paths only', () => {
    const shares = sharesFromSections(parseSmbConf(TESTPARM_OUTPUT));
    expect(shares).toEqual([
      { name: 'Data', path: '/srv/data' },
      { name: 'Backup$', path: '/srv/backup', backend: 'copy' },
      { name: 'data@{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}', path: '/srv/.fsrvp-snapshots/data/fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.11.26-08.00.00' },
    ]);
  });
});

describe('static share registry', () => {
  it('looks names up case-insensitively and returns the canonical name', async () => {
    const reg = new StaticShareRegistry({ Data: '/srv/data', 'Backup$': { path: '/srv/backup', backend: 'copy' } });
    expect(await reg.lookup('data')).toEqual({ name: 'Data', path: '/srv/data' });
    expect(await reg.lookup('BACKUP$')).toEqual({ name: 'Backup$', path: '/srv/backup', backend: 'copy' });
    expect(await reg.lookup('backup')).toBeUndefined();
    expect((await reg.list()).map((s) => s.name)).toEqual(['Data', 'Backup$']);
  });

  it('refuses duplicate names (any case), relative paths and odd names', () => {
    expect(() => new StaticShareRegistry([{ name: 'a', path: '/x' }, { name: 'A', path: '/y' }])).toThrow(/defined twice/);
    expect(() => new StaticShareRegistry({ a: 'rel/path' })).toThrow(/absolute/);
    expect(() => new StaticShareRegistry({ 'a\\b': '/x' })).toThrow(/invalid share name/);
  });
});

describe('Samba share registry (with a stand-in testparm)', () => {
  let dir: string;
  let fakeTestparm: string;
  let calls: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fsrvp-registry-'));
    await writeFile(join(dir, 'output.txt'), TESTPARM_OUTPUT);
    calls = join(dir, 'calls.txt');
    fakeTestparm = join(dir, 'testparm');
    // A stand-in for testparm that records its arguments and prints the fixture.
    await writeFile(fakeTestparm, `#!/bin/sh\necho "$@" >> '${calls}'\ncat '${join(dir, 'output.txt')}'\necho 'Loaded services file OK.' >&2\n`);
    await chmod(fakeTestparm, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs testparm with the private config, caches, re-reads for an unknown name, and on refresh', async () => {
    await writeFile(calls, '');
    const reg = new SambaShareRegistry({ testparmCommand: fakeTestparm, configFile: '/etc/private/smb.conf', cacheMs: 60_000, relookupMs: 50 });
    const lines = async (): Promise<string[]> => (await readFile(calls, 'utf8')).trim().split('\n');
    expect(await reg.lookup('DATA')).toEqual({ name: 'Data', path: '/srv/data' });
    expect(await reg.lookup('backup$')).toMatchObject({ name: 'Backup$', backend: 'copy' });
    await reg.list();
    expect(await lines()).toEqual(['--suppress-prompt /etc/private/smb.conf']);
    // An unknown name is looked up once more before it is refused; concurrent misses share that read.
    expect(await Promise.all([reg.lookup('homes'), reg.lookup('x'), reg.lookup('y')])).toEqual([undefined, undefined, undefined]);
    expect(await lines()).toHaveLength(2);
    await reg.refresh();
    expect(await lines()).toHaveLength(3);
  });

  it('shares one in-flight read between concurrent callers when the cache is off', async () => {
    await writeFile(calls, '');
    const reg = new SambaShareRegistry({ testparmCommand: fakeTestparm, cacheMs: 0 });
    // Names the list knows: an unknown name asked a millisecond after the read started is rightly
    // looked up again (share-list-cache.ts), which made this test depend on the clock.
    await Promise.all([reg.lookup('data'), reg.lookup('backup$'), reg.list()]);
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual(['--suppress-prompt']);
  });

  it('combines registries, the first definition winning', async () => {
    const reg = new CombinedShareRegistry(
      new StaticShareRegistry({ data: '/override' }),
      new SambaShareRegistry({ testparmCommand: fakeTestparm }),
    );
    expect(await reg.lookup('Data')).toEqual({ name: 'data', path: '/override' });
    expect(await reg.lookup('backup$')).toMatchObject({ path: '/srv/backup' });
    expect((await reg.list()).map((s) => s.name)).toEqual(['data', 'Backup$', 'data@{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}']);
  });
});
