/**
 * The operations that take a share name: AddToShadowCopySet, IsPathSupported and
 * IsPathShadowCopied (FSRVP.md §7, §8).
 */
import { ZERO_GUID } from '../ndr/index.js';
import type {
  AddToShadowCopySet, IsPathShadowCopied, IsPathSupported, RequestOf, ResponseOf,
} from './idl.js';
import { HRESULT } from './codes.js';
import type { ServiceCore } from './core.js';
import { resolveShare, type Resolved } from './resolve.js';
import {
  filetimeFromMs, type ShadowCopySetState, type ShadowCopyState, type ShareMappingState,
} from './state.js';
import { exposedShareName } from './unc.js';

/** The HRESULT for a share that did not resolve. */
function resolveFailure(core: ServiceCore, r: Exclude<Resolved, { kind: 'ok' }>): number {
  switch (r.kind) {
    case 'malformed': return HRESULT.E_INVALIDARG;
    case 'missing': return core.cfg.policy.shareNotFound;
    case 'unsupported': return HRESULT.FSRVP_E_NOT_SUPPORTED;
  }
}

export async function addToShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof AddToShadowCopySet>,
): Promise<ResponseOf<typeof AddToShadowCopySet>> {
  const fail = (result: number): ResponseOf<typeof AddToShadowCopySet> => ({ pShadowCopyId: ZERO_GUID, result });
  const policy = core.cfg.policy;
  // Samba looks the set up first; SPEC resolves the share first.
  let set: ShadowCopySetState | undefined;
  if (!core.strict) {
    set = core.lookupSet(req.ShadowCopySetId);
    if (!set) return fail(policy.setNotFound);
  }
  const r = await resolveShare(core, req.ShareName, { check: true, setId: req.ShadowCopySetId });
  if (r.kind !== 'ok') return fail(resolveFailure(core, r));
  if (core.strict) {
    set = core.lookupSet(req.ShadowCopySetId);
    if (!set) return fail(policy.setNotFound);
  }
  if (!set) return fail(policy.setNotFound);
  if (set.status !== 'Started' && set.status !== 'Added') return fail(HRESULT.FSRVP_E_BAD_STATE);
  core.timer.stop(set.id);

  const shareKey = r.share.name.toLowerCase();
  const sameShare = set.copies.some((c) => c.mappings.some((m) => m.share.name.toLowerCase() === shareKey));
  const sameVolume = set.copies.find((c) => c.volume.backend === r.volume.backend && c.volume.id === r.volume.id);
  if (sameShare || (sameVolume && core.cfg.sameVolume === 'reject')) {
    core.timer.arm('short', set.id);
    return fail(HRESULT.FSRVP_E_OBJECT_ALREADY_EXISTS);
  }

  const copyId = sameVolume ? sameVolume.id : core.newGuid().toLowerCase();
  const mapping: ShareMappingState = {
    shareNameUnc: req.ShareName,
    share: { name: r.share.name, path: r.share.path, ...(r.share.backend !== undefined ? { backend: r.share.backend } : {}) },
    relPath: r.relPath,
    exposedName: exposedShareName(r.share.name, copyId, policy.dollarRule, r.unc.trailingSlash),
    exposed: false,
  };
  let copies: ShadowCopyState[];
  if (sameVolume) {
    copies = set.copies.map((c) => (c === sameVolume ? { ...c, mappings: [...c.mappings, mapping] } : c));
  } else {
    const copy: ShadowCopyState = {
      id: copyId,
      volume: { id: r.volume.id, root: r.volume.root, backend: r.volume.backend },
      creationTimestamp: filetimeFromMs(core.now()).toString(),
      snapshot: null,
      mappings: [mapping],
    };
    copies = [...set.copies, copy];
  }
  await core.putSet({ ...set, status: 'Added', copies });
  core.timer.arm('long', set.id);
  return { pShadowCopyId: copyId, result: HRESULT.ZERO };
}

export async function isPathSupported(
  core: ServiceCore, req: RequestOf<typeof IsPathSupported>,
): Promise<ResponseOf<typeof IsPathSupported>> {
  const r = await resolveShare(core, req.ShareName, { check: true });
  if (r.kind !== 'ok') return { SupportedByThisProvider: false, OwnerMachineName: null, result: resolveFailure(core, r) };
  // Always our own configured name, never the host from the request (ECOSYSTEM.md §7).
  return { SupportedByThisProvider: true, OwnerMachineName: core.cfg.ownerMachineName, result: HRESULT.ZERO };
}

export async function isPathShadowCopied(
  core: ServiceCore, req: RequestOf<typeof IsPathShadowCopied>,
): Promise<ResponseOf<typeof IsPathShadowCopied>> {
  const r = await resolveShare(core, req.ShareName, { check: false });
  if (r.kind === 'unsupported') return { ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result: HRESULT.ZERO };
  if (r.kind !== 'ok') return { ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result: resolveFailure(core, r) };
  let present = false;
  for (const set of core.state.sets.values()) {
    if (set.status !== 'Committed' && set.status !== 'Exposed' && set.status !== 'Recovered') continue;
    if (set.copies.some((c) => c.snapshot && c.volume.backend === r.volume.backend && c.volume.id === r.volume.id)) {
      present = true;
      break;
    }
  }
  return { ShadowCopyPresent: present, ShadowCopyCompatibility: 0, result: HRESULT.ZERO };
}
