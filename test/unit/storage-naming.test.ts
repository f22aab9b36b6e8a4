import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gmtStamp, normalizeGuid, parseSnapshotName, shadowCopy2Options, snapshotName } from '../../src/storage/naming.js';

const GUID = '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0';

describe('snapshot names', () => {
  it('embed the lower-case shadow copy id and a GMT stamp usable by vfs_shadow_copy2', () => {
    const at = Date.UTC(2026, 10, 26, 8, 3, 31, 789);
    expect(snapshotName(`{${GUID}}`, at)).toBe('fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.11.26-08.03.31');
    expect(snapshotName(GUID, at, 3)).toBe('fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.11.26-08.03.31.3');
    expect(gmtStamp(at)).toBe('2026.11.26-08.03.31');
    const opts = shadowCopy2Options('/srv/.fsrvp-snapshots/data');
    expect(opts['shadow:format']!.startsWith(opts['shadow:delimiter']!)).toBe(true);
  });

  it('parse back to id, time (whole seconds) and sequence (property)', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 0, max: 4102444800000 }), fc.integer({ min: 1, max: 50 }), (id, at, seq) => {
        const parsed = parseSnapshotName(snapshotName(id, at, seq));
        expect(parsed).toEqual({ shadowCopyId: id.toLowerCase(), createdAt: Math.floor(at / 1000) * 1000, seq });
      }),
    );
  });

  it('differ for different ids taken in the same second (property)', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), fc.integer({ min: 0, max: 4102444800000 }), (a, b, at) => {
        fc.pre(a.toLowerCase() !== b.toLowerCase());
        expect(snapshotName(a, at)).not.toBe(snapshotName(b, at));
      }),
    );
  });

  it('refuse ids that are not GUIDs (nothing path-like reaches the filesystem)', () => {
    for (const bad of ['../../etc', '', 'x', `${GUID}/..`, `{${GUID}`.slice(0, 20), `${GUID}\n`]) {
      expect(() => normalizeGuid(bad)).toThrow(TypeError);
    }
  });

  it('reject names made by others', () => {
    for (const other of ['@GMT-2026.11.26-08.03.31', 'fsrvp-x_GMT-2026.11.26-08.03.31', `fsrvp-${GUID}_GMT-2026.11.26-08.03.31`,
      'fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.13.26-08.03.31', 'fsrvp-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0_GMT-2026.11.26-08.03.31.1']) {
      expect(parseSnapshotName(other)).toBeUndefined();
    }
  });
});

describe('btrfs subvolume list parsing', () => {
  it('reads id, parent uuid, uuid and path, and skips other lines', async () => {
    const { parseSubvolumeList } = await import('../../src/storage/btrfs.js');
    const text = [
      'ID 256 gen 8 top level 5 parent_uuid -                                    uuid 9ea5169d-8b1f-9944-815c-ca5a8dfeebd6 path share',
      'ID 257 gen 7 top level 5 parent_uuid 9EA5169D-8B1F-9944-815C-CA5A8DFEEBD6 uuid 0f586b8f-3cd2-ce4e-9c8c-59a76e50c615 path .fsrvp-snapshots/share/fsrvp-a b',
      'garbage',
    ].join('\n');
    expect(parseSubvolumeList(text)).toEqual([
      { id: 256, parentUuid: undefined, uuid: '9ea5169d-8b1f-9944-815c-ca5a8dfeebd6', path: 'share' },
      { id: 257, parentUuid: '9ea5169d-8b1f-9944-815c-ca5a8dfeebd6', uuid: '0f586b8f-3cd2-ce4e-9c8c-59a76e50c615', path: '.fsrvp-snapshots/share/fsrvp-a b' },
    ]);
  });
});
