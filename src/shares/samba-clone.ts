/** How a snapshot share's registry definition is made from its base share's (samba.ts). */
import { normalizeParam, type SmbConfSection } from './smbconf.js';
import type { PublishRequest } from './types.js';

/** Names of snapshot shares: `<base>@{<guid>}`, plus `$` for hidden base shares. */
export const SNAPSHOT_SHARE_RE = /@\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}\$?$/i;

/** The SD Samba uses for a share without a stored one (Everyone: full control). */
export const DEFAULT_SHARE_SDDL = 'D:(A;;0x001f01ff;;;WD)';

/** Parameters the clone sets itself (normalised names). */
const OVERRIDDEN = new Set(['path', 'comment', 'readonly', 'writeable', 'writable', 'writeok']);
/** Parameters dropped from read-only clones: they would let listed users write. */
const WRITE_GRANTING = new Set(['writelist']);

/** The clone's parameters: the base's, with path/comment/read only replaced (and no `write list` when read-only). */
export function cloneDefinition(base: SmbConfSection, req: Pick<PublishRequest, 'name' | 'path' | 'readOnly' | 'comment'>): SmbConfSection {
  const params: Array<[string, string]> = [
    ['path', req.path],
    ['comment', req.comment],
    ['read only', req.readOnly ? 'yes' : 'no'],
  ];
  for (const [k, v] of base.params) {
    const n = normalizeParam(k);
    if (OVERRIDDEN.has(n) || (req.readOnly && WRITE_GRANTING.has(n))) continue;
    params.push([k, v]);
  }
  return { name: req.name, params };
}
