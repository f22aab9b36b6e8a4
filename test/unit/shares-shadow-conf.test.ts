import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShadowConfReader } from '../../src/shares/shadow-conf.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-sc2conf-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const share = (name: string): string => `[${name}]\n\tpath = /srv/${name.toLowerCase()}\n\tvfs objects = btrfs shadow_copy2\n\tshadow:snapdir = .\n`;

/** A stand-in for testparm that prints live.conf (the registry shares of `net conf`) and counts its runs. */
async function fakeTestparm(): Promise<{ reader: (relookupMs?: number) => ShadowConfReader; runs: () => Promise<number>; setShares: (...names: string[]) => Promise<void> }> {
  const script = join(dir, 'testparm');
  await writeFile(script, `#!/bin/sh\necho run >> '${dir}/runs'\ncat '${dir}/live.conf'\n`);
  await chmod(script, 0o755);
  await writeFile(join(dir, 'smb.conf'), '[global]\n\tconfig backend = registry\n');
  return {
    reader: (relookupMs) => new ShadowConfReader({ configFile: join(dir, 'smb.conf'), testparmCommand: script, cacheMs: 60_000, ...(relookupMs !== undefined ? { relookupMs } : {}) }),
    runs: async () => (await readFile(join(dir, 'runs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
    setShares: (...names) => writeFile(join(dir, 'live.conf'), `[global]\n${names.map(share).join('')}`),
  };
}

describe('shadow_copy2 settings cache', () => {
  it('reads again for a share it has not seen (added a moment ago), bounded per relookupMs', async () => {
    const t = await fakeTestparm();
    await t.setShares('Data');
    const reader = t.reader(60_000);
    expect((await reader.read('data')).map((c) => c.name)).toEqual(['Data']);
    expect(await reader.read('DATA')).toHaveLength(1);
    expect(await t.runs()).toBe(1); // cached, the name is known
    await t.setShares('Data', 'New');
    const confs = await reader.read('new');
    expect(confs.map((c) => c.name)).toEqual(['Data', 'New']);
    expect(confs[1]!.params.get('shadow:snapdir')).toBe('.');
    expect(await t.runs()).toBe(2);
    // A flood of unknown names inside the window: no more runs.
    for (let i = 0; i < 50; i++) await reader.read(`bogus${i}`);
    expect(await t.runs()).toBe(2);
    // Without a name, the cache is used as before.
    await reader.read();
    expect(await t.runs()).toBe(2);
  });

  it('allows the next re-read once relookupMs has passed', async () => {
    const t = await fakeTestparm();
    await t.setShares('Data');
    const reader = t.reader(400);
    await reader.read('missing');
    await reader.read('missing');
    expect(await t.runs()).toBe(2); // the first read, one re-read
    await new Promise((r) => setTimeout(r, 450));
    await t.setShares('Data', 'Missing');
    expect((await reader.read('missing')).map((c) => c.name)).toContain('Missing');
    expect(await t.runs()).toBe(3);
  });
});
