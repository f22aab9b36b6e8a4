/**
 * FsrvpService in its default (Samba-compatible) mode, continued from fsrvp-service.test.ts:
 * IsPathShadowCopied, GetShareMapping, DeleteShareMapping, smbtorture's create/delete sequence,
 * and a journal that cannot be written.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { ZERO_GUID } from '../../src/ndr/index.js';
import { msFromFiletime } from '../../src/fsrvp/state.js';
import { ADMIN, Harness, NETBIOS, setCalls, unc } from '../helpers/fsrvp.js';

const H = HRESULT;
const UNKNOWN = 'deadbeef-0000-0000-0000-000000000000';
let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});
afterEach(async () => {
  await h.cleanup();
});

const { prepare, commit, expose, recover, getMap, del } = setCalls(() => h);

describe('IsPathShadowCopied', () => {
  const copied = (s: string) => h.svc.isPathShadowCopied({ ShareName: s }, ADMIN);

  it('is TRUE once a Committed/Exposed/Recovered set holds a copy of the same volume', async () => {
    expect(await copied(unc('fsrvp_share'))).toEqual({ ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result: 0 });
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    expect((await copied(unc('fsrvp_share'))).ShadowCopyPresent).toBe(false);
    await commit(setId);
    expect((await copied(unc('fsrvp_share'))).ShadowCopyPresent).toBe(true);
    expect((await copied(unc('other'))).ShadowCopyPresent).toBe(true);
    expect((await copied(unc('data'))).ShadowCopyPresent).toBe(false);
    await expose(setId);
    await recover(setId);
    expect((await copied(unc('fsrvp_share'))).ShadowCopyPresent).toBe(true);
  });

  it('maps unknown shares and foreign hosts to E_INVALIDARG; unsupported shares are simply FALSE', async () => {
    expect((await copied(unc('nosuch'))).result).toBe(H.E_INVALIDARG);
    expect((await copied('\\\\10.66.66.66\\SYSVOL')).result).toBe(H.E_INVALIDARG);
    expect(await copied(unc('nowhere'))).toEqual({ ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result: 0 });
  });
});

describe('GetShareMapping', () => {
  it('answers 0x80042311 before Expose and marshals a level-1 NULL arm (Samba)', async () => {
    expect(await getMap(UNKNOWN, UNKNOWN, unc('fsrvp_share'))).toEqual({ ShareMapping: { tag: 1, value: null }, result: H.E_INVALIDARG });
    const { setId } = await h.start();
    expect((await getMap(UNKNOWN, setId, unc('fsrvp_share'))).result).toBe(H.VSS_E_INVALID_XML_DOCUMENT);
    const { pShadowCopyId } = await h.add(setId, unc('fsrvp_share'));
    expect((await getMap(pShadowCopyId, setId, unc('fsrvp_share'))).result).toBe(H.VSS_E_INVALID_XML_DOCUMENT);
    await commit(setId);
    // Level is checked last: a bad level on a committed set still gets the state error.
    expect(await getMap(pShadowCopyId, setId, unc('fsrvp_share'), 2)).toEqual({ ShareMapping: { tag: 2 }, result: H.VSS_E_INVALID_XML_DOCUMENT });
  });

  it('returns the mapping of an Exposed or Recovered set, as Samba fills it', async () => {
    const { setId, copyIds } = await h.exposed([unc('fsrvp_share', '127.0.0.1', true)]);
    const r = await getMap(copyIds[0]!, setId, unc('fsrvp_share'));
    expect(r.result).toBe(0);
    expect(r.ShareMapping.tag).toBe(1);
    const v = r.ShareMapping.value as Exclude<typeof r.ShareMapping.value, null | undefined>;
    expect(v).toMatchObject({
      ShadowCopySetId: setId,
      ShadowCopyId: copyIds[0],
      ShareNameUNC: `\\\\${NETBIOS}\\fsrvp_share`,
      ShadowCopyShareName: `fsrvp_share@{${copyIds[0]}}`,
    });
    const snap = [...h.backend.snapshots.values()][0]!;
    expect(msFromFiletime(v.CreationTimestamp as bigint)).toBe(snap.createdAt);
    expect(h.svc.view().timer).toMatchObject({ length: 'long', setId });
    await recover(setId);
    expect((await getMap(copyIds[0]!, setId, unc('FSRVP_SHARE', NETBIOS, true))).result).toBe(0);
  });

  it('answers E_INVALIDARG for an unknown copy, mapping, malformed UNC or level', async () => {
    const { setId, copyIds } = await h.exposed([unc('fsrvp_share')]);
    const copy = copyIds[0]!;
    expect((await getMap(UNKNOWN, setId, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
    expect((await getMap(copy, setId, unc('other'))).result).toBe(H.E_INVALIDARG);
    expect((await getMap(copy, setId, unc('fsrvp_share', '10.66.66.66'))).result).toBe(H.E_INVALIDARG);
    expect((await getMap(copy, setId, 'fsrvp_share')).result).toBe(H.E_INVALIDARG);
    expect(await getMap(copy, setId, unc('fsrvp_share'), 0)).toEqual({ ShareMapping: { tag: 0 }, result: H.E_INVALIDARG });
  });
});

describe('DeleteShareMapping', () => {
  it('answers FSRVP_E_OBJECT_NOT_FOUND for an unknown set, E_INVALIDARG for an unknown copy or mapping (smbtorture bad_id)', async () => {
    const { setId, copyIds } = await h.exposed();
    expect((await del(UNKNOWN, copyIds[0]!, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await del(setId, UNKNOWN, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
    expect((await del(setId, copyIds[0]!, unc('data'))).result).toBe(H.E_INVALIDARG);
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share', '10.66.66.66'))).result).toBe(H.E_INVALIDARG);
    expect((await del(setId, copyIds[0]!, '\\\\.\\pipe\\x')).result).toBe(H.E_INVALIDARG);
    expect(h.publisher.shares.size).toBe(1);
  });

  it('needs an Exposed or Recovered set', async () => {
    const { setId, copyIds } = await h.committed();
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('accepts the ShareNameUNC GetShareMapping returned and removes share, snapshot and set', async () => {
    const { setId, copyIds } = await h.exposed();
    const m = await getMap(copyIds[0]!, setId, unc('fsrvp_share'));
    const back = (m.ShareMapping.value as { ShareNameUNC: string }).ShareNameUNC;
    expect((await del(setId, copyIds[0]!, back)).result).toBe(0);
    expect(h.publisher.shares.size).toBe(0);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    expect((await del(setId, copyIds[0]!, back)).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
  });

  it('keeps a shared snapshot until its last mapping goes', async () => {
    const { setId, copyIds } = await h.exposed([unc('fsrvp_share'), unc('other'), unc('data')]);
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(0);
    expect(h.backend.snapshots.size).toBe(2);
    expect((await del(setId, copyIds[0]!, unc('other'))).result).toBe(0);
    expect([...h.backend.snapshots.values()].map((s) => s.volumeId)).toEqual(['vol2']);
    expect(h.svc.view().sets[0]!.copies.map((c) => c.id)).toEqual([copyIds[2]]);
    expect((await del(setId, copyIds[2]!, unc('data'))).result).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.publisher.shares.size).toBe(0);
  });

  it('answers E_FAIL and changes nothing when unpublishing fails', async () => {
    const { setId, copyIds } = await h.exposed();
    h.publisher.failures.unpublish = new Error('busy');
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(H.E_FAIL);
    expect(h.status(setId)).toBe('Exposed');
    expect(h.backend.snapshots.size).toBe(1);
  });

  it('keeps the snapshot as retained when retention is configured, until released', async () => {
    await h.restart({ retainSnapshots: true });
    const { setId, copyIds } = await h.exposed();
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(0);
    expect(h.publisher.shares.size).toBe(0);
    expect(h.backend.snapshots.size).toBe(1);
    const [r] = h.svc.view().retained;
    expect(r).toMatchObject({ setId, shadowCopyId: copyIds[0], shares: ['fsrvp_share'] });
    await h.restart({ retainSnapshots: true });
    expect(h.svc.view().retained).toHaveLength(1);
    expect(h.backend.snapshots.size).toBe(1);
    expect(await h.svc.releaseRetained(r!.snapshot.backend, r!.snapshot.name)).toBe(true);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.svc.view().retained).toEqual([]);
    expect(await h.svc.releaseRetained(r!.snapshot.backend, r!.snapshot.name)).toBe(false);
  });
});

describe('the smbtorture create/delete sequence (test_fsrvp_sc_create + sc_delete)', () => {
  it('runs end to end with an IP host and no trailing backslash', async () => {
    const share = unc('fsrvp_share');
    expect((await h.svc.isPathSupported({ ShareName: share }, ADMIN)).result).toBe(0);
    expect((await h.svc.getSupportedVersion({}, ADMIN)).result).toBe(0);
    const { setId } = await h.start();
    const a = await h.add(setId, share);
    expect(a.result).toBe(0);
    expect((await h.add(setId, share)).result).toBe(H.FSRVP_E_OBJECT_ALREADY_EXISTS);
    expect((await prepare(setId)).result).toBe(0);
    expect((await commit(setId)).result).toBe(0);
    expect((await expose(setId)).result).toBe(0);
    const m = await getMap(a.pShadowCopyId, setId, share);
    expect(m.result).toBe(0);
    const v = m.ShareMapping.value as { ShadowCopySetId: string; ShadowCopyId: string; ShareNameUNC: string };
    expect([v.ShadowCopySetId, v.ShadowCopyId]).toEqual([setId, a.pShadowCopyId]);
    expect((await del(setId, a.pShadowCopyId, v.ShareNameUNC)).result).toBe(0);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
  });
});

describe('when the journal cannot be written', () => {
  /** Makes the next journal writes fail (the service's store is private; tests reach in). */
  function failWrites(count: number): void {
    const store = (h.svc as unknown as { core: { store: { apply: (c: unknown) => Promise<void> } } }).core.store;
    const real = store.apply.bind(store);
    let left = count;
    store.apply = (c) => (left-- > 0 ? Promise.reject(new Error('ENOSPC')) : real(c));
  }

  it('Start answers E_FAIL and creates nothing', async () => {
    await h.svc.setContext({ Context: 0 }, ADMIN);
    failWrites(1);
    expect(await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN)).toEqual({ pShadowCopySetId: ZERO_GUID, result: H.E_FAIL });
    expect(h.svc.view().sets).toEqual([]);
  });

  it('Commit answers E_FAIL and deletes the snapshots it took', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    const store = (h.svc as unknown as { core: { store: { apply: (c: Array<{ t: string; set?: { status: string } }>) => Promise<void> } } }).core.store;
    const real = store.apply.bind(store);
    store.apply = (c) => (c[0]?.set?.status === 'Committed' ? Promise.reject(new Error('EIO')) : real(c));
    expect((await commit(setId)).result).toBe(H.E_FAIL);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.status(setId)).toBe('Added');
  });

  it('Expose answers E_FAIL and unpublishes', async () => {
    const { setId } = await h.committed([unc('fsrvp_share'), unc('data')]);
    failWrites(1);
    expect((await expose(setId)).result).toBe(H.E_FAIL);
    expect(h.publisher.shares.size).toBe(0);
    expect(h.status(setId)).toBe('Committed');
  });

  it('DeleteShareMapping still removes share and snapshot, and the journal heals on the next write', async () => {
    const { setId, copyIds } = await h.exposed();
    failWrites(1);
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
    expect(h.events.some((e) => e.kind === 'cleanup-failed' && e.reason === 'ENOSPC')).toBe(true);
    await h.start();
    await h.restart();
    expect(h.svc.view().sets.map((s) => s.status)).toEqual(['Started']);
    expect(h.svc.reconcileReport.repairs).toEqual([]);
  });
});
