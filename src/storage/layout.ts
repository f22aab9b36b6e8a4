/**
 * Where a volume's snapshots go so that the shares on it show them as previous versions.
 *
 * A base share with `vfs objects = … shadow_copy2` looks for snapshots where its shadow_copy2
 * settings say (vfs_shadow_copy2.c, Samba 4.17):
 * - mount point: `shadow:mountpoint` if absolute and a prefix of the share path, else the share
 *   path walked up while st_dev stays the same (on btrfs: the subvolume root);
 * - snapshot directory: `shadow:snapdir` if absolute, else `<mount point>/<snapdir>` (default
 *   `.snapshots`); `shadow:snapdir = .` is the mount point itself (Samba's own FSRVP layout);
 * - inside a snapshot the share is at its path relative to `shadow:basedir` (absolute, below
 *   the mount point; default the mount point), or at `shadow:snapsharepath` if set.
 * Our btrfs snapshot is of the subvolume, so the share is at its path relative to the
 * subvolume root: the settings must say the same, or the share would not see the snapshot.
 * `shadow:snapdirseverywhere` (and so crossmountpoints) and `shadow:sscanf` are not supported:
 * such a share keeps the README layout (the reason is logged).
 *
 * The README layout (`fsrvp-<id>_GMT-…` in `../.fsrvp-snapshots/<subvolume>`) is used where no
 * share on the volume has shadow_copy2, and where a share's settings point at that layout.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { shadowCopy2Options } from './naming.js';
import { compileNaming, SC2_DEFAULT_DELIMITER, SC2_DEFAULT_FORMAT, type CompiledNaming } from './sc2-names.js';

/** What a share definition says about shadow_copy2 (parameter names normalised: lower case, no spaces). */
export interface ShareShadowConf {
  readonly name: string;
  readonly path: string;
  /** Parameters of the share as testparm prints them, normalised names (`vfsobjects`, `shadow:snapdir`, …). */
  readonly params: ReadonlyMap<string, string>;
}

export type Placement =
  | { readonly kind: 'readme'; readonly why: string }
  | { readonly kind: 'shadow_copy2'; readonly dir: string; readonly naming: CompiledNaming; readonly share: string };

const bool = (v: string | undefined): boolean => v !== undefined && ['yes', 'true', '1', 'on'].includes(v.trim().toLowerCase());

/** Whether the share loads shadow_copy2 (`vfs objects` lists it). */
export function usesShadowCopy2(conf: ShareShadowConf): boolean {
  return (conf.params.get('vfsobjects') ?? '').split(/[\s,]+/).includes('shadow_copy2');
}

/** shadow_copy2's mount point of the share: explicit, or the st_dev walk. */
async function mountPointOf(sharePath: string, explicit: string | undefined): Promise<string> {
  if (explicit && isAbsolute(explicit) && sharePath.startsWith(explicit)) return explicit.replace(/(?<=.)\/+$/, '');
  let cur = sharePath;
  const dev = (await stat(cur)).dev;
  for (;;) {
    const up = dirname(cur);
    if (up === cur || (await stat(up)).dev !== dev) return cur;
    cur = up;
  }
}

const trim = (p: string): string => p.replace(/^\/+|\/+$/g, '');

/**
 * The placement one share asks for on the volume rooted at `volumeRoot` (`readmeDir`: where
 * the README layout keeps that volume's snapshots). Undefined when the share has no shadow_copy2.
 */
export async function placementForShare(conf: ShareShadowConf, volumeRoot: string, readmeDir: string): Promise<Placement | undefined> {
  if (!usesShadowCopy2(conf)) return undefined;
  const p = (k: string): string | undefined => conf.params.get(`shadow:${k}`);
  const readme = (why: string): Placement => ({ kind: 'readme', why: `share ${conf.name}: ${why}` });
  if (bool(p('sscanf'))) return readme('shadow:sscanf is not supported');
  const share = await realpath(conf.path);
  const snapdir = p('snapdir') ?? '.snapshots';
  if (bool(p('snapdirseverywhere')) && !isAbsolute(snapdir)) return readme('shadow:snapdirseverywhere is not supported');
  const mount = await mountPointOf(share, p('mountpoint'));
  let basedir = p('basedir');
  if (basedir !== undefined && (!isAbsolute(basedir) || !basedir.startsWith(mount))) basedir = undefined;
  let snapsharepath = p('snapsharepath');
  if (snapsharepath !== undefined && (isAbsolute(snapsharepath) || basedir !== undefined)) snapsharepath = undefined;
  const relInSnapshot = trim(snapsharepath ?? (share.length > (basedir ?? mount).length ? share.slice((basedir ?? mount).length) : ''));
  const ours = trim(relative(volumeRoot, share));
  if (relInSnapshot !== ours) {
    return readme(`shadow_copy2 expects the share at "${relInSnapshot}" inside a snapshot, a snapshot of ${volumeRoot} has it at "${ours}"`);
  }
  const dir = isAbsolute(snapdir) ? join(snapdir) : join(mount, snapdir);
  const naming = {
    format: p('format') ?? SC2_DEFAULT_FORMAT,
    localtime: bool(p('localtime')),
    delimiter: p('delimiter') ?? SC2_DEFAULT_DELIMITER,
    ...(p('snapprefix') !== undefined ? { snapprefix: p('snapprefix') as string } : {}),
  };
  const r = shadowCopy2Options('');
  if (dir === join(readmeDir) && naming.format === r['shadow:format'] && naming.delimiter === r['shadow:delimiter'] &&
    naming.snapprefix === r['shadow:snapprefix'] && !naming.localtime) {
    return { kind: 'readme', why: `share ${conf.name} is configured for the README layout` };
  }
  let compiled: CompiledNaming;
  try {
    compiled = compileNaming(naming);
  } catch (e) {
    return readme((e as Error).message);
  }
  return { kind: 'shadow_copy2', dir, naming: compiled, share: conf.name };
}

/**
 * The placement for a volume: the first share on it (by name) that asks for a shadow_copy2
 * placement wins; shares that ask for another one are named in `conflicts`. README layout
 * when no share asks for one.
 */
export async function placementForVolume(
  confs: readonly ShareShadowConf[], volumeRoot: string, readmeDir: string,
): Promise<{ placement: Placement; conflicts: string[] }> {
  const onVolume: ShareShadowConf[] = [];
  for (const c of [...confs].sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1))) {
    const real = await realpath(c.path).catch(() => undefined);
    if (real === undefined) continue;
    const rel = relative(volumeRoot, real);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    onVolume.push(c);
  }
  let chosen: Placement | undefined;
  const conflicts: string[] = [];
  let why = 'no share on the volume uses shadow_copy2';
  for (const c of onVolume) {
    const pl = await placementForShare(c, volumeRoot, readmeDir).catch((e: Error): Placement => ({ kind: 'readme', why: `share ${c.name}: ${e.message}` }));
    if (!pl) continue;
    if (pl.kind === 'readme') {
      why = pl.why;
      continue;
    }
    if (!chosen) chosen = pl;
    else if (chosen.kind === 'shadow_copy2' && (chosen.dir !== pl.dir || chosen.naming.format !== pl.naming.format)) conflicts.push(c.name);
  }
  return { placement: chosen ?? { kind: 'readme', why }, conflicts };
}
