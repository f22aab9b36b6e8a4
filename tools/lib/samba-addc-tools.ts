/**
 * The Debian packages the AD DC harness needs, installed through apt.ts when missing:
 * samba-ad-dc (with samba-dsdb-modules, the directory's ldb modules) and samba-ad-provision
 * (the schema and provisioning data), besides samba, smbclient, winbind and krb5-user.
 */
import { existsSync } from 'node:fs';
import { DEFAULT_LIBEXEC } from '../../src/transport/npa-links.js';
import { aptInstall } from './apt.js';
import { runCmd } from './run-cmd.js';

export const AD_DC_PACKAGES = ['samba', 'samba-ad-dc', 'samba-ad-provision', 'smbclient', 'winbind', 'krb5-user'];
const SAMBA_LIB = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/samba`;
const TOOLS = [
  '/usr/sbin/samba', '/usr/sbin/smbd', '/usr/sbin/winbindd', `${DEFAULT_LIBEXEC}/samba-dcerpcd`, '/usr/bin/samba-tool',
  '/usr/bin/testparm', '/usr/bin/wbinfo', '/usr/bin/smbclient', '/usr/bin/rpcclient',
  '/usr/bin/kinit', '/usr/bin/klist', '/usr/bin/kvno',
  '/usr/share/samba/setup/ad-schema', `${SAMBA_LIB}/ldb/samba_dsdb.so`,
];

async function installed(pkg: string): Promise<boolean> {
  const r = await runCmd('dpkg-query', ['-W', '-f=${Status}', pkg]);
  return r.code === 0 && r.stdout.includes('install ok installed');
}

/** Installs what is missing; a clear error when that is impossible. */
export async function ensureAdDcTools(): Promise<void> {
  const missingTools = (): string[] => TOOLS.filter((t) => !existsSync(t));
  const missingPackages = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const p of AD_DC_PACKAGES) if (!(await installed(p))) out.push(p);
    return out;
  };
  const pkgs = await missingPackages();
  if (pkgs.length === 0 && missingTools().length === 0) return;
  try {
    await aptInstall(pkgs.length > 0 ? pkgs : AD_DC_PACKAGES);
  } catch (e) {
    const ci = process.env.CI === 'true' ? ' (CI=true)' : '';
    throw new Error(`missing ${[...pkgs, ...missingTools()].join(', ')} and installing failed${ci}: ${(e as Error).message}`);
  }
  const still = [...(await missingPackages()), ...missingTools()];
  if (still.length > 0) throw new Error(`still missing after installing ${AD_DC_PACKAGES.join(' ')}: ${still.join(', ')}`);
}
