/** The private smb.conf a Samba harness runs with: loopback only, its own directories, one btrfs share. */
import { join } from 'node:path';
import { SNAPSHOT_DIR_NAME } from '../../src/storage/btrfs.js';
import { shadowCopy2Options } from '../../src/storage/naming.js';

export const SHARE = 'fsrvp_share';

/** samba: Samba's own rpcd_fsrvp serves the pipe; agent: smbd sends it to our socket. */
export type SambaMode = 'agent' | 'samba';

/** Snapshot layout of the share's shadow_copy2: Samba's own (`snapdir = .`, `@GMT-…` in the share root) or the README's. */
export type SambaLayout = 'samba' | 'readme';

export interface SambaOptions {
  readonly mode: SambaMode;
  /** shadow_copy2 settings of [fsrvp_share]; default: 'samba' in samba mode, 'readme' in agent mode. */
  readonly layout?: SambaLayout;
  /** `fss: sequence timeout` (seconds); the agent must use the same value. Default 1. */
  readonly seqTimeout?: number;
  /** Extra [global] lines. */
  readonly global?: Readonly<Record<string, string>>;
  /** Extra [fsrvp_share] lines (e.g. shadow_copy2 options matching the btrfs backend). */
  readonly share?: Readonly<Record<string, string>>;
  /** Loop filesystem size in MiB (default 320). */
  readonly sizeMiB?: number;
  /**
   * Extra shares `fsrvp_share1`…`fsrvp_shareN`, each on a btrfs subvolume of its own
   * (`<mount>/share1`…), with [fsrvp_share]'s settings (many-share sets). Default 0.
   */
  readonly extraShares?: number;
}

/** The name and subvolume (below the mount) of extra share `i` (1-based). */
export function extraShare(i: number): { readonly name: string; readonly dir: string } {
  return { name: `${SHARE}${i}`, dir: `share${i}` };
}

export function layoutOf(opts: SambaOptions): SambaLayout {
  return opts.layout ?? (opts.mode === 'samba' ? 'samba' : 'readme');
}

export function smbConf(h: { root: string; mount: string; socketDir?: string }, opts: SambaOptions): string {
  const d = (n: string): string => join(h.root, n);
  const global: Record<string, string> = {
    'netbios name': 'FSRVPH',
    workgroup: 'FSRVPH',
    'server role': 'standalone server',
    interfaces: '127.0.0.1/8',
    'bind interfaces only': 'yes',
    'smb ports': '445',
    'disable netbios': 'yes',
    'lock directory': d('lock'),
    'state directory': d('state'),
    'cache directory': d('cache'),
    'private dir': d('private'),
    'pid directory': d('pid'),
    'ncalrpc dir': d('ncalrpc'),
    'log file': join(d('log'), 'log.%m'),
    'max log size': '0',
    'passdb backend': `tdbsam:${join(d('private'), 'passdb.tdb')}`,
    'rpc start on demand helpers': 'no',
    'registry shares': 'yes',
    'fss: sequence timeout': String(opts.seqTimeout ?? 1),
    'printing': 'bsd',
    'printcap name': '/dev/null',
    'load printers': 'no',
    'map to guest': 'never',
  };
  if (opts.mode === 'samba') global['rpcd_fsrvp:num_workers'] = '1';
  if (h.socketDir) global['external_rpc_pipe:socket_dir'] = h.socketDir;
  Object.assign(global, opts.global ?? {});
  // Samba's own FSRVP: vfs_btrfs snapshots into the share as @GMT-… (SAMBA.md §5). Ours: the btrfs
  // backend keeps them beside the subvolume in ../.fsrvp-snapshots/share; shadow_copy2 finds them
  // through a *relative* snapdir (relative to the share subvolume). An absolute snapdir would be
  // inherited by the exposed clones, whose paths lie inside it, and break writes to writable
  // snapshot shares (trap 3).
  // layout 'samba' in agent mode: the same share section as for Samba's own FSRVP, unchanged.
  const section = (name: string, dir: string): string[] => {
    const shadow: Record<string, string> = layoutOf(opts) === 'samba'
      ? { 'btrfs: manipulate snapshots': 'yes', 'shadow: snapdir': '.', 'hide files': '/@GMT-*/' }
      : { 'btrfs: manipulate snapshots': 'no', ...shadowCopy2Options(`../${SNAPSHOT_DIR_NAME}/${dir}`) };
    const share: Record<string, string> = {
      path: join(h.mount, dir),
      'read only': 'no',
      'vfs objects': 'btrfs shadow_copy2',
      'shadow: sort': 'desc',
      ...shadow,
      ...(opts.share ?? {}),
    };
    return [`[${name}]`, ...Object.entries(share).map(([k, v]) => `  ${k} = ${v}`), ''];
  };
  const lines = ['[global]', ...Object.entries(global).map(([k, v]) => `  ${k} = ${v}`), '  include = registry', '',
    ...section(SHARE, 'share')];
  for (let i = 1; i <= (opts.extraShares ?? 0); i++) lines.push(...section(extraShare(i).name, extraShare(i).dir));
  return lines.join('\n');
}
