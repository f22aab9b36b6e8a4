import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from '../../src/cli/config.js';
import { configFromArgs } from '../../src/cli/args.js';

describe('configuration file', () => {
  it('fills every missing key from the embedded default', () => {
    const c = parseConfig({ netbiosName: 'FILER' });
    expect(c.netbiosName).toBe('FILER');
    expect(c.listen.tcp?.host).toBe('127.0.0.1');
    expect(c.shares.static?.demo).toBeDefined();
    expect(c.mode).toBe('samba');
  });

  it.each([
    [{ netbiosName: 'A-NAME-LONGER-THAN-15' }, /at most 15/],
    [{ nosuchkey: 1 }, /\$\.nosuchkey: unknown key/],
    [{ mode: 'lenient' }, /\$\.mode: must be one of samba, strict/],
    [{ listen: { tcp: { host: '0.0.0.0', minLevel: 'none' } } }, /loopback only/],
    [{ listen: { tcp: { host: '192.168.1.5', minLevel: 'none' } } }, /loopback only/],
    [{ listen: { tcp: { host: '127.0.0.1' } } }, /listen\.tcp\.minLevel: integrity needs an authentication mechanism/],
    [{ listen: { samba: { socketDir: '/run/x', minLevel: 'privacy' } } }, /listen\.samba\.minLevel: privacy needs/],
    [{ listen: { tcp: { minLevel: 'packet' } } }, /minLevel: must be one of none, integrity, privacy/],
    [{ auth: { ntlm: { verifier: 'file' } } }, /auth\.ntlm\.verifier: must be one of passdb/],
    [{ auth: { kerberos: {} } }, /\$\.auth\.kerberos\.keytab: the keytab file is required/],
    [{ auth: { kerberos: { keytab: '/k', clockSkewSec: -1 } } }, /clockSkewSec: an integer number of seconds/],
    [{ auth: { kerberos: { keytab: '/k', realm: 'X' } } }, /\$\.auth\.kerberos\.realm: unknown key/],
    [{ listen: {} }, /at least one of tcp, samba/],
    [{ authz: { allowSids: ['S-1-5-32-544', 'Administrators'] } }, /allowSids\[1\]: not a SID/],
    [{ sequenceTimeoutSeconds: -1 }, /sequenceTimeoutSeconds/],
    [{ storage: { defaultBackend: 'zfs' } }, /defaultBackend: must be one of btrfs, copy/],
    [{ shares: { static: { data: { path: '' } } } }, /shares\.static\.data\.path/],
  ])('rejects %j with a message naming the key', (json, message) => {
    expect(() => parseConfig(json, 'test.json')).toThrow(ConfigError);
    expect(() => parseConfig(json, 'test.json')).toThrow(message);
  });

  it('requires integrity on TCP by default, and allows any address once authentication is configured', () => {
    const c = parseConfig({ auth: { ntlm: { verifier: 'passdb', smbConf: '/etc/samba/smb.conf' } }, listen: { tcp: { host: '0.0.0.0', port: 7135 }, samba: { socketDir: '/run/x' } } });
    expect(c.listen.tcp).toMatchObject({ host: '0.0.0.0', minLevel: 'integrity' });
    expect(c.listen.samba?.minLevel).toBe('none');
    expect(c.auth).toEqual({ ntlm: { verifier: 'passdb', smbConf: '/etc/samba/smb.conf' }, spnego: true });
    expect(defaultConfig().listen.tcp?.minLevel).toBe('none');
  });

  it('reads auth.ntlm with the winbind verifier and its ntlm_auth path', () => {
    const c = parseConfig({ auth: { ntlm: { verifier: 'winbind', ntlmAuth: '/opt/ntlm_auth', smbConf: '/etc/samba/smb.conf' }, domain: 'EXAMPLE' } });
    expect(c.auth).toEqual({ ntlm: { verifier: 'winbind', ntlmAuth: '/opt/ntlm_auth', smbConf: '/etc/samba/smb.conf' }, domain: 'EXAMPLE', spnego: true });
    expect(() => parseConfig({ auth: { ntlm: { verifier: 'passdb', ntlmAuth: '/x' } } })).toThrow(/auth\.ntlm\.ntlmAuth: only for verifier "winbind"/);
  });

  it('reads auth.kerberos, which alone is enough for an authenticated listener', () => {
    const c = parseConfig({ auth: { kerberos: { keytab: '/etc/fsrvp.keytab', principals: ['cifs/fs.example.com'], clockSkewSec: 120 } }, listen: { tcp: { host: '127.0.0.1', port: 7135, minLevel: 'privacy' } } });
    expect(c.auth.kerberos).toEqual({ keytab: '/etc/fsrvp.keytab', principals: ['cifs/fs.example.com'], clockSkewSec: 120 });
    expect(c.listen.tcp?.minLevel).toBe('privacy');
  });

  it('reports unreadable files and bad JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fsrvp-cfg-'));
    try {
      const f = join(dir, 'bad.json');
      writeFileSync(f, '{ "netbiosName": ');
      expect(() => loadConfig(f)).toThrow(/bad\.json: not valid JSON/);
      expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fsrvpd options', () => {
  it('runs the embedded default without --config', () => {
    const { config, embedded } = configFromArgs([]);
    expect(embedded).toBe(true);
    expect(config).toEqual(defaultConfig());
  });

  it('applies overrides over the configuration', () => {
    const { config } = configFromArgs(['--tcp', '127.0.0.2:9000', '--samba-socket-dir', '/run/x', '--sequence-timeout', '1', '--strict']);
    expect(config.listen.tcp).toMatchObject({ host: '127.0.0.2', port: 9000 });
    expect(config.listen.samba).toEqual({ socketDir: '/run/x', byteMode: false, minLevel: 'none' });
    expect(config.sequenceTimeoutSeconds).toBe(1);
    expect(config.mode).toBe('strict');
  });

  it.each([
    [['--tcp', '10.0.0.1:7135'], /loopback/],
    [['--tcp', 'nonsense'], /HOST:PORT/],
    [['--no-tcp'], /no listener left/],
    [['--sequence-timeout', 'soon'], /whole seconds/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['--config'], /--config needs a value/],
  ])('refuses %j', (argv, message) => {
    expect(() => configFromArgs(argv)).toThrow(message);
  });
});

describe('shipped examples', () => {
  it('examples/fsrvpd.json is a valid production configuration (Samba socket, no TCP)', async () => {
    const { repoRoot } = await import('../helpers/fixtures.js');
    const c = loadConfig(join(repoRoot, 'examples', 'fsrvpd.json'));
    expect(c.listen.tcp).toBeUndefined();
    expect(c.listen.samba?.socketDir).toBe('/run/fsrvpd');
    expect(c.publisher.type).toBe('samba');
    expect(c.shares.samba).toEqual({});
    expect(c.authz.allowAccounts).toEqual(['EXAMPLE\\BACKUP01$']);
  });
});

describe('loopback check', () => {
  it('accepts 127.0.0.0/8, ::1 and localhost only', async () => {
    const { isLoopbackHost } = await import('../../src/sys/loopback.js');
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '10.0.0.1', '192.168.1.1', '127.0.0.1.evil.com', 'example.com', '::', '1127.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
  });
});
