/**
 * The AD DC's file share for FSRVP (samba-addc.ts, option `share`): a btrfs loop filesystem in
 * the run dir (image `<run>/btrfs.img`, mounted on `<run>/mnt`, both recorded in the harness
 * lock so a crashed run's undo finds them), its subvolume `share` served as `fsrvp_share` (the
 * name smbtorture rpc.fsrvp hard-codes), with the README's shadow_copy2 layout (snapshots in
 * `../.fsrvp-snapshots/share`), and `registry shares = yes` so our agent's Samba publisher can
 * add `fsrvp_share@{GUID}` shares with `net conf` / Samba's smbconf library on the DC.
 *
 * Name resolution for Samba's source4 clients (smbtorture): they resolve the DC's name with
 * getaddrinfo() and have no `-I`; nss_wrapper (Debian libnss-wrapper, LD_PRELOAD with
 * NSS_WRAPPER_HOSTS, the way Samba's own test environments do it) answers `dc1.fsrvp.test`
 * with 127.0.0.1 for that one process, /etc/hosts untouched.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SNAPSHOT_DIR_NAME } from '../../src/storage/btrfs.js';
import { shadowCopy2Options } from '../../src/storage/naming.js';
import { aptInstall } from './apt.js';
import { must, runCmd } from './run-cmd.js';

export const DC_SHARE = 'fsrvp_share';
export const NSS_WRAPPER = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libnss_wrapper.so`;

export interface DcShareOptions {
  /** `fss: sequence timeout` of the DC's smb.conf (smbtorture reads it too); default 1 s. */
  readonly seqTimeout?: number;
  /** Loop filesystem size in MiB (default 320). */
  readonly sizeMiB?: number;
}

/** Where the share lives in a run dir. */
export interface DcSharePaths {
  readonly image: string;
  readonly mount: string;
  readonly sharePath: string;
  /** Where the agent's btrfs backend puts the share's snapshots (README layout). */
  readonly snapshotDir: string;
}

export function dcSharePaths(root: string): DcSharePaths {
  const mount = join(root, 'mnt');
  return { image: join(root, 'btrfs.img'), mount, sharePath: join(mount, 'share'), snapshotDir: join(mount, SNAPSHOT_DIR_NAME, 'share') };
}

/** The [global] lines the share needs (registry shares for the exposed snapshots). */
export function shareGlobals(o: DcShareOptions): Record<string, string> {
  return { 'registry shares': 'yes', 'fss: sequence timeout': String(o.seqTimeout ?? 1) };
}

/** The [fsrvp_share] section. */
export function shareSection(p: DcSharePaths): string[] {
  const share: Record<string, string> = {
    path: p.sharePath,
    'read only': 'no',
    'vfs objects': 'btrfs shadow_copy2',
    'btrfs: manipulate snapshots': 'no',
    'shadow: sort': 'desc',
    ...shadowCopy2Options(`../${SNAPSHOT_DIR_NAME}/share`),
  };
  return [`[${DC_SHARE}]`, ...Object.entries(share).map(([k, v]) => `  ${k} = ${v}`), ''];
}

/**
 * Makes the filesystem: image, loop device, mkfs, mount, the share subvolume (mode 0777: domain
 * users write into it) and the snapshot dir. `record` is told the loop device and the mount as
 * soon as each exists.
 */
export async function makeShareFs(root: string, o: DcShareOptions, record: (r: { loop?: string; mount?: string }) => void): Promise<DcSharePaths> {
  const p = dcSharePaths(root);
  // Domain users (unix ids from winbindd) must traverse the run dir to reach the share.
  await chmod(root, 0o755);
  await mkdir(p.mount);
  await must('truncate', ['-s', `${o.sizeMiB ?? 320}M`, p.image]);
  const loop = (await must('losetup', ['--find', '--show', p.image])).trim();
  record({ loop });
  await must('/usr/sbin/mkfs.btrfs', ['-q', '-f', loop]);
  await must('mount', [loop, p.mount]);
  record({ loop, mount: p.mount });
  await must('/usr/bin/btrfs', ['subvolume', 'create', p.sharePath]);
  await chmod(p.sharePath, 0o777);
  // shadow_copy2 fails FSCTL_SRV_ENUMERATE_SNAPSHOTS while its snapdir does not exist yet.
  await mkdir(p.snapshotDir, { recursive: true });
  return p;
}

/** Whether `path` is a mount point now (/proc/mounts). */
export function isMounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === path);
}

/** Unmounts (retrying while smbd lets go) and detaches; returns what failed. */
export async function removeShareFs(loop: string | undefined, mount: string | undefined): Promise<string[]> {
  const errors: string[] = [];
  if (mount && isMounted(mount)) {
    let r = await runCmd('umount', [mount]);
    for (let i = 0; i < 10 && r.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 300));
      r = await runCmd('umount', [mount]);
    }
    if (r.code !== 0) {
      errors.push(`umount ${mount}: ${r.stderr}`);
      await runCmd('umount', ['-l', mount]);
    }
  }
  if (loop) {
    const r = await runCmd('losetup', ['-d', loop]);
    if (r.code !== 0 && !/No such device|not a block|invalid/i.test(r.stderr)) errors.push(`losetup -d ${loop}: ${r.stderr}`);
  }
  return errors;
}

/** Installs libnss-wrapper when missing (as root; fails saying so otherwise). */
export async function ensureNssWrapper(): Promise<void> {
  if (existsSync(NSS_WRAPPER)) return;
  try {
    await aptInstall(['libnss-wrapper']);
  } catch (e) {
    throw new Error(`libnss-wrapper is missing and installing it failed${process.env.CI === 'true' ? ' (CI=true)' : ''}: ${(e as Error).message}`);
  }
  if (!existsSync(NSS_WRAPPER)) throw new Error(`${NSS_WRAPPER} still missing after apt-get install libnss-wrapper`);
}

/** Writes `<root>/hosts` mapping `names` to 127.0.0.1; returns the environment that uses it. */
export async function hostsEnv(root: string, names: readonly string[], base: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  await ensureNssWrapper();
  const file = join(root, 'hosts');
  await writeFile(file, `127.0.0.1 ${names.join(' ')}\n`);
  return { ...base, LD_PRELOAD: NSS_WRAPPER, NSS_WRAPPER_HOSTS: file };
}

/**
 * The environment of Samba processes that must find a winbindd in `socketDir` rather than in
 * /run/samba/winbindd: libwbclient takes SELFTEST_WINBINDD_SOCKET_DIR only when nss_wrapper is
 * loaded and enabled (NSS_WRAPPER_PASSWD and NSS_WRAPPER_GROUP set), which is how Samba's own test
 * environments run several winbindds on one host. Users and groups stay the system's (the files
 * are /etc/passwd and /etc/group themselves).
 */
export async function privateWinbindEnv(socketDir: string, base: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  await ensureNssWrapper();
  return { ...base, LD_PRELOAD: NSS_WRAPPER, NSS_WRAPPER_PASSWD: '/etc/passwd', NSS_WRAPPER_GROUP: '/etc/group', SELFTEST_WINBINDD_SOCKET_DIR: socketDir };
}
