import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  breToRegExp, chooseName, compileNaming, isOurForm, nameAt, sambaTimeOf, Sc2NamingError, strftime, strptime,
  SC2_DEFAULT_DELIMITER, SC2_DEFAULT_FORMAT,
} from '../../src/storage/sc2-names.js';
import { placementForShare, placementForVolume, type ShareShadowConf } from '../../src/storage/layout.js';
import { decodeLedger, OwnedLedgerError, OwnedSnapshots } from '../../src/storage/owned.js';
import { shadowCopy2Options } from '../../src/storage/naming.js';

const GUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const AT = Date.UTC(2026, 11, 6, 13, 5, 9, 450);
const samba = compileNaming({ format: SC2_DEFAULT_FORMAT, localtime: false, delimiter: SC2_DEFAULT_DELIMITER });

describe('strftime / strptime (shadow:format)', () => {
  it('formats Samba\'s default format in UTC, whole seconds', () => {
    expect(strftime(SC2_DEFAULT_FORMAT, AT, false)).toBe('@GMT-2026.12.06-13.05.09');
    expect(strftime('snap_%F_%T_%j_%y_%e_%%', AT, false)).toBe('snap_2026-12-06_13:05:09_340_26_ 6_%');
    expect(strftime('%s', AT, false)).toBe(String(Math.floor(AT / 1000)));
  });

  it('parses what it formats, and ignores trailing text like glibc strptime', () => {
    expect(strptime('@GMT-2026.12.06-13.05.09', SC2_DEFAULT_FORMAT, false)).toBe(Math.floor(AT / 1000) * 1000);
    expect(strptime('@GMT-2026.12.06-13.05.09.2', SC2_DEFAULT_FORMAT, false)).toBe(Math.floor(AT / 1000) * 1000);
    expect(strptime('@GMT-2026.13.06-13.05.09', SC2_DEFAULT_FORMAT, false)).toBeUndefined();
    expect(strptime('@GMT-2026.02.30-13.05.09', SC2_DEFAULT_FORMAT, false)).toBeUndefined();
    expect(strptime('fsrvp-x_GMT-2026', SC2_DEFAULT_FORMAT, false)).toBeUndefined();
    expect(strptime('', SC2_DEFAULT_FORMAT, false)).toBeUndefined();
  });

  it('refuses directives it cannot format (names of days and months) with a typed error', () => {
    expect(() => compileNaming({ format: '@GMT-%a', localtime: false, delimiter: '_GMT' })).toThrow(Sc2NamingError);
    expect(() => compileNaming({ format: '%Y/%m', localtime: false, delimiter: '_GMT' })).toThrow(/contains a \//);
    expect(() => compileNaming({ format: '%', localtime: false, delimiter: '_GMT' })).toThrow(Sc2NamingError);
  });

  it('round-trips any second, UTC (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800 }), fc.constantFrom(SC2_DEFAULT_FORMAT, '%Y%m%d%H%M%S', 'GMT-%F-%H%M%S', '%s'), (sec, fmt) => {
      expect(strptime(strftime(fmt, sec * 1000, false), fmt, false)).toBe(sec * 1000);
    }));
  });
});

describe('shadow:localtime', () => {
  let tz: string | undefined;
  beforeEach(() => {
    tz = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
  });
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('formats and parses in local time (CET is UTC+1 in December)', () => {
    const local = compileNaming({ format: SC2_DEFAULT_FORMAT, localtime: true, delimiter: '_GMT' });
    expect(strftime(SC2_DEFAULT_FORMAT, AT, true)).toBe('@GMT-2026.12.06-14.05.09');
    expect(nameAt(local, AT, GUID)).toBe('@GMT-2026.12.06-14.05.09');
    expect(sambaTimeOf(local, '@GMT-2026.12.06-14.05.09')).toBe(Math.floor(AT / 1000) * 1000);
    const summer = Date.UTC(2026, 6, 1, 12, 0, 0);
    expect(strftime('%H', summer, true)).toBe('14');
  });
});

describe('snapprefix and delimiter', () => {
  it('converts POSIX basic regular expressions', () => {
    expect(breToRegExp('^fsrvp-[0-9a-f-]\\{36\\}$').test(`fsrvp-${GUID}`)).toBe(true);
    expect(breToRegExp('^fsrvp-[0-9a-f-]\\{36\\}$').test('fsrvp-x')).toBe(false);
    expect(breToRegExp('a+b').test('a+b')).toBe(true);
    expect(breToRegExp('a+b').test('aab')).toBe(false);
    expect(breToRegExp('\\(ab\\)*c').test('ababc')).toBe(true);
    expect(breToRegExp('snap').test('mysnapshot')).toBe(true); // regexec is unanchored
    expect(() => breToRegExp('\\1')).toThrow(Sc2NamingError);
    expect(() => breToRegExp('[abc')).toThrow(Sc2NamingError);
    expect(() => breToRegExp('x\\')).toThrow(Sc2NamingError);
  });

  it('names with the README prefix are what the README options make shadow_copy2 read', () => {
    const o = shadowCopy2Options('x');
    const n = compileNaming({ format: o['shadow:format']!, localtime: false, delimiter: o['shadow:delimiter']!, snapprefix: o['shadow:snapprefix']! });
    const name = nameAt(n, AT, GUID);
    expect(name).toBe(`fsrvp-${GUID}_GMT-2026.12.06-13.05.09`);
    expect(isOurForm(n, name!)).toBe(true);
    expect(sambaTimeOf(n, `other-${GUID}_GMT-2026.12.06-13.05.09`)).toBeUndefined();
  });

  it('falls back to the bare "fsrvp" prefix, and gives up when no prefix of ours matches', () => {
    const n = compileNaming({ format: '_GMT-%Y.%m.%d-%H.%M.%S', localtime: false, delimiter: '_GMT', snapprefix: '^fsrvp$' });
    expect(nameAt(n, AT, GUID)).toBe('fsrvp_GMT-2026.12.06-13.05.09');
    const none = compileNaming({ format: '_GMT-%Y.%m.%d-%H.%M.%S', localtime: false, delimiter: '_GMT', snapprefix: '^daily$' });
    expect(nameAt(none, AT, GUID)).toBeUndefined();
    // A format that does not start with the delimiter can never be read back with a prefix.
    const broken = compileNaming({ format: '%Y.%m.%d', localtime: false, delimiter: '_GMT', snapprefix: '^fsrvp' });
    expect(nameAt(broken, AT, GUID)).toBeUndefined();
  });
});

describe('chooseName: one reachable snapshot per second', () => {
  it('takes the next free second when the current one is in use, by name or by time', () => {
    const first = chooseName(samba, AT, GUID, new Set(), new Set());
    expect(first).toEqual({ name: '@GMT-2026.12.06-13.05.09', at: Math.floor(AT / 1000) * 1000 });
    const second = chooseName(samba, AT + 300, GUID, new Set([first!.at]), new Set([first!.name]));
    expect(second).toEqual({ name: '@GMT-2026.12.06-13.05.10', at: first!.at + 1000 });
    // A user snapshot with trailing text still shows that second: skipped too.
    const third = chooseName(samba, AT, GUID, new Set([first!.at, second!.at]), new Set());
    expect(third?.name).toBe('@GMT-2026.12.06-13.05.11');
    expect(chooseName(samba, AT, GUID, new Set([first!.at]), new Set(), 0)).toBeUndefined();
  });
});

describe('placement from share settings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fsrvp-layout-'));
    await mkdir(join(dir, 'share', 'sub'), { recursive: true });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const conf = (params: Record<string, string>, path = join(dir, 'share'), name = 'data'): ShareShadowConf =>
    ({ name, path, params: new Map(Object.entries({ vfsobjects: 'btrfs shadow_copy2', ...params })) });

  it('snapdir = . in a share at the volume root: snapshots in the share root, Samba names', async () => {
    const root = join(dir, 'share');
    const p = await placementForShare(conf({ 'shadow:snapdir': '.', 'shadow:mountpoint': root }), root, join(dir, '.fsrvp-snapshots', 'share'));
    expect(p).toMatchObject({ kind: 'shadow_copy2', dir: root, share: 'data' });
    expect(p?.kind === 'shadow_copy2' && nameAt(p.naming, AT, GUID)).toBe('@GMT-2026.12.06-13.05.09');
  });

  it('keeps the README layout without shadow_copy2, for the README options, and for what it cannot serve', async () => {
    const root = join(dir, 'share');
    const readme = join(dir, '.fsrvp-snapshots', 'share');
    expect(await placementForShare({ name: 'x', path: root, params: new Map() }, root, readme)).toBeUndefined();
    const o = shadowCopy2Options('../.fsrvp-snapshots/share');
    const keys = Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/\s/g, ''), v]));
    expect(await placementForShare(conf({ ...keys, 'shadow:mountpoint': root }), root, readme)).toMatchObject({ kind: 'readme' });
    expect(await placementForShare(conf({ 'shadow:snapdir': '.', 'shadow:mountpoint': root, 'shadow:sscanf': 'yes' }), root, readme)).toMatchObject({ kind: 'readme', why: /sscanf/ });
    expect(await placementForShare(conf({ 'shadow:snapdirseverywhere': 'yes', 'shadow:mountpoint': root }), root, readme)).toMatchObject({ kind: 'readme', why: /snapdirseverywhere/ });
    expect(await placementForShare(conf({ 'shadow:format': '@GMT-%a', 'shadow:mountpoint': root }), root, readme)).toMatchObject({ kind: 'readme', why: /unsupported directive/ });
  });

  it('a share in a subdirectory of the volume: relative snapdir from the mount point, basedir must agree', async () => {
    const root = join(dir, 'share');
    const sub = join(root, 'sub');
    const readme = join(dir, '.fsrvp-snapshots', 'share');
    expect(await placementForShare(conf({ 'shadow:snapdir': '.snaps', 'shadow:mountpoint': root }, sub), root, readme))
      .toMatchObject({ kind: 'shadow_copy2', dir: join(root, '.snaps') });
    expect(await placementForShare(conf({ 'shadow:mountpoint': root, 'shadow:basedir': sub }, sub), root, readme))
      .toMatchObject({ kind: 'readme', why: /inside a snapshot/ });
    expect(await placementForShare(conf({ 'shadow:snapdir': '/abs/snaps', 'shadow:mountpoint': root, 'shadow:snapsharepath': 'sub' }, sub), root, readme))
      .toMatchObject({ kind: 'shadow_copy2', dir: '/abs/snaps' });
  });

  it('per volume: the first share by name wins, others that differ are reported', async () => {
    const root = join(dir, 'share');
    const readme = join(dir, '.fsrvp-snapshots', 'share');
    const r = await placementForVolume([
      conf({ 'shadow:snapdir': '.b', 'shadow:mountpoint': root }, root, 'b'),
      conf({ 'shadow:snapdir': '.a', 'shadow:mountpoint': root }, root, 'a'),
      conf({ 'shadow:snapdir': '.c', 'shadow:mountpoint': '/elsewhere' }, join(dir, 'nope'), 'c'),
    ], root, readme);
    expect(r.placement).toMatchObject({ kind: 'shadow_copy2', share: 'a' });
    expect(r.conflicts).toEqual(['b']);
    expect((await placementForVolume([], root, readme)).placement.kind).toBe('readme');
  });
});

describe('ownership ledger', () => {
  it('records, completes and forgets entries across instances; a bad file is a typed error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fsrvp-owned-'));
    try {
      const file = join(dir, 'owned.json');
      const a = new OwnedSnapshots(file);
      const e = { path: '/v/@GMT-1', volumeId: 'btrfs:x', name: `@GMT-1~fsrvp-${GUID}`, createdAt: 1000 };
      await Promise.all([a.record(e), a.record({ ...e, path: '/v/@GMT-2' })]);
      await a.record({ ...e, uuid: 'u1' });
      const b = new OwnedSnapshots(file);
      expect((await b.entries()).map((x) => [x.path, x.uuid])).toEqual([['/v/@GMT-1', 'u1'], ['/v/@GMT-2', undefined]]);
      await b.forget('/v/@GMT-2');
      expect(await a.get('/v/@GMT-2')).toBeUndefined();
      await writeFile(file, '{"version":1,"entries":[{"path":1}]}');
      await expect(a.entries()).rejects.toBeInstanceOf(OwnedLedgerError);
      expect(() => decodeLedger(file, 'nope')).toThrow(OwnedLedgerError);
      expect(() => decodeLedger(file, 'null')).toThrow(OwnedLedgerError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('decodeLedger is total (property)', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      try {
        decodeLedger('f', text);
      } catch (e) {
        expect(e).toBeInstanceOf(OwnedLedgerError);
      }
    }));
  });
});
