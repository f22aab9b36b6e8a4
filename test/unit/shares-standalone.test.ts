import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STANDALONE_FILE, StandalonePublisher } from '../../src/shares/standalone.js';
import type { PublishRequest } from '../../src/shares/types.js';

const base = { name: 'Data', path: '/srv/data' };
const req = (guid: string, readOnly = true): PublishRequest => ({
  name: `Data@{${guid}}`,
  path: `/srv/.fsrvp-snapshots/data/fsrvp-${guid}_GMT-2026.11.26-08.00.00`,
  base,
  readOnly,
  comment: `Shadow copy of Data taken 2026-11-26T08:00:00Z`,
});
const guid = (i: number): string => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-standalone-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('standalone publisher', () => {
  it('publishes several shares in one write of the file', async () => {
    const pub = new StandalonePublisher({ stateDir: join(dir, 'state') });
    await pub.publishMany([req(guid(21)), req(guid(22)), req(guid(23))]);
    expect(await pub.list()).toEqual([guid(21), guid(22), guid(23)].map((g) => `Data@{${g}}`));
    const onDisk = JSON.parse(await readFile(join(dir, 'state', STANDALONE_FILE), 'utf8')) as { shares: unknown[] };
    expect(onDisk.shares).toHaveLength(3);
    expect(await new StandalonePublisher({ stateDir: join(dir, 'state') }).list()).toHaveLength(3);
  });

  it('publishes, resolves case-insensitively through its registry, flips read-only, unpublishes', async () => {
    const pub = new StandalonePublisher({ stateDir: join(dir, 'state') });
    await pub.publish(req(guid(1), false));
    expect(await pub.list()).toEqual([`Data@{${guid(1)}}`]);
    const share = await pub.registry.lookup(`DATA@{${guid(1)}}`);
    expect(share).toMatchObject({ name: `Data@{${guid(1)}}`, path: req(guid(1)).path, readOnly: false, base: 'Data' });
    await pub.setReadOnly(`data@{${guid(1)}}`);
    await pub.setReadOnly(`data@{${guid(1)}}`);
    expect((await pub.get(`Data@{${guid(1)}}`))?.readOnly).toBe(true);
    await pub.unpublish(`Data@{${guid(1)}}`);
    await pub.unpublish(`Data@{${guid(1)}}`); // missing is fine
    expect(await pub.list()).toEqual([]);
    expect(await pub.registry.list()).toEqual([]);
  });

  it('persists to a JSON file that a new instance reads back', async () => {
    const a = new StandalonePublisher({ stateDir: dir });
    await a.publish(req(guid(1)));
    await a.publish(req(guid(2), false));
    const file = JSON.parse(await readFile(join(dir, STANDALONE_FILE), 'utf8')) as { version: number; shares: unknown[] };
    expect(file.version).toBe(1);
    expect(file.shares).toHaveLength(2);
    const b = new StandalonePublisher({ stateDir: dir });
    expect(await b.list()).toEqual([`Data@{${guid(1)}}`, `Data@{${guid(2)}}`]);
    expect((await b.get(`Data@{${guid(2)}}`))?.readOnly).toBe(false);
  });

  it('writes atomically: concurrent changes all land, readers never see a torn file, no temporaries remain', async () => {
    const pub = new StandalonePublisher({ stateDir: dir });
    await pub.publish(req(guid(0)));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        const text = await readFile(join(dir, STANDALONE_FILE), 'utf8');
        expect(() => JSON.parse(text)).not.toThrow();
        reads++;
      }
    })();
    await Promise.all(Array.from({ length: 40 }, (_, i) => pub.publish(req(guid(i + 1)))));
    await Promise.all(Array.from({ length: 20 }, (_, i) => pub.unpublish(`Data@{${guid(i + 1)}}`)));
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(await pub.list()).toHaveLength(21);
    expect(await new StandalonePublisher({ stateDir: dir }).list()).toHaveLength(21);
    expect(await readdir(dir)).toEqual([STANDALONE_FILE]);
  });

  it('keeps the old file when a write fails, and its memory matches the file', async () => {
    const pub = new StandalonePublisher({ stateDir: dir });
    await pub.publish(req(guid(1)));
    const before = await readFile(join(dir, STANDALONE_FILE), 'utf8');
    await expect(pub.publish({ ...req(guid(2)), name: 'x', base: { name: 'Data', path: '/srv/data' }, path: 1n as unknown as string }))
      .rejects.toThrow();
    expect(await readFile(join(dir, STANDALONE_FILE), 'utf8')).toBe(before);
    expect(await pub.list()).toEqual([`Data@{${guid(1)}}`]);
    expect(await readdir(dir)).toEqual([STANDALONE_FILE]);
  });

  it('ignores and removes temporaries left by a crash mid-write; refuses an unknown format', async () => {
    const pub = new StandalonePublisher({ stateDir: dir });
    await pub.publish(req(guid(1)));
    await writeFile(join(dir, `.tmp-${STANDALONE_FILE}-999-abcdef`), '{"version":1,"shares":[{"na');
    expect(await new StandalonePublisher({ stateDir: dir }).list()).toEqual([`Data@{${guid(1)}}`]);
    expect(await pub.removeStaleTemporaries()).toBe(1);
    expect(await readdir(dir)).toEqual([STANDALONE_FILE]);
    await writeFile(join(dir, STANDALONE_FILE), '{"version":7}');
    await expect(new StandalonePublisher({ stateDir: dir }).list()).rejects.toThrow(/unknown format/);
  });

  it('setReadOnly of an unknown share is an error', async () => {
    await expect(new StandalonePublisher({ stateDir: dir }).setReadOnly('nope')).rejects.toThrow(/no published share/);
  });
});
