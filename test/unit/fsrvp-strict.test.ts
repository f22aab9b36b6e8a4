/**
 * FsrvpService in `strict` mode: the answers that follow MS-FSRVP where it and Samba differ
 * (FSRVP.md §5.1, §7, §10). Everything not listed here behaves as in the default mode.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, CTX, HRESULT } from '../../src/fsrvp/codes.js';
import { ZERO_GUID } from '../../src/ndr/index.js';
import { ADMIN, callAs, Harness, hex, NETBIOS, unc } from '../helpers/fsrvp.js';

const H = HRESULT;
const UNKNOWN = 'deadbeef-0000-0000-0000-000000000000';
let h: Harness;

beforeEach(async () => {
  h = await Harness.create({ config: { mode: 'strict' } });
});
afterEach(async () => {
  await h.cleanup();
});

const commit = (id: string) => h.svc.commitShadowCopySet({ ShadowCopySetId: id, TimeOutInMilliseconds: 1000 }, ADMIN);
const expose = (id: string) => h.svc.exposeShadowCopySet({ ShadowCopySetId: id, TimeOutInMilliseconds: 1000 }, ADMIN);
const recover = (id: string) => h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: id }, ADMIN);
const abort = (id: string) => h.svc.abortShadowCopySet({ ShadowCopySetId: id }, ADMIN);
const getMap = (copy: string, set: string, share: string, level = 1) =>
  h.svc.getShareMapping({ ShadowCopyId: copy, ShadowCopySetId: set, ShareName: share, Level: level }, ADMIN);
const del = (set: string, copy: string, share: string) =>
  h.svc.deleteShareMapping({ ShadowCopySetId: set, ShadowCopyId: copy, ShareName: share }, ADMIN);

describe('strict SetContext', () => {
  it('answers FSRVP_E_UNSUPPORTED_CONTEXT and accepts ATTR_NO_AUTO_RECOVERY', async () => {
    expect(hex((await h.svc.setContext({ Context: 0x11 }, ADMIN)).result)).toBe('FSRVP_E_UNSUPPORTED_CONTEXT');
    expect(hex((await h.svc.setContext({ Context: ATTR.AUTO_RECOVERY | ATTR.NO_AUTO_RECOVERY }, ADMIN)).result))
      .toBe('FSRVP_E_UNSUPPORTED_CONTEXT');
    expect((await h.svc.setContext({ Context: CTX.NAS_ROLLBACK | ATTR.NO_AUTO_RECOVERY }, ADMIN)).result).toBe(0);
  });

  it('refuses a second client while a context is set', async () => {
    expect((await h.svc.setContext({ Context: 0 }, ADMIN)).result).toBe(0);
    const other = callAs({ ...ADMIN.caller, clientAddress: '127.0.0.2' });
    expect((await h.svc.setContext({ Context: 0 }, other)).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  });

  it('lets the same client restart, removing its unfinished set, up to the retry limit', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    await commit(setId);
    expect(h.backend.snapshots.size).toBe(1);
    // Retry 1..5 succeed and each removes the non-Recovered set; the 6th is refused.
    for (let i = 1; i <= 5; i++) expect((await h.svc.setContext({ Context: 0 }, ADMIN)).result, `retry ${i}`).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.backend.snapshots.size).toBe(0);
    expect((await h.svc.setContext({ Context: 0 }, ADMIN)).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    // The refused retry cleared the context; the next SetContext starts afresh.
    expect((await h.svc.setContext({ Context: 0 }, ADMIN)).result).toBe(0);
  });

  it('resets the retry count after a completed sequence', async () => {
    const ctx = () => h.svc.setContext({ Context: 0 }, ADMIN);
    for (let i = 0; i < 4; i++) expect((await ctx()).result).toBe(0); // set + 3 retries
    const s = await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN);
    await h.add(s.pShadowCopySetId, unc('data'));
    await commit(s.pShadowCopySetId);
    await expose(s.pShadowCopySetId);
    expect((await recover(s.pShadowCopySetId)).result).toBe(0); // clears ContextSet
    for (let i = 0; i < 6; i++) expect((await ctx()).result, `call ${i}`).toBe(0); // set + 5 retries
    expect((await ctx()).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    expect(h.status(s.pShadowCopySetId)).toBe('Recovered');
  });
});

describe('strict StartShadowCopySet', () => {
  it('rejects a zero client GUID with E_INVALIDARG', async () => {
    await h.svc.setContext({ Context: 0 }, ADMIN);
    expect(await h.svc.startShadowCopySet({ ClientShadowCopySetId: ZERO_GUID }, ADMIN)).toEqual({ pShadowCopySetId: ZERO_GUID, result: H.E_INVALIDARG });
  });

  it('is blocked by Exposed sets too (any set not Recovered)', async () => {
    const { setId } = await h.exposed();
    await h.svc.setContext({ Context: 0 }, callAs({ ...ADMIN.caller }));
    // SetContext from the same client removed the Exposed set (SPEC retry rule); build another.
    expect(h.status(setId)).toBeUndefined();
    const b = await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN);
    expect(b.result).toBe(0);
    await h.add(b.pShadowCopySetId, unc('fsrvp_share'));
    await commit(b.pShadowCopySetId);
    await expose(b.pShadowCopySetId);
    // No new SetContext: the context is still set; Start is blocked by the Exposed set.
    const c = await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN);
    expect(c.result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  });
});

describe('strict set-not-found answers', () => {
  it('answers FSRVP_E_SHADOWCOPYSET_ID_MISMATCH for an unknown set', async () => {
    await h.start();
    const t = { ShadowCopySetId: UNKNOWN, TimeOutInMilliseconds: 1000 };
    expect((await h.add(UNKNOWN, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await h.svc.prepareShadowCopySet(t, ADMIN)).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await h.svc.commitShadowCopySet(t, ADMIN)).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await h.svc.exposeShadowCopySet(t, ADMIN)).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await recover(UNKNOWN)).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await abort(UNKNOWN)).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await getMap(UNKNOWN, UNKNOWN, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    expect((await del(UNKNOWN, UNKNOWN, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
  });

  it('Abort and DeleteShareMapping reject zero GUIDs with E_INVALIDARG', async () => {
    expect((await abort(ZERO_GUID)).result).toBe(H.E_INVALIDARG);
    expect((await del(ZERO_GUID, UNKNOWN, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
    expect((await del(UNKNOWN, ZERO_GUID, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
  });
});

describe('strict AddToShadowCopySet', () => {
  it('answers FSRVP_E_OBJECT_NOT_FOUND for an unknown share or foreign host, checked before the set', async () => {
    const { setId } = await h.start();
    expect((await h.add(setId, unc('nosuch'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.add(setId, '\\\\10.66.66.66\\NETLOGON')).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.add(UNKNOWN, unc('nosuch'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.add(UNKNOWN, unc('refused'))).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
    expect((await h.add(setId, 'not a unc')).result).toBe(H.E_INVALIDARG);
  });

  it('rejects a second share on the same volume (SPEC), unless configured to join', async () => {
    const { setId } = await h.start();
    expect((await h.add(setId, unc('fsrvp_share'))).result).toBe(0);
    expect((await h.add(setId, unc('other'))).result).toBe(H.FSRVP_E_OBJECT_ALREADY_EXISTS);
    expect((await h.add(setId, unc('data'))).result).toBe(0);
    await h.restart({ mode: 'strict', sameVolume: 'join' });
    expect((await h.add(setId, unc('other'))).result).toBe(0);
  });

  it('names hidden shares with a trailing $ only when the UNC ended in $\\ (SPEC <9>)', async () => {
    const { setId } = await h.start();
    const a = await h.add(setId, unc('hidden$', '127.0.0.1', true));
    expect(h.svc.view().sets[0]!.copies[0]!.mappings[0]!.exposedName).toBe(`hidden$@{${a.pShadowCopyId}}$`);
    const b = await h.start();
    expect(b.result).toBe(0); // same client: the retry removed the first set
    const c = await h.add(b.setId, unc('hidden$'));
    expect(h.svc.view().sets[0]!.copies[0]!.mappings[0]!.exposedName).toBe(`hidden$@{${c.pShadowCopyId}}`);
  });

  it('keeps the Add-time CreationTimestamp through Commit', async () => {
    const { setId } = await h.start();
    const a = await h.add(setId, unc('fsrvp_share'));
    const before = h.svc.view().sets[0]!.copies[0]!.creationTimestamp;
    h.clock.advance(5000);
    await commit(setId);
    expect(h.svc.view().sets[0]!.copies[0]!.creationTimestamp).toBe(before);
    expect(a.result).toBe(0);
  });
});

describe('strict GetShareMapping', () => {
  it('checks the level first, answers FSRVP_E_BAD_STATE before Expose and after Recovery', async () => {
    expect(await getMap(UNKNOWN, UNKNOWN, unc('fsrvp_share'), 2)).toEqual({ ShareMapping: { tag: 2 }, result: H.E_INVALIDARG });
    const { setId, copyIds } = await h.committed();
    expect((await getMap(copyIds[0]!, setId, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_BAD_STATE);
    await expose(setId);
    const r = await getMap(copyIds[0]!, setId, unc('FSRVP_SHARE', NETBIOS));
    expect(r.result).toBe(0);
    expect(r.ShareMapping.value).toMatchObject({
      ShareNameUNC: unc('fsrvp_share'),
      ShadowCopyShareName: `\\\\${NETBIOS}\\fsrvp_share@{${copyIds[0]}}`,
    });
    await recover(setId);
    expect((await getMap(copyIds[0]!, setId, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_BAD_STATE);
  });
});

describe('strict AbortShadowCopySet', () => {
  it('aborts Committed and Exposed sets too, removing snapshots and shares, and clears the context', async () => {
    const a = await h.committed();
    expect((await abort(a.setId)).result).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.svc.view().contextSet).toBe(false);
    const b = await h.exposed();
    expect((await abort(b.setId)).result).toBe(0);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
  });
});

describe('strict Abort when a share will not unpublish (found by the model test)', () => {
  it('keeps the snapshot under the share, records both as pending, and finishes later', async () => {
    const { setId } = await h.exposed();
    h.publisher.failures.unpublish = new Error('smbd busy');
    expect((await abort(setId)).result).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    // The share is still published, so its snapshot must still exist; both are tracked.
    expect(h.publisher.shares.size).toBe(1);
    expect(h.backend.snapshots.size).toBe(1);
    expect(h.svc.view().pending.map((p) => p.kind).sort()).toEqual(['share', 'snapshot']);
    expect(await h.svc.collectPending()).toBe(2);
    delete h.publisher.failures.unpublish;
    // Persisted: a restart finishes the job.
    await h.restart({ mode: 'strict' });
    expect(h.svc.reconcileReport.repairs.map((r) => r.action)).toEqual(['finish-cleanup', 'finish-cleanup']);
    expect(h.svc.view().pending).toEqual([]);
    expect(h.publisher.shares.size + h.backend.snapshots.size).toBe(0);
  });

  it('retries pending cleanups on demand', async () => {
    const { setId } = await h.exposed();
    h.backend.failures.delete = new Error('EBUSY');
    expect((await abort(setId)).result).toBe(0);
    expect(h.svc.view().pending.map((p) => p.kind)).toEqual(['snapshot']);
    delete h.backend.failures.delete;
    expect(await h.svc.collectPending()).toBe(0);
    expect(h.backend.snapshots.size).toBe(0);
  });
});

describe('strict DeleteShareMapping', () => {
  it('answers FSRVP_E_OBJECT_NOT_FOUND for an unknown copy or mapping', async () => {
    const { setId, copyIds } = await h.exposed();
    expect((await del(setId, UNKNOWN, unc('fsrvp_share'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await del(setId, copyIds[0]!, unc('data'))).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await del(setId, copyIds[0]!, unc('fsrvp_share'))).result).toBe(0);
  });
});

describe('strict IsPathSupported / IsPathShadowCopied', () => {
  it('answers FSRVP_E_OBJECT_NOT_FOUND for unknown shares and foreign hosts', async () => {
    expect((await h.svc.isPathSupported({ ShareName: unc('nosuch') }, ADMIN)).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.svc.isPathSupported({ ShareName: '\\\\10.66.66.66\\NETLOGON' }, ADMIN)).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.svc.isPathShadowCopied({ ShareName: '\\\\10.66.66.66\\SYSVOL' }, ADMIN)).result).toBe(H.FSRVP_E_OBJECT_NOT_FOUND);
  });
});
