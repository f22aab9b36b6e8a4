import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { runSnapshots, SnapshotsUsageError } from '../../src/cli/snapshots.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

/** Runs `fsrvp snapshots …` in process and returns what it printed. */
async function snapshots(configFile: string, ...argv: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    await runSnapshots([...argv, '--config', configFile]);
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe('fsrvp snapshots: list, restore, prune of retained snapshots', () => {
  let t: TempAgent | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('keeps snapshots after delete, restores from them, and prunes the oldest', async () => {
    t = await startTempAgent({
      tweak: (c) => {
        c.retainSnapshots = true;
      },
    });
    const cfg = join(t.dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({
      stateDir: t.agent.config.stateDir, retainSnapshots: true,
      shares: { static: { demo: { path: t.sharePath, backend: 'copy' } } }, storage: { snapshotDir: t.agent.config.storage.snapshotDir },
    }));
    const file = join(t.sharePath, 'file.txt');
    const c = await FsrvpClient.connect({ port: t.port });
    const ids: string[] = [];
    try {
      for (const content of ['one\n', 'two\n', 'three\n']) {
        writeFileSync(file, content);
        ids.push((await c.cycle({ shares: ['demo'], serverName: '127.0.0.1' })).copies[0]!.copyId);
      }
    } finally {
      await c.close();
    }
    const listed = await snapshots(cfg, 'list');
    for (const id of ids) expect(listed).toContain(id);
    // Newest first, even within one second.
    expect(listed.indexOf(ids[2]!)).toBeLessThan(listed.indexOf(ids[0]!));

    writeFileSync(file, 'changed\n');
    await expect(runSnapshots(['restore', ids[0]!, 'file.txt', '--config', cfg])).rejects.toThrow(/exists/);
    await snapshots(cfg, 'restore', ids[0]!, 'file.txt', '--rename');
    expect(readFileSync(file, 'utf8')).toBe('one\n');
    expect(readdirSync(t.sharePath).some((f) => f.startsWith('file.txt.pre-restore-'))).toBe(true);
    await expect(runSnapshots(['restore', ids[0]!, '../escape', '--config', cfg])).rejects.toThrow(/\.\./);

    // prune changes state: refused while the agent holds it.
    await expect(runSnapshots(['prune', '--keep-last', '1', '--config', cfg])).rejects.toBeInstanceOf(SnapshotsUsageError);
    expect(await snapshots(cfg, 'prune', '--keep-last', '1', '--dry-run')).toMatch(/would delete[\s\S]*would delete/);
    await t.agent.close();
    const pruned = await snapshots(cfg, 'prune', '--keep-last', '1');
    expect(pruned).toContain('pruned 2 of 3');
    const after = await snapshots(cfg, 'list');
    expect(after).toContain(ids[2]!);
    expect(after).not.toContain(ids[0]!);
    expect(after).not.toContain(ids[1]!);
    await expect(runSnapshots(['prune', '--config', cfg])).rejects.toThrow(/--older-than or --keep-last/);
  });
});
