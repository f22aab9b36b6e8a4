/**
 * What the btrfs tool prints about subvolumes (`btrfs subvolume show`, `btrfs subvolume list -u
 * -q`), and the subvolume root above a path (found by inode number, without the tool).
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { BTRFS_SUBVOLUME_INO } from './tree-walk-rules.js';

export interface SubvolumeInfo {
  readonly uuid: string | undefined;
  readonly parentUuid: string | undefined;
  readonly id: number;
  readonly readOnly: boolean;
}

export function parseSubvolumeShow(text: string): SubvolumeInfo {
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^\\s*${name}:\\s*(.*?)\\s*$`, 'm').exec(text);
    return m?.[1];
  };
  const uuidOrUndefined = (v: string | undefined): string | undefined => (v && v !== '-' ? v.toLowerCase() : undefined);
  return {
    uuid: uuidOrUndefined(field('UUID')),
    parentUuid: uuidOrUndefined(field('Parent UUID')),
    id: Number(field('Subvolume ID') ?? NaN),
    readOnly: /\breadonly\b/.test(field('Flags') ?? ''),
  };
}

/** One line of `btrfs subvolume list -u -q`. */
export interface SubvolumeListEntry {
  readonly id: number;
  readonly parentUuid: string | undefined;
  readonly uuid: string;
  /** Relative to the filesystem's top level. */
  readonly path: string;
}

export function parseSubvolumeList(text: string): SubvolumeListEntry[] {
  const out: SubvolumeListEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^ID (\d+) .*?parent_uuid (\S+)\s+uuid (\S+) path (.+)$/.exec(line.trim());
    if (!m) continue;
    out.push({ id: Number(m[1]), parentUuid: m[2] === '-' ? undefined : (m[2] as string).toLowerCase(), uuid: (m[3] as string).toLowerCase(), path: m[4] as string });
  }
  return out;
}

/**
 * The subvolume root that holds `path`, a directory on btrfs (the caller checked: a local
 * filesystem, so synchronous calls, microseconds each): walk up to the directory with inode 256.
 */
export function subvolumeRootOf(path: string): string {
  let cur = realpathSync.native(path);
  let st = statSync(cur);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory`);
  while (st.ino !== BTRFS_SUBVOLUME_INO) {
    const up = dirname(cur);
    const ust = statSync(up);
    if (up === cur || ust.dev !== st.dev) {
      throw new Error(`${path}: no btrfs subvolume root found above it (reached ${cur}, a mount of a plain directory)`);
    }
    cur = up;
    st = ust;
  }
  return cur;
}
