/**
 * FsrvpService in its default (Samba-compatible) mode: every return code of every operation of
 * FSRVP.md §5.1 and §7, with the fakes recording what reached the backend and the publisher.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, CTX, HRESULT } from '../../src/fsrvp/codes.js';
import { ZERO_GUID } from '../../src/ndr/index.js';
import { ADMIN, Harness, hex, NETBIOS, setCalls, unc } from '../helpers/fsrvp.js';

const H = HRESULT;
const UNKNOWN = 'deadbeef-0000-0000-0000-000000000000';
let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});
afterEach(async () => {
  await h.cleanup();
});

const { prepare, commit, expose, recover, abort } = setCalls(() => h);

describe('GetSupportedVersion', () => {
  it('returns 1..1', async () => {
    expect(await h.svc.getSupportedVersion({}, ADMIN)).toEqual({ MinVersion: 1, MaxVersion: 1, result: 0 });
  });
});

describe('SetContext', () => {
  it('accepts the four contexts, each optionally with ATTR_AUTO_RECOVERY', async () => {
    for (const c of Object.values(CTX)) {
      for (const extra of [0, ATTR.AUTO_RECOVERY]) {
        expect(hex((await h.svc.setContext({ Context: c | extra }, ADMIN)).result)).toBe('ZERO');
      }
    }
    expect(h.svc.view().contextSet).toBe(true);
  });

  it('rejects ATTR_NO_AUTO_RECOVERY combinations and unknown values with E_INVALIDARG (Samba)', async () => {
    for (const c of [CTX.BACKUP | ATTR.NO_AUTO_RECOVERY, 0x1, 0x11, 0xffffffff, CTX.APP_ROLLBACK | ATTR.FILE_SHARE]) {
      expect(hex((await h.svc.setContext({ Context: c }, ADMIN)).result)).toBe('E_INVALIDARG');
    }
    expect(h.svc.view().contextSet).toBe(false);
  });

  it('always succeeds again, even in the middle of a sequence', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    expect((await h.svc.setContext({ Context: CTX.BACKUP }, ADMIN)).result).toBe(0);
    expect(h.status(setId)).toBe('Added');
  });
});

describe('StartShadowCopySet', () => {
  it('needs SetContext first (FSRVP_E_BAD_STATE) and returns a zero GUID on failure', async () => {
    const r = await h.svc.startShadowCopySet({ ClientShadowCopySetId: UNKNOWN }, ADMIN);
    expect(r).toEqual({ pShadowCopySetId: ZERO_GUID, result: H.FSRVP_E_BAD_STATE });
  });

  it('creates a Started set with a server GUID and the current context', async () => {
    await h.svc.setContext({ Context: CTX.NAS_ROLLBACK | ATTR.AUTO_RECOVERY }, ADMIN);
    const r = await h.svc.startShadowCopySet({ ClientShadowCopySetId: ZERO_GUID }, ADMIN);
    expect(r.result).toBe(0);
    expect(r.pShadowCopySetId).not.toBe(ZERO_GUID);
    const set = h.svc.view().sets[0]!;
    expect(set).toMatchObject({ id: r.pShadowCopySetId, status: 'Started', context: CTX.NAS_ROLLBACK | ATTR.AUTO_RECOVERY });
  });

  it('refuses while another set is Started, Added or Committed (FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS)', async () => {
    const { setId } = await h.start();
    expect((await h.start()).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    await h.add(setId, unc('fsrvp_share'));
    expect((await h.start()).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    await commit(setId);
    expect((await h.start()).result).toBe(H.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  });

  it('is not blocked by Exposed or Recovered sets (Samba)', async () => {
    const a = await h.exposed();
    expect((await h.start()).result).toBe(0);
    const b = h.svc.view().sets.find((s) => s.id !== a.setId)!;
    expect(b.status).toBe('Started');
    expect(h.status(a.setId)).toBe('Exposed');
  });
});

describe('AddToShadowCopySet', () => {
  it('returns E_INVALIDARG for an unknown set, before looking at the share', async () => {
    await h.start();
    const lookups = h.registry.calls.length;
    expect(await h.add(UNKNOWN, unc('fsrvp_share'))).toEqual({ pShadowCopyId: ZERO_GUID, result: H.E_INVALIDARG });
    expect(h.registry.calls.length).toBe(lookups);
  });

  it('maps malformed UNCs, unknown shares and foreign hosts to E_INVALIDARG', async () => {
    const { setId } = await h.start();
    for (const s of ['fsrvp_share', '\\\\127.0.0.1', '\\\\127.0.0.1\\fsrvp_share\\sub', '\\\\?\\C:\\x', unc('nosuch'), unc('fsrvp_share', '10.66.66.66')]) {
      expect(hex((await h.add(setId, s)).result), s).toBe('E_INVALIDARG');
    }
    // The foreign host never reached the registry.
    expect(h.registry.calls.map((c) => c.args[0])).not.toContain('NETLOGON');
    expect(h.status(setId)).toBe('Started');
  });

  it('accepts the host forms Samba clients use', async () => {
    const { setId } = await h.start();
    expect((await h.add(setId, `\\\\${NETBIOS}\\fsrvp_share\\`)).result).toBe(0);
    expect((await h.add(setId, '\\\\FsrvpSrv.Example.Test\\DATA')).result).toBe(0);
  });

  it('answers FSRVP_E_NOT_SUPPORTED when the backend policy refuses or no backend serves the path', async () => {
    const { setId } = await h.start();
    expect((await h.add(setId, unc('refused'))).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
    expect((await h.add(setId, unc('nowhere'))).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
  });

  it('refuses to shadow-copy a shadow copy share (FSRVP_E_NOT_SUPPORTED), without a registry lookup', async () => {
    const { setId, copyIds } = await h.exposed();
    await h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: setId }, ADMIN);
    const b = await h.start();
    const lookups = h.registry.calls.length;
    expect((await h.add(b.setId, unc(`fsrvp_share@{${copyIds[0]}}`))).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
    expect((await h.svc.isPathSupported({ ShareName: unc(`data@{${copyIds[0]}}$`) }, ADMIN)).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
    expect(h.registry.calls.length).toBe(lookups);
  });

  it('maps the same share twice to FSRVP_E_OBJECT_ALREADY_EXISTS, in any spelling', async () => {
    const { setId } = await h.start();
    expect((await h.add(setId, unc('fsrvp_share'))).result).toBe(0);
    for (const s of [unc('fsrvp_share'), unc('FSRVP_SHARE', NETBIOS, true)]) {
      expect((await h.add(setId, s)).result).toBe(H.FSRVP_E_OBJECT_ALREADY_EXISTS);
    }
    // A duplicate re-arms the short timer.
    expect(h.svc.view().timer).toMatchObject({ length: 'short', setId });
  });

  it('maps a different share on an already-added volume to the same shadow copy', async () => {
    const { setId } = await h.start();
    const a = await h.add(setId, unc('fsrvp_share'));
    const b = await h.add(setId, unc('other'));
    const c = await h.add(setId, unc('data'));
    expect(b).toEqual({ pShadowCopyId: a.pShadowCopyId, result: 0 });
    expect(c.pShadowCopyId).not.toBe(a.pShadowCopyId);
    const set = h.svc.view().sets[0]!;
    expect(set.status).toBe('Added');
    expect(set.copies.map((x) => x.mappings.map((m) => m.share.name))).toEqual([['fsrvp_share', 'other'], ['data']]);
    expect(h.svc.view().timer).toMatchObject({ length: 'long', setId });
  });

  it('refuses Add once the set is committed (FSRVP_E_BAD_STATE)', async () => {
    const { setId } = await h.committed();
    expect((await h.add(setId, unc('data'))).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('returns an error for an aborted set (smbtorture sc_set_abort)', async () => {
    const { setId } = await h.start();
    expect((await abort(setId)).result).toBe(0);
    expect((await h.add(setId, unc('fsrvp_share'))).result).toBe(H.E_INVALIDARG);
  });
});

describe('PrepareShadowCopySet', () => {
  it('needs an Added set', async () => {
    expect((await prepare(UNKNOWN)).result).toBe(H.E_INVALIDARG);
    const { setId } = await h.start();
    expect((await prepare(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
    await h.add(setId, unc('fsrvp_share'));
    expect((await prepare(setId)).result).toBe(0);
    expect(h.status(setId)).toBe('Added');
    expect(h.svc.view().timer).toMatchObject({ length: 'long' });
    await commit(setId);
    expect((await prepare(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('re-checks the shares and answers FSRVP_E_NOT_SUPPORTED if one became unacceptable', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    h.backend.refusals.set('/srv/vol1/share', 'a mount point appeared');
    expect((await prepare(setId)).result).toBe(H.FSRVP_E_NOT_SUPPORTED);
    expect(h.svc.view().timer).toMatchObject({ length: 'short' });
  });
});

describe('CommitShadowCopySet', () => {
  it('needs an Added set', async () => {
    expect((await commit(UNKNOWN)).result).toBe(H.E_INVALIDARG);
    const { setId } = await h.start();
    expect((await commit(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('takes one read-only snapshot per volume', async () => {
    const { setId, copyIds } = await h.committed([unc('fsrvp_share'), unc('other'), unc('data')]);
    expect(h.backend.count('create')).toBe(2);
    expect([...h.backend.snapshots.values()].map((s) => [s.volumeId, s.writable])).toEqual([['vol1', false], ['vol2', false]]);
    const set = h.svc.view().sets[0]!;
    expect(set.status).toBe('Committed');
    expect(set.copies.map((c) => c.id)).toEqual([copyIds[0], copyIds[2]]);
    expect(set.copies.every((c) => c.snapshot !== null)).toBe(true);
    expect((await commit(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('takes writable snapshots when the context has ATTR_AUTO_RECOVERY', async () => {
    await h.committed([unc('fsrvp_share')], CTX.FILE_SHARE_BACKUP | ATTR.AUTO_RECOVERY);
    expect([...h.backend.snapshots.values()][0]!.writable).toBe(true);
  });

  it('rolls back to Added and deletes the snapshots it took when a backend fails (E_FAIL)', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    await h.add(setId, unc('data'));
    h.backend.failures.create = (v: { id: string }) => (v.id === 'vol2' ? new Error('disk full') : undefined);
    expect((await commit(setId)).result).toBe(H.E_FAIL);
    expect(h.status(setId)).toBe('Added');
    expect(h.backend.snapshots.size).toBe(0);
    expect(h.backend.count('delete')).toBe(1);
    delete h.backend.failures.create;
    expect((await commit(setId)).result).toBe(0);
  });

  it('carries an HRESULT from the error when there is one', async () => {
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    h.backend.failures.create = Object.assign(new Error('no space'), { hresult: H.E_OUTOFMEMORY });
    expect((await commit(setId)).result).toBe(H.E_OUTOFMEMORY);
  });
});

describe('ExposeShadowCopySet', () => {
  it('needs a Committed set', async () => {
    expect((await expose(UNKNOWN)).result).toBe(H.E_INVALIDARG);
    const { setId } = await h.start();
    await h.add(setId, unc('fsrvp_share'));
    expect((await expose(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('publishes each mapping read-only at its place in the snapshot', async () => {
    const { setId, copyIds } = await h.exposed([unc('fsrvp_share'), unc('other'), unc('data')]);
    expect(h.status(setId)).toBe('Exposed');
    const snaps = [...h.backend.snapshots.values()];
    const byName = Object.fromEntries([...h.publisher.shares].map(([n, r]) => [n, r]));
    expect(Object.keys(byName).sort()).toEqual([
      `data@{${copyIds[2]}}`, `fsrvp_share@{${copyIds[0]}}`, `other@{${copyIds[0]}}`,
    ].sort());
    const main = byName[`fsrvp_share@{${copyIds[0]}}`]!;
    expect(main.path).toBe(`${snaps[0]!.path}/share`);
    expect(main.readOnly).toBe(true);
    expect(main.base.name).toBe('fsrvp_share');
    expect(main.comment).toMatch(/^Shadow copy of fsrvp_share taken \d{4}-\d\d-\d\dT/);
    expect(byName[`data@{${copyIds[2]}}`]!.path).toBe(snaps[1]!.path);
    expect((await expose(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
  });

  it('publishes writable shares under ATTR_AUTO_RECOVERY', async () => {
    await h.exposed([unc('fsrvp_share')], CTX.BACKUP | ATTR.AUTO_RECOVERY);
    expect([...h.publisher.shares.values()][0]!.readOnly).toBe(false);
  });

  it('unpublishes what it published when a later publish fails, and stays Committed', async () => {
    const { setId } = await h.committed([unc('fsrvp_share'), unc('data')]);
    h.publisher.failures.publish = (r: { name: string }) => (r.name.startsWith('data') ? new Error('net conf failed') : undefined);
    expect((await expose(setId)).result).toBe(H.E_FAIL);
    expect(h.publisher.shares.size).toBe(0);
    expect(h.status(setId)).toBe('Committed');
    delete h.publisher.failures.publish;
    expect((await expose(setId)).result).toBe(0);
    expect(h.publisher.shares.size).toBe(2);
  });

  it('names hidden shares with a trailing $ whenever the share ends in $ (Samba)', async () => {
    const { copyIds } = await h.exposed([unc('hidden$')]);
    expect([...h.publisher.shares.keys()]).toEqual([`hidden$@{${copyIds[0]}}$`]);
  });
});

describe('RecoveryCompleteShadowCopySet', () => {
  it('needs an Exposed set, then clears the context', async () => {
    expect((await recover(UNKNOWN)).result).toBe(H.E_INVALIDARG);
    const { setId } = await h.committed();
    expect((await recover(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
    await expose(setId);
    expect((await recover(setId)).result).toBe(0);
    expect(h.status(setId)).toBe('Recovered');
    expect(h.svc.view()).toMatchObject({ contextSet: false, currentContext: 0, timer: undefined });
    expect((await recover(setId)).result).toBe(H.FSRVP_E_BAD_STATE);
    expect(h.backend.count('setReadOnly')).toBe(0);
  });

  it('seals snapshot and shares read-only under ATTR_AUTO_RECOVERY', async () => {
    const { setId, copyIds } = await h.exposed([unc('fsrvp_share'), unc('other')], CTX.BACKUP | ATTR.AUTO_RECOVERY);
    expect((await recover(setId)).result).toBe(0);
    expect(h.backend.count('setReadOnly')).toBe(1);
    expect([...h.backend.snapshots.values()][0]!.writable).toBe(false);
    expect(h.svc.view().sets[0]!.copies[0]!.snapshot!.writable).toBe(false);
    expect(h.publisher.shares.get(`fsrvp_share@{${copyIds[0]}}`)!.readOnly).toBe(true);
    expect(h.publisher.shares.get(`other@{${copyIds[0]}}`)!.readOnly).toBe(true);
  });

  it('answers E_FAIL and stays Exposed when sealing fails', async () => {
    const { setId } = await h.exposed([unc('fsrvp_share')], CTX.BACKUP | ATTR.AUTO_RECOVERY);
    h.backend.failures.setReadOnly = new Error('EROFS');
    expect((await recover(setId)).result).toBe(H.E_FAIL);
    expect(h.status(setId)).toBe('Exposed');
  });
});

describe('AbortShadowCopySet', () => {
  it('answers E_INVALIDARG for an unknown or zero set', async () => {
    expect((await abort(UNKNOWN)).result).toBe(H.E_INVALIDARG);
    expect((await abort(ZERO_GUID)).result).toBe(H.E_INVALIDARG);
  });

  it('removes Started and Added sets', async () => {
    let { setId } = await h.start();
    expect((await abort(setId)).result).toBe(0);
    expect(h.status(setId)).toBeUndefined();
    ({ setId } = await h.start());
    await h.add(setId, unc('fsrvp_share'));
    expect((await abort(setId)).result).toBe(0);
    expect(h.svc.view().sets).toEqual([]);
    // Samba keeps the context.
    expect(h.svc.view().contextSet).toBe(true);
  });

  it('is a successful no-op for Committed, Exposed and Recovered sets (Samba)', async () => {
    const c = await h.committed();
    expect((await abort(c.setId)).result).toBe(0);
    expect(h.status(c.setId)).toBe('Committed');
    await expose(c.setId);
    expect((await abort(c.setId)).result).toBe(0);
    expect(h.status(c.setId)).toBe('Exposed');
    await recover(c.setId);
    expect((await abort(c.setId)).result).toBe(0);
    expect(h.status(c.setId)).toBe('Recovered');
    expect(h.backend.snapshots.size).toBe(1);
    expect(h.publisher.shares.size).toBe(1);
  });
});

describe('IsPathSupported', () => {
  it('answers TRUE with the configured owner name, never the UNC host', async () => {
    for (const host of ['127.0.0.1', NETBIOS, 'fsrvpsrv.example.test', '192.0.2.10']) {
      expect(await h.svc.isPathSupported({ ShareName: unc('fsrvp_share', host, true) }, ADMIN))
        .toEqual({ SupportedByThisProvider: true, OwnerMachineName: NETBIOS, result: 0 });
    }
  });

  it('uses ownerMachineName from configuration when set', async () => {
    await h.restart({ ownerMachineName: 'fileserver.example.test' });
    expect((await h.svc.isPathSupported({ ShareName: unc('data') }, ADMIN)).OwnerMachineName).toBe('fileserver.example.test');
  });

  it('accepts any host with acceptAnyHost (Samba), still without looking the host up', async () => {
    await h.restart({ acceptAnyHost: true });
    const r = await h.svc.isPathSupported({ ShareName: '\\\\10.66.66.66\\fsrvp_share' }, ADMIN);
    expect(r).toEqual({ SupportedByThisProvider: true, OwnerMachineName: NETBIOS, result: 0 });
    expect(h.registry.calls.at(-1)).toEqual({ method: 'lookup', args: ['fsrvp_share'] });
  });

  it('maps unknown shares and foreign hosts to E_INVALIDARG and refusals to FSRVP_E_NOT_SUPPORTED', async () => {
    const fail = (result: number) => ({ SupportedByThisProvider: false, OwnerMachineName: null, result });
    expect(await h.svc.isPathSupported({ ShareName: unc('nosuch') }, ADMIN)).toEqual(fail(H.E_INVALIDARG));
    expect(await h.svc.isPathSupported({ ShareName: '\\\\10.66.66.66\\NETLOGON' }, ADMIN)).toEqual(fail(H.E_INVALIDARG));
    expect(await h.svc.isPathSupported({ ShareName: '//127.0.0.1/data' }, ADMIN)).toEqual(fail(H.E_INVALIDARG));
    expect(await h.svc.isPathSupported({ ShareName: unc('refused') }, ADMIN)).toEqual(fail(H.FSRVP_E_NOT_SUPPORTED));
    expect(await h.svc.isPathSupported({ ShareName: unc('nowhere') }, ADMIN)).toEqual(fail(H.FSRVP_E_NOT_SUPPORTED));
  });
});
