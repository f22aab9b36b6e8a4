/** The Debian packages and tools a Samba harness needs, installed on demand (tools/lib/apt.ts). */
import { existsSync } from 'node:fs';
import { DEFAULT_LIBEXEC } from '../../src/transport/npa-links.js';
import { aptInstall } from './apt.js';

/** Debian's Samba module directory (`smbd -b` MODULESDIR) for this machine's multiarch triplet. */
const SAMBA_MODULES_DIR = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/samba`;
// samba-vfs-modules: the test shares use vfs objects btrfs and shadow_copy2; without them smbd
// refuses every tree connect to the share (and Samba's own FSRVP fails with E_ACCESSDENIED).
const PACKAGES = ['samba', 'samba-vfs-modules', 'smbclient', 'samba-testsuite', 'btrfs-progs'];
const TOOLS = [
  `${SAMBA_MODULES_DIR}/vfs/btrfs.so`, `${SAMBA_MODULES_DIR}/vfs/shadow_copy2.so`,
  '/usr/sbin/smbd', `${DEFAULT_LIBEXEC}/samba-dcerpcd`, `${DEFAULT_LIBEXEC}/rpcd_fsrvp`, '/usr/bin/rpcclient',
  '/usr/bin/smbclient', '/usr/bin/smbtorture', '/usr/bin/net', '/usr/bin/pdbedit', '/usr/bin/smbcontrol',
  '/usr/bin/testparm', '/usr/sbin/mkfs.btrfs', '/usr/bin/btrfs',
];

/** Installs the Debian packages when a tool is missing; a clear error when that is impossible. */
export async function ensureSambaTools(): Promise<void> {
  const missing = (): string[] => TOOLS.filter((t) => !existsSync(t));
  if (missing().length === 0) return;
  const ci = process.env.CI === 'true';
  try {
    await aptInstall(PACKAGES);
  } catch (e) {
    throw new Error(`missing ${missing().join(', ')} and installing failed${ci ? ' (CI=true)' : ''}: ${(e as Error).message}`);
  }
  const still = missing();
  if (still.length > 0) throw new Error(`still missing after installing ${PACKAGES.join(' ')}: ${still.join(', ')}`);
}

