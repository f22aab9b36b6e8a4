/**
 * Lexical UNC parsing, host matching and exposed share names (FSRVP.md §8, ECOSYSTEM.md §7).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exposedShareName, isExposedShareName, LocalNames, MAX_SHARE_LENGTH, MAX_UNC_LENGTH, normalizeHost, parseUnc } from '../../src/fsrvp/unc.js';

const ok = (text: string) => {
  const r = parseUnc(text);
  if (!r.ok) throw new Error(`${text}: ${r.reason}`);
  return r.unc;
};
const reason = (text: string): string => {
  const r = parseUnc(text);
  return r.ok ? 'accepted' : r.reason;
};

describe('parseUnc', () => {
  it('accepts what smbtorture, rpcclient and DiskShadow send', () => {
    expect(ok('\\\\127.0.0.1\\fsrvp_share')).toEqual({ host: '127.0.0.1', share: 'fsrvp_share', trailingSlash: false });
    expect(ok('\\\\FSRVPSRV\\fsrvp_share\\')).toEqual({ host: 'FSRVPSRV', share: 'fsrvp_share', trailingSlash: true });
    expect(ok('\\\\files.example.com.\\Data$\\')).toEqual({ host: 'files.example.com.', share: 'Data$', trailingSlash: true });
    expect(ok('\\\\[::1]\\s').host).toBe('[::1]');
    expect(ok('\\\\fe80::1%eth0\\s').host).toBe('fe80::1%eth0');
    expect(ok('\\\\srv\\share@{3f2504e0-4f89-11d3-9a0c-0305e82c3301}').share).toBe('share@{3f2504e0-4f89-11d3-9a0c-0305e82c3301}');
    expect(ok('\\\\srv\\Ünïcode share').share).toBe('Ünïcode share');
  });

  it.each([
    ['', 'UNC does not start with \\\\'],
    ['share', 'UNC does not start with \\\\'],
    ['x\\\\srv\\share', 'UNC does not start with \\\\'],
    ['\\\\srv', 'UNC has no share component'],
    ['\\\\srv\\', 'empty share name'],
    ['\\\\\\share', 'empty host'],
    ['\\\\?\\C:\\Windows', 'device path form \\\\?\\ is not a share'],
    ['\\\\.\\pipe\\x', 'device path form \\\\.\\ is not a share'],
    ['\\\\srv\\share\\sub', 'UNC names a path below the share component'],
    ['\\\\srv\\share\\\\', 'UNC names a path below the share component'],
    ['\\\\srv\\..', 'share name is a relative path component'],
    ['\\\\srv\\.\\', 'share name is a relative path component'],
    ['\\\\..\\share', 'empty label in host'],
    ['\\\\a..b\\share', 'empty label in host'],
    ['\\\\srv/share', 'UNC contains "/"'],
    ['//srv/share', 'UNC contains "/"'],
    ['\\\\srv\\sha\0re', 'UNC contains NUL'],
    ['\\\\srv\\sha\tre', 'UNC contains a control character'],
    ['\\\\srv\\a:b', 'share name contains a forbidden character'],
    ['\\\\srv\\a*', 'share name contains a forbidden character'],
    ['\\\\srv\\share@GMT-2024.01.01-00.00.00', 'share name contains an @GMT- token'],
    ['\\\\user@srv\\share', 'host contains characters not allowed in a host name'],
    ['\\\\srv:445\\share', 'host contains characters not allowed in a host name'],
    [`\\\\srv\\${'s'.repeat(MAX_SHARE_LENGTH + 1)}`, `share name longer than ${MAX_SHARE_LENGTH} characters`],
    [`\\\\${'h'.repeat(256)}\\s`, 'host longer than 255 characters'],
    [`\\\\srv\\${'s'.repeat(MAX_UNC_LENGTH)}`, `UNC longer than ${MAX_UNC_LENGTH} characters`],
  ])('rejects %j: %s', (text, why) => {
    expect(reason(text)).toBe(why);
  });

  it('never throws, and what it accepts is exactly \\\\host\\share[\\] with no "/", NUL or ".." component', () => {
    const piece = fc.constantFrom('\\', '\\\\', '/', '.', '..', '?', 'srv', '127.0.0.1', 'share', '$', '\0', ':', '@GMT-', 'a', ' ', 'é');
    fc.assert(fc.property(fc.oneof(fc.string(), fc.array(piece, { maxLength: 12 }).map((a) => a.join(''))), (text) => {
      const r = parseUnc(text);
      if (!r.ok) return;
      const rebuilt = `\\\\${r.unc.host}\\${r.unc.share}${r.unc.trailingSlash ? '\\' : ''}`;
      expect(rebuilt).toBe(text);
      expect(text).not.toMatch(/[/\0]/);
      expect(r.unc.share).not.toMatch(/^\.\.?$/);
      expect(r.unc.host).not.toMatch(/^[?.]$/);
    }), { numRuns: 3000 });
  });
});

describe('LocalNames', () => {
  const names = new LocalNames('FSRVPSRV', ['fsrvpsrv.example.test', '192.0.2.10', '[2001:db8::10]']);

  it('matches configured names case-insensitively, with loopback always included', () => {
    for (const h of ['fsrvpsrv', 'FsrvpSrv', 'FSRVPSRV.EXAMPLE.TEST.', '192.0.2.10', '127.0.0.1', 'localhost', '[::1]', '::1', '2001:DB8::10']) {
      expect(names.has(h), h).toBe(true);
    }
  });

  it('does not canonicalise or resolve anything', () => {
    for (const h of ['127.1', '127.0.0.01', '0x7f000001', 'fsrvpsrv.evil.test', '10.66.66.66', 'FSRVPSRV2', '']) {
      expect(names.has(h), h).toBe(false);
    }
    expect(normalizeHost('[FE80::1]')).toBe('fe80::1');
  });
});

describe('exposedShareName', () => {
  const id = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
  it('is share@{guid} with the GUID in lower case', () => {
    expect(exposedShareName('data', id, 'share', false)).toBe('data@{3f2504e0-4f89-11d3-9a0c-0305e82c3301}');
  });
  it('recognises exposed names', () => {
    expect(isExposedShareName(exposedShareName('data$', id, 'share', false))).toBe(true);
    expect(isExposedShareName('data@{3f2504e0-4f89-11d3-9a0c-0305e82c3301}')).toBe(true);
    expect(isExposedShareName('data@{not-a-guid}')).toBe(false);
    expect(isExposedShareName('data')).toBe(false);
  });
  it('adds $ for hidden shares: always (Samba) or only after `$\\` (SPEC)', () => {
    expect(exposedShareName('data$', id, 'share', false)).toMatch(/^data\$@\{.*\}\$$/);
    expect(exposedShareName('data$', id, 'unc', false)).toMatch(/\}$/);
    expect(exposedShareName('data$', id, 'unc', true)).toMatch(/\}\$$/);
    expect(exposedShareName('data', id, 'unc', true)).toMatch(/\}$/);
  });
});
