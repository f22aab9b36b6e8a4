/**
 * The configuration of a Samba domain member next to the private AD DC (samba-member.ts): its
 * smb.conf (`security = ads`, the DC's realm and workgroup, 127.0.0.2 only, every directory under
 * its own run dir, idmap `rid` for the domain, the machine password's keys also in a keytab file
 * for our agent (KRB5_KTNAME), the DC's btrfs `fsrvp_share` served with the README's
 * shadow_copy2 layout), the hosts file its processes see, and their environment.
 *
 * Name service for the member's processes (smbd, winbindd, net), as in Samba's own test
 * environments: nss_wrapper (LD_PRELOAD) answers host names from the run's hosts file (dc1 and
 * the member, both on loopback, /etc/hosts untouched) and users and groups from /etc/passwd and
 * /etc/group plus libnss_winbind (NSS_WRAPPER_MODULE_SO_PATH), so that smbd finds a Unix account
 * for a domain user (getpwnam("FSRVPTEST\\user"), which smbd needs after every domain logon)
 * without winbind in the system's nsswitch.conf. libnss_winbind is taken out of Debian's
 * libnss-winbind package (`apt-get download`, `dpkg-deb -x` into a cache dir) rather than
 * installed: its postinst would add winbind to /etc/nsswitch.conf for every process on the host.
 * The member's winbindd uses the default socket dir /run/samba/winbindd (the DC's is moved away,
 * AdDcOptions.privateWinbind), so ntlm_auth and wbinfo reach it as on any real member.
 */
import { execFile } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shadowCopy2Options } from '../../src/storage/naming.js';
import { SNAPSHOT_DIR_NAME } from '../../src/storage/btrfs.js';
import { must } from './run-cmd.js';
import { DC_SHARE, NSS_WRAPPER, type DcSharePaths } from './samba-addc-share.js';
import { daemonGlobals, type DcNames } from './samba-addc-conf.js';

export const MEMBER_ADDRESS = '127.0.0.2';
/** The member's NetBIOS name; its DNS name is <lower case>.<realm in lower case>. */
export const MEMBER_NAME = 'FSRVPM';
/** The member's directories under its run dir. */
export const MEMBER_DIRS = ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'log', 'ccache', 'sock'] as const;

export interface MemberPaths {
  readonly root: string;
  readonly keytab: string;
  /** `external_rpc_pipe:socket_dir`: our agent's listener goes to `<socketDir>/np/fssagentrpc`. */
  readonly socketDir: string;
}

/** smb.conf of the member run in `p.root`, domain `n`, its DC at `dcAddress`, serving `share`. */
export function memberSmbConf(p: MemberPaths, n: DcNames, dcAddress: string, share: DcSharePaths, seqTimeout: number): string {
  const d = (x: string): string => join(p.root, x);
  const global: Record<string, string> = {
    'netbios name': MEMBER_NAME,
    workgroup: n.domain,
    realm: n.realm,
    security: 'ads',
    'server role': 'member server',
    // The DC by address: no DNS lookup of SRV records (there is no DNS server for the realm).
    'password server': dcAddress,
    // 127.0.0.2 is on lo (127.0.0.0/8) but not an address of its own: Samba wants it with a mask.
    interfaces: `${MEMBER_ADDRESS}/8`,
    'bind interfaces only': 'yes',
    'smb ports': '445',
    'disable netbios': 'yes',
    // The machine password's keys in secrets.tdb (smbd's acceptor) and in the default keytab
    // (our agent's), which `net ads join` writes; KRB5_KTNAME (memberEnv) makes that p.keytab.
    'kerberos method': 'secrets and keytab',
    'idmap config * : backend': 'tdb',
    'idmap config * : range': '3000-7999',
    [`idmap config ${n.domain} : backend`]: 'rid',
    [`idmap config ${n.domain} : range`]: '100000-999999',
    'template shell': '/usr/sbin/nologin',
    'template homedir': '/nonexistent',
    'private dir': d('private'),
    'state directory': d('state'),
    'lock directory': d('lock'),
    'cache directory': d('cache'),
    'pid directory': d('pid'),
    'ncalrpc dir': d('ncalrpc'),
    ...daemonGlobals(d('log')),
    'rpc start on demand helpers': 'no',
    'external_rpc_pipe:socket_dir': p.socketDir,
    'registry shares': 'yes',
    'fss: sequence timeout': String(seqTimeout),
  };
  const section: Record<string, string> = {
    path: share.sharePath,
    'read only': 'no',
    'vfs objects': 'btrfs shadow_copy2',
    'btrfs: manipulate snapshots': 'no',
    'shadow: sort': 'desc',
    ...shadowCopy2Options(`../${SNAPSHOT_DIR_NAME}/share`),
  };
  return [
    '[global]', ...Object.entries(global).map(([k, v]) => `  ${k} = ${v}`), '',
    `[${DC_SHARE}]`, ...Object.entries(section).map(([k, v]) => `  ${k} = ${v}`), '',
  ].join('\n');
}

/** The hosts file of the member's processes: the DC and the member by name. */
export function memberHosts(n: DcNames, dcAddress: string): string {
  const dns = n.realm.toLowerCase();
  return `${dcAddress} ${n.host}.${dns} ${n.host}\n${MEMBER_ADDRESS} ${MEMBER_NAME.toLowerCase()}.${dns} ${MEMBER_NAME.toLowerCase()}\n`;
}

/** The environment of the member's daemons and tools (see the file comment). */
export function memberEnv(hostsFile: string, nssWinbind: string, krb5Conf: string, keytab: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LD_PRELOAD: NSS_WRAPPER,
    NSS_WRAPPER_PASSWD: '/etc/passwd',
    NSS_WRAPPER_GROUP: '/etc/group',
    NSS_WRAPPER_HOSTS: hostsFile,
    NSS_WRAPPER_MODULE_SO_PATH: nssWinbind,
    NSS_WRAPPER_MODULE_FN_PREFIX: 'winbind',
    KRB5_CONFIG: krb5Conf,
    // `kerberos method = secrets and keytab` writes the system keytab (krb5's default, not
    // `dedicated keytab file`) at the join: without this, /etc/krb5.keytab.
    KRB5_KTNAME: `FILE:${keytab}`,
  };
}

const execIn = (cwd: string, file: string, args: readonly string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${String(stderr) || err.message}`));
      else resolve(String(stdout));
    });
  });

/**
 * libnss_winbind.so.2 of the installed winbind's version, from Debian's libnss-winbind unpacked
 * into /tmp/fsrvp-nss-winbind-<version> (kept for later runs); throws when it cannot be had.
 */
export async function nssWinbindModule(): Promise<string> {
  const version = (await must('dpkg-query', ['-W', '-f=${Version}', 'winbind'])).trim();
  const dir = join(tmpdir(), `fsrvp-nss-winbind-${version.replace(/[^A-Za-z0-9.+-]/g, '_')}`);
  const lib = (root: string): string => join(root, 'lib', `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, 'libnss_winbind.so.2');
  if (existsSync(lib(dir))) return lib(dir);
  const build = await mkdtemp(join(tmpdir(), 'fsrvp-nss-winbind-build-'));
  try {
    const pkg = `libnss-winbind=${version}`;
    let got = await execIn(build, 'apt-get', ['download', '-q', pkg]).catch((e: Error) => e);
    if (got instanceof Error) {
      await must('apt-get', ['update', '-q'], { timeoutMs: 600_000 });
      got = await execIn(build, 'apt-get', ['download', '-q', pkg]);
    }
    const deb = (await readdir(build)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb`);
    await must('dpkg-deb', ['-x', join(build, deb), join(build, 'x')]);
    if (!existsSync(lib(join(build, 'x')))) throw new Error(`${deb} holds no libnss_winbind.so.2`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(build, 'x'), dir);
    return lib(dir);
  } catch (e) {
    const ci = process.env.CI === 'true' ? ' (CI=true)' : '';
    throw new Error(`libnss_winbind (Debian libnss-winbind ${version}) could not be had${ci}: ${(e as Error).message}`);
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}
