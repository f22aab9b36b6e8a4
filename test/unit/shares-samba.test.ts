import { describe, expect, it } from 'vitest';
import { SNAPSHOT_SHARE_RE, SambaRegistryPublisher } from '../../src/shares/samba.js';
import { parseSmbConf, renderSection } from '../../src/shares/smbconf.js';

const BASE = parseSmbConf(`[Data]
\tcomment = Department data
\tpath = /srv/data
\tread only = No
\twrite list = @writers
\tvalid users = root @staff
\tvfs objects = shadow_copy2 acl_xattr
\tshadow: snapdir = .
`)[0]!;

const GUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

describe('Samba registry publisher: share definitions', () => {
  it('clones every base parameter, replacing path, comment and read only; read-only clones lose write list', () => {
    const def = SambaRegistryPublisher.cloneDefinition(BASE, {
      name: `Data@{${GUID}}`, path: '/snap/x', readOnly: true, comment: 'Shadow copy of Data taken 2026-11-26T08:00:00Z',
    });
    expect(def).toEqual({
      name: `Data@{${GUID}}`,
      params: [
        ['path', '/snap/x'],
        ['comment', 'Shadow copy of Data taken 2026-11-26T08:00:00Z'],
        ['read only', 'yes'],
        ['valid users', 'root @staff'],
        ['vfs objects', 'shadow_copy2 acl_xattr'],
        ['shadow: snapdir', '.'],
      ],
    });
    const writable = SambaRegistryPublisher.cloneDefinition(BASE, { name: 'n', path: '/p', readOnly: false, comment: 'c' });
    expect(writable.params).toContainEqual(['read only', 'no']);
    expect(writable.params).toContainEqual(['write list', '@writers']);
  });

  it('renders an importable section and refuses text that would inject configuration', () => {
    expect(renderSection({ name: 'a@{x}', params: [['path', '/p'], ['read only', 'yes']] })).toBe('[a@{x}]\n\tpath = /p\n\tread only = yes\n');
    expect(() => renderSection({ name: 'a]\n[global', params: [] })).toThrow(TypeError);
    expect(() => renderSection({ name: 'a', params: [['path', '/p\n\tadmin users = evil']] })).toThrow(/control character/);
    expect(() => renderSection({ name: 'a', params: [['comment', 'ends with \\']] })).toThrow(/backslash/);
    expect(() => renderSection({ name: 'a', params: [['x = y', 'z']] })).toThrow(/"="/);
  });

  it('publish() refuses unsafe names and paths before running any tool', async () => {
    const pub = new SambaRegistryPublisher({ netCommand: '/nonexistent/net', testparmCommand: '/nonexistent/testparm' });
    const base = { name: 'Data', path: '/srv/data' };
    await expect(pub.publish({ name: 'x]\n[y', path: '/p', base, readOnly: true, comment: 'c' })).rejects.toThrow(TypeError);
    await expect(pub.publish({ name: 'x', path: '/p\nadmin users = a', base, readOnly: true, comment: 'c' })).rejects.toThrow(TypeError);
  });

  it('recognises snapshot share names, hidden ones included', () => {
    expect(SNAPSHOT_SHARE_RE.test(`Data@{${GUID}}`)).toBe(true);
    expect(SNAPSHOT_SHARE_RE.test(`Backup$@{${GUID.toUpperCase()}}$`)).toBe(true);
    expect(SNAPSHOT_SHARE_RE.test('Data')).toBe(false);
    expect(SNAPSHOT_SHARE_RE.test(`Data@{${GUID}}x`)).toBe(false);
  });
});
