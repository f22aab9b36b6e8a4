/**
 * Snapshot names shared by all backends:
 *
 *     fsrvp-<shadow copy id>_GMT-YYYY.MM.DD-HH.MM.SS[.N]
 *
 * - Unique without coordination: the shadow copy id (a GUID, lower case) is in the name, so two
 *   snapshots of one volume taken within the same second never collide. `.N` (N ≥ 2) is added
 *   only if the same id is reused for the same volume in the same second.
 * - Recognisable: `list()` accepts only names of this form, so snapshots made by other tools are
 *   never reported or deleted.
 * - Browsable as Windows "Previous Versions" through Samba's vfs_shadow_copy2 with
 *   `shadowCopy2Options()`: prefix (a BRE), delimiter `_GMT` and a format that starts with the
 *   delimiter (vfs_shadow_copy2 parses the part after the prefix with strptime and maps the
 *   timestamp back to the directory name through its snapshot list).
 * - The timestamp is UTC with one-second resolution, like the `@GMT-` tokens of SMB.
 */

export const SNAPSHOT_PREFIX = 'fsrvp';

const GUID_RE = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$/;
const NAME_RE = /^fsrvp-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_GMT-(\d{4})\.(\d{2})\.(\d{2})-(\d{2})\.(\d{2})\.(\d{2})(?:\.([2-9]|[1-9]\d+))?$/;

/** Normalises a GUID (with or without braces, any case) to lower case without braces; throws if invalid. */
export function normalizeGuid(id: string): string {
  const m = GUID_RE.exec(id);
  if (!m) throw new TypeError(`not a GUID: ${JSON.stringify(id)}`);
  return m[1]!.toLowerCase();
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The `YYYY.MM.DD-HH.MM.SS` UTC stamp of a time (whole seconds). */
export function gmtStamp(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}.${pad(d.getUTCMonth() + 1)}.${pad(d.getUTCDate())}-${pad(d.getUTCHours())}.${pad(d.getUTCMinutes())}.${pad(d.getUTCSeconds())}`;
}

/** The snapshot name for a shadow copy id taken at `createdAt` (ms); `seq` ≥ 2 disambiguates reuse. */
export function snapshotName(shadowCopyId: string, createdAt: number, seq = 1): string {
  const base = `${SNAPSHOT_PREFIX}-${normalizeGuid(shadowCopyId)}_GMT-${gmtStamp(createdAt)}`;
  return seq > 1 ? `${base}.${seq}` : base;
}

export interface ParsedSnapshotName {
  readonly shadowCopyId: string;
  /** Creation time from the name, ms since the epoch (whole seconds). */
  readonly createdAt: number;
  readonly seq: number;
}

/** Parses a name made by `snapshotName`; undefined for anything else. */
export function parseSnapshotName(name: string): ParsedSnapshotName | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(2, 8).map(Number) as [number, number, number, number, number, number];
  const createdAt = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(createdAt);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return { shadowCopyId: m[1]!, createdAt, seq: m[8] ? Number(m[8]) : 1 };
}

/** Whole seconds: the resolution the names (and SMB previous-versions tokens) carry. */
export function toSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/**
 * smb.conf parameters that let vfs_shadow_copy2 show the snapshots in `snapdir` as previous
 * versions of a share (with `vfs objects = shadow_copy2`).
 */
export function shadowCopy2Options(snapdir: string): Record<string, string> {
  return {
    'shadow:snapdir': snapdir,
    'shadow:snapprefix': `^${SNAPSHOT_PREFIX}-[0-9a-f-]\\{36\\}$`,
    'shadow:delimiter': '_GMT',
    'shadow:format': '_GMT-%Y.%m.%d-%H.%M.%S',
  };
}
