/** The client tools' authentication options: parsing, the password sources, and clear refusals. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthUsageError, authFromArgs, parseAuthOption, type AuthArgs } from '../../src/cli/credentials.js';
import { AUTH_LEVEL, AUTH_TYPE } from '../../src/dcerpc/constants.js';

function parse(argv: string[]): AuthArgs {
  const a: AuthArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const took = parseAuthOption(argv, i, a);
    if (took === 0) throw new Error(`not an auth option: ${argv[i]}`);
    i += took - 1;
  }
  return a;
}

describe('client authentication options', () => {
  it('parses --auth, --level, -U and --password-file', () => {
    expect(parse(['--auth', 'spnego', '--level', 'integrity', '-U', 'HOST\\alice', '--password-file', '/p'])).toEqual({
      mechanism: 'spnego', level: 'integrity', user: 'HOST\\alice', passwordFile: '/p',
    });
    expect(parseAuthOption(['--port', '1'], 0, {})).toBe(0);
  });

  it('refuses unknown mechanisms and levels, and a missing value', () => {
    expect(() => parse(['--auth', 'gssapi'])).toThrow(AuthUsageError);
    expect(parse(['--auth', 'kerberos', '--spn', 'host/fs.example.com', '--kdc', 'kdc:88', '--realm', 'EXAMPLE.COM', '--krb5-ccache', 'FILE:/c', '--smb-auth', 'kerberos'])).toEqual({
      mechanism: 'kerberos', spn: 'host/fs.example.com', kdc: 'kdc:88', realm: 'EXAMPLE.COM', krb5Ccache: 'FILE:/c', smbAuth: 'kerberos',
    });
    expect(() => parse(['--spn', 'host/'])).toThrow(/SERVICE\/HOST/);
    expect(() => parse(['--spn', 'a b'])).toThrow(/SERVICE\/HOST/);
    expect(parse(['--spn', 'DC1$@FSRVP.TEST'])).toEqual({ spn: 'DC1$@FSRVP.TEST' });
    expect(() => parse(['--smb-auth', 'basic'])).toThrow(AuthUsageError);
    expect(() => parse(['--level', 'connect'])).toThrow(/integrity or privacy/);
    expect(() => parse(['-U'])).toThrow(/needs a value/);
  });

  it('builds the context from FSRVP_PASSWORD or a password file; privacy by default', async () => {
    const a = await authFromArgs({ mechanism: 'ntlm', user: 'alice@HOST' }, { FSRVP_PASSWORD: 'x' });
    expect(a).toMatchObject({ authType: AUTH_TYPE.ntlmssp, authLevel: AUTH_LEVEL.privacy });
    const dir = mkdtempSync(join(tmpdir(), 'fsrvp-cred-'));
    try {
      writeFileSync(join(dir, 'pw'), 'secret\nignored\n');
      const b = await authFromArgs({ mechanism: 'spnego', level: 'integrity', user: 'alice', passwordFile: join(dir, 'pw') }, {});
      expect(b).toMatchObject({ authType: AUTH_TYPE.spnego, authLevel: AUTH_LEVEL.integrity });
      await expect(authFromArgs({ mechanism: 'ntlm', user: 'alice', passwordFile: join(dir, 'missing') }, {})).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what is missing: -U with --auth, --auth with --level, a password without a terminal', async () => {
    await expect(authFromArgs({ mechanism: 'ntlm' }, {})).rejects.toThrow(/needs -U/);
    await expect(authFromArgs({ level: 'privacy' }, {})).rejects.toThrow(/needs --auth/);
    expect(await authFromArgs({}, {})).toBeUndefined();
    if (!process.stdin.isTTY) await expect(authFromArgs({ mechanism: 'ntlm', user: 'a' }, {})).rejects.toThrow(/FSRVP_PASSWORD/);
  });
});
