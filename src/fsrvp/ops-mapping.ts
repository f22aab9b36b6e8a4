/**
 * GetShareMapping and DeleteShareMapping (FSRVP.md §7, §8).
 *
 * A mapping is found by the canonical share name in the request's UNC, whatever host form the
 * client uses: smbtorture passes the ShareNameUNC that GetShareMapping returned (NetBIOS host)
 * to DeleteShareMapping, although it added the share with an IP host.
 */
import { ZERO_GUID } from '../ndr/index.js';
import type { DeleteShareMapping, GetShareMapping, RequestOf, ResponseOf } from './idl.js';
import { HRESULT } from './codes.js';
import { collectPending, discardSnapshots, unpublish } from './cleanup.js';
import { FsrvpError, type ServiceCore } from './core.js';
import { parseLocalUnc } from './resolve.js';
import type { Change } from './store.js';
import type { ShadowCopyState, ShareMappingState } from './state.js';

type MappingResponse = ResponseOf<typeof GetShareMapping>;

function findMapping(core: ServiceCore, copy: ShadowCopyState, unc: string):
  { kind: 'ok'; mapping: ShareMappingState } | { kind: 'malformed' | 'missing' } {
  const p = parseLocalUnc(core, unc);
  if (p.kind !== 'ok') return { kind: p.kind };
  const key = p.unc.share.toLowerCase();
  const mapping = copy.mappings.find((m) => m.share.name.toLowerCase() === key);
  return mapping ? { kind: 'ok', mapping } : { kind: 'missing' };
}

/** The failure shape Samba marshals: the union's discriminant is the requested level; level 1 has a NULL arm. */
export function shareMappingFailure(level: number, result: number): MappingResponse {
  return { ShareMapping: level === 1 ? { tag: 1, value: null } : { tag: level }, result };
}

export async function getShareMapping(
  core: ServiceCore, req: RequestOf<typeof GetShareMapping>,
): Promise<MappingResponse> {
  const level = req.Level >>> 0;
  const fail = (result: number): MappingResponse => shareMappingFailure(level, result);
  // SPEC checks the level first, Samba last.
  if (core.strict && level !== 1) return fail(HRESULT.E_INVALIDARG);
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return fail(core.cfg.policy.setNotFound);
  const ready = core.strict ? set.status === 'Exposed' : set.status === 'Exposed' || set.status === 'Recovered';
  if (!ready) return fail(core.cfg.policy.notExposed);
  const copy = set.copies.find((c) => c.id === req.ShadowCopyId.toLowerCase());
  if (!copy) return fail(HRESULT.E_INVALIDARG);
  const found = findMapping(core, copy, req.ShareName);
  if (found.kind !== 'ok') return fail(HRESULT.E_INVALIDARG);
  if (level !== 1) return fail(HRESULT.E_INVALIDARG);
  const m = found.mapping;
  const host = core.cfg.netbiosName;
  core.timer.arm('long', set.id);
  return {
    ShareMapping: {
      tag: 1,
      value: {
        ShadowCopySetId: set.id,
        ShadowCopyId: copy.id,
        // Samba rebuilds the UNC from its NetBIOS name; SPEC returns MappedShare.ShareName.
        ShareNameUNC: core.strict ? m.shareNameUnc : `\\\\${host}\\${m.share.name}`,
        // Samba returns the bare share name (smbtorture tree-connects to it); SPEC says UNC.
        ShadowCopyShareName: m.exposed ? (core.strict ? `\\\\${host}\\${m.exposedName}` : m.exposedName) : null,
        CreationTimestamp: BigInt(copy.creationTimestamp),
      },
    },
    result: HRESULT.ZERO,
  };
}

export async function deleteShareMapping(
  core: ServiceCore, req: RequestOf<typeof DeleteShareMapping>,
): Promise<ResponseOf<typeof DeleteShareMapping>> {
  const policy = core.cfg.policy;
  if (core.strict && (req.ShadowCopySetId === ZERO_GUID || req.ShadowCopyId === ZERO_GUID)) {
    return { result: HRESULT.E_INVALIDARG };
  }
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: HRESULT.FSRVP_E_OBJECT_NOT_FOUND };
  if (set.status !== 'Exposed' && set.status !== 'Recovered') return { result: HRESULT.FSRVP_E_BAD_STATE };
  const copy = set.copies.find((c) => c.id === req.ShadowCopyId.toLowerCase());
  if (!copy) return { result: policy.deleteItemNotFound };
  const found = findMapping(core, copy, req.ShareName);
  if (found.kind !== 'ok') return { result: found.kind === 'malformed' ? HRESULT.E_INVALIDARG : policy.deleteItemNotFound };
  const m = found.mapping;

  // The share goes first: if that fails nothing has changed and the client may retry.
  if (m.exposed && !(await unpublish(core, m.exposedName))) {
    throw new FsrvpError(HRESULT.E_FAIL, `could not unpublish ${m.exposedName}`);
  }
  const remaining = copy.mappings.filter((x) => x !== m);
  const changes: Change[] = [];
  let doomed = null;
  if (remaining.length > 0) {
    const copies = set.copies.map((c) => (c === copy ? { ...c, mappings: remaining } : c));
    changes.push({ t: 'set', set: { ...set, copies } });
  } else {
    const copies = set.copies.filter((c) => c !== copy);
    changes.push(copies.length > 0 ? { t: 'set', set: { ...set, copies } } : { t: 'del', id: set.id });
    if (copy.snapshot && core.cfg.retainSnapshots) {
      changes.push({
        t: 'retain',
        r: {
          snapshot: copy.snapshot,
          volume: copy.volume,
          setId: set.id,
          shadowCopyId: copy.id,
          shares: copy.mappings.map((x) => x.share.name),
          retainedAt: core.now(),
        },
      });
    } else {
      doomed = copy.snapshot;
    }
  }
  // State before snapshot: a crash in between leaves an orphan that reconciliation deletes.
  await core.commitForced(changes);
  if (doomed) await discardSnapshots(core, [{ snapshot: doomed, volume: copy.volume }]);
  await collectPending(core);
  return { result: HRESULT.ZERO };
}
