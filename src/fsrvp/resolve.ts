/**
 * From a client-supplied UNC to a local share, its backend and its volume. Only local
 * configuration is consulted (ECOSYSTEM.md §7): the UNC is parsed lexically, its host compared
 * with our own names, its share looked up in the share registry; backends see only the
 * configured absolute path of the share.
 */
import { isAbsolute, relative, sep } from 'node:path';
import createDebug from 'debug';
import type { SnapshotBackend, Volume } from '../storage/backend.js';
import type { Share } from '../shares/types.js';
import { errorText, type ServiceCore } from './core.js';
import { isExposedShareName, parseUnc, type ParsedUnc } from './unc.js';

const debug = createDebug('fsrvp:resolve');

export type Resolved =
  | {
    readonly kind: 'ok';
    readonly unc: ParsedUnc;
    readonly share: Share;
    readonly backend: SnapshotBackend;
    readonly volume: Volume;
    /** Share root relative to the volume root, '/'-separated, '' when equal. */
    readonly relPath: string;
  }
  | { readonly kind: 'malformed' | 'missing' | 'unsupported'; readonly reason: string };

/** Parses the UNC and checks its host; `missing` for a foreign host. */
export function parseLocalUnc(core: ServiceCore, text: string):
  { readonly kind: 'ok'; readonly unc: ParsedUnc } | { readonly kind: 'malformed' | 'missing'; readonly reason: string } {
  const p = parseUnc(text);
  if (!p.ok) return { kind: 'malformed', reason: p.reason };
  if (!core.cfg.acceptAnyHost && !core.names.has(p.unc.host)) {
    return { kind: 'missing', reason: `host ${JSON.stringify(p.unc.host)} is not a name of this server` };
  }
  return { kind: 'ok', unc: p.unc };
}

async function chooseBackend(core: ServiceCore, share: Share): Promise<SnapshotBackend | string> {
  if (share.backend !== undefined) {
    const b = core.backendNamed(share.backend);
    return b ?? `share ${share.name} asks for backend ${share.backend}, which is not configured`;
  }
  for (const b of core.backends) {
    try {
      if (await b.supports(share.path)) return b;
    } catch (e) {
      // A backend that cannot tell is not a candidate; the next one may be.
      debug('%s.supports(%s) failed: %s', b.name, share.path, errorText(e));
    }
  }
  return `no snapshot backend supports ${share.path}`;
}

/**
 * Resolves `text` to a snapshot-capable local share. `check` runs the backend's directory
 * policy too (Add, IsPathSupported), remembered per set (core.checkShare); IsPathShadowCopied
 * only needs the volume.
 */
export interface ResolveOptions {
  readonly check: boolean;
  /** The set the check is for (Add): its result is remembered for the set's Prepare. */
  readonly setId?: string;
}

export async function resolveShare(core: ServiceCore, text: string, opts: ResolveOptions): Promise<Resolved> {
  const r = await resolveLocalShare(core, text, opts);
  // Operators need to see why a share cannot be shadow-copied (ONTAP logs the offending path).
  if (r.kind === 'unsupported') core.emit({ kind: 'refused', share: text, reason: r.reason });
  return r;
}

async function resolveLocalShare(core: ServiceCore, text: string, opts: ResolveOptions): Promise<Resolved> {
  const p = parseLocalUnc(core, text);
  if (p.kind !== 'ok') return p;
  // A shadow copy share is not itself shadow-copied (it may be in the registry once published).
  if (isExposedShareName(p.unc.share)) return { kind: 'unsupported', reason: `${p.unc.share} is a shadow copy share` };
  const share = await core.registry.lookup(p.unc.share);
  if (!share) return { kind: 'missing', reason: `no share named ${JSON.stringify(p.unc.share)}` };
  const backend = await chooseBackend(core, share);
  if (typeof backend === 'string') return { kind: 'unsupported', reason: backend };
  try {
    if (opts.check) {
      const refusal = await core.checkShare(backend, share, opts.setId);
      if (refusal) return { kind: 'unsupported', reason: `${refusal.path}: ${refusal.reason}` };
    }
    const volume = await backend.volumeOf(share.path);
    const rel = relative(volume.root, share.path);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      return { kind: 'unsupported', reason: `share path ${share.path} is outside its volume ${volume.root}` };
    }
    return { kind: 'ok', unc: p.unc, share, backend, volume, relPath: rel.split(sep).join('/') };
  } catch (e) {
    return { kind: 'unsupported', reason: `${backend.name}: ${errorText(e)}` };
  }
}
