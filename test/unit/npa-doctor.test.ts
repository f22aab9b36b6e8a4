import { chmod, lstat, mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatReport, inspect, missingVfsModules, npaLevelFor, parseSambaBuild, parseSambaVersion, parseTestparm, runDoctor, type Exec,
} from '../../src/cli/doctor.js';
import { DEFAULT_PYTHON } from '../../src/sys/helpers/fsrvp-helper.js';
import { parseInterfacePipes } from '../../src/transport/npa-links.js';

let dir: string;
let libexec: string;
let ncalrpc: string;
let conf: string;
let share: string;
let calls: string[];

const LIST = `5
60
a8e0653c-2744-4389-a61d-7373df8b2292/0x00000001 FileServerVssAgent
 ncacn_np:[\\pipe\\FssagentRpc]
4b324fc8-1670-01d3-1278-5a47bf6ee188/0x00000003 srvsvc
 ncacn_np:[\\pipe\\srvsvc]
 ncacn_ip_tcp:
894de0c0-0d55-11d3-a322-00c04fa321a1/0x00000001 initshutdown
 ncacn_np:[\\pipe\\InitShutdown]
12345778-1234-abcd-ef00-0123456789ab/0x00000000 lsarpc
 ncacn_np:[\\pipe\\lsarpc]
 ncacn_np:[\\pipe\\lsass]
`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npa-doctor-'));
  libexec = join(dir, 'libexec');
  ncalrpc = join(dir, 'ncalrpc');
  conf = join(dir, 'smb.conf');
  share = join(dir, 'data');
  await mkdir(libexec);
  await mkdir(join(ncalrpc, 'np'), { recursive: true });
  await mkdir(share);
  await writeFile(join(libexec, 'rpcd_fake'), `#!/bin/sh\ncat <<'EOF'\n${LIST}EOF\n`, { mode: 0o755 });
  calls = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake smbd/testparm/net/smbcontrol; testparm prints the given [global] params. */
function fakeExec(globals: Record<string, string>, opts: { shareLines?: string; build?: string } = {}): Exec {
  return async (file, args) => {
    calls.push([file, ...args].join(' '));
    if (file === 'smbd' && args[0] === '-V') return { code: 0, stdout: 'Version 4.17.12-Debian\n', stderr: '' };
    if (file === 'smbd' && args[0] === '-b') return { code: 0, stdout: opts.build ?? '', stderr: '' };
    if (file === 'testparm') {
      const g = Object.entries({ 'ncalrpc dir': ncalrpc, 'rpc start on demand helpers': 'Yes', ...globals })
        .map(([k, v]) => `\t${k} = ${v}`).join('\n');
      return { code: 0, stdout: `# Global parameters\n[global]\n${g}\n\n[data]\n\tpath = ${share}\n\tread only = No\n${opts.shareLines ?? ''}\n[data@{x}]\n\tpath = /nonexistent\n`, stderr: '' };
    }
    return { code: 0, stdout: '', stderr: '' };
  };
}

describe('fsrvpd doctor', () => {
  it('parses versions, levels, testparm output and interface lists', () => {
    expect(parseSambaVersion('Version 4.17.12-Debian')).toEqual([4, 17, 12]);
    expect(npaLevelFor([4, 17, 12])).toBe(7);
    expect(npaLevelFor([4, 17, 8])).toBeUndefined();
    expect(npaLevelFor([4, 18, 0])).toBeUndefined();
    expect(npaLevelFor([4, 19, 5])).toBe(7);
    expect(npaLevelFor([4, 22, 1])).toBe(8);
    const t = parseTestparm('[global]\n\tfss: sequence timeout = 1\n\tExternal_RPC_Pipe:Socket_Dir = /x\n[A b]\n\tpath = /p\n');
    expect(t.get('global')?.get('fss:sequencetimeout')).toBe('1');
    expect(t.get('global')?.get('external_rpc_pipe:socket_dir')).toBe('/x');
    expect(t.get('a b')?.get('path')).toBe('/p');
    expect(parseInterfacePipes(LIST)).toEqual(['fssagentrpc', 'srvsvc', 'initshutdown', 'lsarpc', 'lsass']);
  });

  it('names vfs objects smbd cannot load (samba-vfs-modules missing)', async () => {
    const build = `Paths:\n   CONFIGFILE: /etc/samba/smb.conf\n   MODULESDIR: ${dir}/modules\n\nBuiltin modules:\n   vfs_default vfs_posixacl pdb_tdbsam\n`;
    const b = parseSambaBuild(build);
    expect(b).toEqual({ configFile: '/etc/samba/smb.conf', modulesDir: `${dir}/modules`, builtin: new Set(['vfs_default', 'vfs_posixacl', 'pdb_tdbsam']) });
    await mkdir(join(dir, 'modules', 'vfs'), { recursive: true });
    await writeFile(join(dir, 'modules', 'vfs', 'btrfs.so'), '');
    const present = (f: string): boolean => f === join(dir, 'modules', 'vfs', 'btrfs.so');
    expect(missingVfsModules('btrfs shadow_copy2 posixacl', b, present)).toEqual(['shadow_copy2']);
    expect(missingVfsModules(undefined, b, present)).toEqual([]);
    expect(missingVfsModules('shadow_copy2', parseSambaBuild(''), present)).toEqual([]); // unknown layout: no claim
    await writeFile(conf, '[global]\n');
    const rep = await inspect({ config: conf, socketDir: join(dir, 'sock'), libexecDir: libexec,
      exec: fakeExec({}, { build, shareLines: '\tvfs objects = btrfs shadow_copy2\n' }) });
    expect(formatReport(rep)).toMatch(/ERROR\s+share data: vfs objects shadow_copy2 not installed in .*modules\/vfs \(Debian package samba-vfs-modules\)/);
    expect(rep.healthy).toBe(false);
  });

  it('says when the fast helper or the attr tools are missing, and that it still works without them', async () => {
    await writeFile(conf, '[global]\n');
    const base = fakeExec({});
    const exec: Exec = async (file, args) => {
      if (file === DEFAULT_PYTHON) return { code: 1, stdout: '', stderr: "Traceback …\nModuleNotFoundError: No module named 'samba'\n" };
      if (file === 'getfattr') return { code: 127, stdout: '', stderr: 'not found' };
      return base(file, args);
    };
    const text = formatReport(await inspect({ config: conf, socketDir: join(dir, 'sock'), libexecDir: libexec, exec }));
    expect(text).toMatch(/info\s+helper: .*python3-samba.*net conf.*No module named 'samba'/);
    expect(text).toMatch(/info\s+attr tools: getfattr\/setfattr missing \(Debian package attr\)/);
    const ready = formatReport(await inspect({ config: conf, socketDir: join(dir, 'sock'), libexecDir: libexec, exec: base }));
    expect(ready).toMatch(/ok\s+helper: /);
    expect(ready).not.toMatch(/attr tools/);
  });

  it('lists what is missing on a bare host and the lines to add', async () => {
    await writeFile(conf, '[global]\n  workgroup = X\n');
    const sock = join(dir, 'sock');
    const rep = await inspect({ config: conf, socketDir: sock, libexecDir: libexec, exec: fakeExec({}) });
    expect(rep.healthy).toBe(false);
    expect(rep.confLines).toEqual(['registry shares = yes', `external_rpc_pipe:socket_dir = ${sock}`, 'include = registry']);
    const text = formatReport(rep);
    expect(text).toMatch(/MISSING\s+registry shares/);
    expect(text).toMatch(/MISSING\s+np dir: .*sock\/np does not exist/);
    expect(text).toMatch(/MISSING\s+pipe links: no symlink for initshutdown lsarpc lsass srvsvc/);
    expect(text).toMatch(/info\s+share data: .*(reflink|full copies)/);
    expect(text).not.toMatch(/data@/);
    expect(calls.some((c) => c.startsWith('net'))).toBe(false);
  });

  it('--apply creates np/ (0700) and the links, but never edits a file-based smb.conf', async () => {
    await writeFile(conf, '[global]\n  workgroup = X\n');
    const before = '[global]\n  workgroup = X\n';
    const sock = join(dir, 'sock');
    const rep = await inspect({ apply: true, config: conf, socketDir: sock, libexecDir: libexec, exec: fakeExec({}) });
    const np = join(sock, 'np');
    expect((await lstat(np)).mode & 0o777).toBe(0o700);
    expect(await readlink(join(np, 'srvsvc'))).toBe(join(ncalrpc, 'np', 'srvsvc'));
    expect(await readlink(join(np, 'initshutdown'))).toBe(join(ncalrpc, 'np', 'initshutdown'));
    await expect(lstat(join(np, 'fssagentrpc'))).rejects.toThrow();
    expect(rep.findings.filter((f) => f.status === 'fixed').map((f) => f.check)).toEqual(['np dir', 'pipe links']);
    expect(rep.confLines).toContain('registry shares = yes');
    expect((await import('node:fs')).readFileSync(conf, 'utf8')).toBe(before);
    expect(calls.some((c) => c.startsWith('net'))).toBe(false);
  });

  it('--apply sets missing globals with net conf when the configuration reads the registry', async () => {
    const sock = join(dir, 'sock');
    await writeFile(conf, `[global]\n  workgroup = X\n  include = registry\n`);
    const rep = await inspect({ apply: true, config: conf, socketDir: sock, libexecDir: libexec, exec: fakeExec({}) });
    expect(calls).toContain(`net -s ${conf} conf setparm global registry shares yes`);
    expect(calls).toContain(`net -s ${conf} conf setparm global external_rpc_pipe:socket_dir ${sock}`);
    expect(calls).toContain(`smbcontrol -s ${conf} smbd reload-config`);
    expect(rep.confLines).toEqual([]);
    expect(rep.healthy).toBe(true);
  });

  it('a ready host is healthy; a loose np/ and a wrong link are reported and fixed', async () => {
    const sock = join(dir, 'sock');
    const np = join(sock, 'np');
    await mkdir(np, { recursive: true });
    await chmod(np, 0o755);
    await symlink('/elsewhere/srvsvc', join(np, 'srvsvc'));
    await writeFile(conf, `[global]\n  registry shares = yes\n  include = registry\n`);
    const globals = { 'registry shares': 'Yes', 'external_rpc_pipe:socket_dir': sock };
    const first = await inspect({ config: conf, libexecDir: libexec, exec: fakeExec(globals) });
    expect(first.healthy).toBe(false);
    expect(formatReport(first)).toMatch(/mode 755; it must be 0700/);
    expect(formatReport(first)).toMatch(/no symlink for .*srvsvc/);
    const fixed = await inspect({ apply: true, config: conf, libexecDir: libexec, exec: fakeExec(globals) });
    expect(fixed.findings.filter((f) => f.status === 'fixed')).toHaveLength(2);
    const again = await inspect({ config: conf, libexecDir: libexec, exec: fakeExec(globals) });
    expect(again.healthy).toBe(true);
    expect(await readlink(join(np, 'srvsvc'))).toBe(join(ncalrpc, 'np', 'srvsvc'));
  });

  it('reports a socket dir that disagrees with smb.conf', async () => {
    await writeFile(conf, `[global]\n  include = registry\n`);
    const rep = await inspect({ config: conf, socketDir: join(dir, 'other'), libexecDir: libexec, exec: fakeExec({ 'registry shares': 'Yes', 'external_rpc_pipe:socket_dir': '/run/x' }) });
    expect(formatReport(rep)).toMatch(/ERROR\s+socket dir: smb.conf has external_rpc_pipe:socket_dir = \/run\/x/);
  });

  it('runDoctor rejects bad arguments', async () => {
    const out: string[] = [];
    expect(await runDoctor(['--bogus'], (s) => out.push(s))).toBe(2);
    expect(out[0]).toMatch(/unknown argument --bogus/);
    expect(await runDoctor(['--config'], (s) => out.push(s))).toBe(2);
    expect(await runDoctor(['--help'], (s) => out.push(s))).toBe(0);
  });
});
