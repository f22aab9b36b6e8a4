import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import type { SnapshotBackend, SnapshotRef, Volume } from '../../src/storage/backend.js';
import { BackendSelector, defaultSelector } from '../../src/storage/detect.js';

function fake(name: string, supported: (p: string) => boolean): SnapshotBackend {
  return {
    name,
    supports: async (p) => supported(p),
    volumeOf: async (p): Promise<Volume> => ({ id: `${name}:${p}`, root: p, backend: name }),
    check: async () => undefined,
    create: async (): Promise<SnapshotRef> => { throw new Error('unused'); },
    setReadOnly: async () => undefined,
    delete: async () => undefined,
    list: async () => [],
  };
}

const btrfs = fake('btrfs', (p) => p.startsWith('/btrfs'));
const copy = fake('copy', () => true);

describe('backend selection', () => {
  it('detects btrfs first, then falls back to copy', async () => {
    const sel = new BackendSelector([btrfs, copy]);
    expect((await sel.select({ name: 'a', path: '/btrfs/a' })).backend.name).toBe('btrfs');
    expect((await sel.select({ name: 'b', path: '/ext4/b' })).backend.name).toBe('copy');
  });

  it('honours a per-share override and a configured default', async () => {
    const sel = new BackendSelector([btrfs, copy]);
    const r = await sel.select({ name: 'a', path: '/btrfs/a', backend: 'copy' });
    expect(r).toMatchObject({ reason: 'configured for the share' });
    expect(r.backend.name).toBe('copy');
    const withDefault = new BackendSelector([btrfs, copy], { defaultBackend: 'copy' });
    expect((await withDefault.select({ name: 'a', path: '/btrfs/a' })).backend.name).toBe('copy');
  });

  it('refuses unknown or unsupported overrides, and paths nothing supports', async () => {
    const sel = new BackendSelector([btrfs, copy]);
    await expect(sel.select({ name: 'a', path: '/x', backend: 'zfs' })).rejects.toThrow(/unknown snapshot backend "zfs"/);
    await expect(sel.select({ name: 'a', path: '/ext4/a', backend: 'btrfs' })).rejects.toThrow(/cannot serve/);
    await expect(new BackendSelector([btrfs]).select({ name: 'a', path: '/ext4' })).rejects.toThrow(/no snapshot backend/);
    expect(() => new BackendSelector([btrfs, btrfs])).toThrow(/two snapshot backends/);
    expect(() => new BackendSelector([btrfs], { order: ['copy'] })).toThrow(/unknown snapshot backend/);
  });

  it('the built-in selector picks copy for a non-btrfs temp dir', async () => {
    const sel = defaultSelector();
    expect(sel.names()).toEqual(['btrfs', 'copy']);
    expect((await sel.select({ name: 't', path: tmpdir() })).backend.name).toBe('copy');
  });
});
