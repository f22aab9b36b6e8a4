/**
 * Authorization: Samba's rule plus allow-lists, checked first in every operation, before any
 * share name is parsed or looked up (ECOSYSTEM.md §7), and the ShadowCoerce requests replayed.
 */
import dns from 'node:dns';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CallContext } from '../../src/dcerpc/interface.js';
import { compileAuthz } from '../../src/fsrvp/authz.js';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { IsPathShadowCopied, IsPathSupported } from '../../src/fsrvp/idl.js';
import { fsrvpInterface } from '../../src/fsrvp/interface.js';
import { decode, encode, ZERO_GUID } from '../../src/ndr/index.js';
import { ADMIN, ANONYMOUS, callAs, Harness, unc, USER } from '../helpers/fsrvp.js';
import { hex as bytes, toHex } from '../helpers/fixtures.js';

describe('compileAuthz', () => {
  const allow = compileAuthz();
  const who = (c: Partial<CallContext['caller']>) => allow({ source: 'npa', sids: [], ...c });

  it("follows Samba's rule: uid 0, Administrators, Backup Operators, SeBackupPrivilege", () => {
    expect(who({ uid: 0 })).toEqual({ allow: true, reason: 'uid 0' });
    expect(who({ sids: ['S-1-5-32-544'] }).allow).toBe(true);
    expect(who({ sids: ['s-1-5-32-551'] })).toEqual({ allow: true, reason: 'BUILTIN\\Backup Operators' });
    expect(who({ privilegeMask: 0x200n }).reason).toBe('SeBackupPrivilege');
    expect(who({ privilegeMask: 0x1ffn, uid: 1000, sids: ['S-1-5-32-545'] }).allow).toBe(false);
  });

  it('explains a denial', () => {
    const d = allow({ source: 'rpc-auth', sids: ['S-1-1-0'], uid: 1002, accountName: 'low', domainName: 'TEST', clientAddress: '127.0.0.1' });
    expect(d.allow).toBe(false);
    expect(d.reason).toBe('caller TEST\\low (rpc-auth, uid 1002, 1 SIDs from 127.0.0.1): not the root uid, not in '
      + 'BUILTIN\\Administrators or BUILTIN\\Backup Operators, no SeBackupPrivilege, no allow-lists configured');
  });

  it('adds allow-listed SIDs and accounts (DOMAIN\\name or any-domain name, case-insensitive)', () => {
    const a = compileAuthz({ allowSids: ['S-1-5-21-9-9-9-1105'], allowAccounts: ['EXAMPLE\\BACKUPHOST$', 'svc-backup'] });
    const c = (x: Partial<CallContext['caller']>) => a({ source: 'npa', sids: [], ...x });
    expect(c({ sids: ['S-1-5-21-9-9-9-1105'] }).allow).toBe(true);
    expect(c({ accountName: 'backuphost$', domainName: 'example' })).toEqual({ allow: true, reason: 'allow-listed account example\\backuphost$' });
    expect(c({ accountName: 'backuphost$', domainName: 'OTHER' }).allow).toBe(false);
    expect(c({ accountName: 'SVC-Backup', domainName: 'ANY' }).allow).toBe(true);
    expect(c({ accountName: 'backuphost$' }).allow).toBe(false);
    expect(c({ sids: [] }).reason).toMatch(/not on the allow-lists$/);
  });

  it('can switch the built-in rule off, or move the trusted uid', () => {
    expect(compileAuthz({ builtin: false })({ source: 'npa', sids: ['S-1-5-32-544'], uid: 0 }).allow).toBe(false);
    expect(compileAuthz({ rootUid: 990 })({ source: 'npa', sids: [], uid: 990 }).allow).toBe(true);
    expect(compileAuthz({ rootUid: 990 })({ source: 'npa', sids: [], uid: 0 }).allow).toBe(false);
  });
});

describe('denied callers, every operation', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.create({ config: { authz: { allowAccounts: ['TEST\\DISKSHADOW$'] } } });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const S = unc('fsrvp_share');
  const G = '12345678-1234-1234-1234-123456789abc';
  const ops = (ctx: CallContext) => [
    h.svc.getSupportedVersion({}, ctx),
    h.svc.setContext({ Context: 0 }, ctx),
    h.svc.startShadowCopySet({ ClientShadowCopySetId: G }, ctx),
    h.svc.addToShadowCopySet({ ClientShadowCopyId: G, ShadowCopySetId: G, ShareName: S }, ctx),
    h.svc.commitShadowCopySet({ ShadowCopySetId: G, TimeOutInMilliseconds: 1 }, ctx),
    h.svc.exposeShadowCopySet({ ShadowCopySetId: G, TimeOutInMilliseconds: 1 }, ctx),
    h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: G }, ctx),
    h.svc.abortShadowCopySet({ ShadowCopySetId: G }, ctx),
    h.svc.isPathSupported({ ShareName: S }, ctx),
    h.svc.isPathShadowCopied({ ShareName: S }, ctx),
    h.svc.getShareMapping({ ShadowCopyId: G, ShadowCopySetId: G, ShareName: S, Level: 1 }, ctx),
    h.svc.deleteShareMapping({ ShadowCopySetId: G, ShadowCopyId: G, ShareName: S }, ctx),
    h.svc.prepareShadowCopySet({ ShadowCopySetId: G, TimeOutInMilliseconds: 1 }, ctx),
  ];

  it.each([['a low-privileged user', USER], ['an anonymous caller', ANONYMOUS]])(
    'answers E_ACCESSDENIED to %s, with zero/NULL out-parameters, touching nothing', async (_, ctx) => {
      const { setId, copyIds } = await h.exposed();
      const before = h.svc.view();
      const calls = [h.registry.calls.length, h.backend.calls.length, h.publisher.calls.length];
      const rs = await Promise.all(ops(ctx));
      expect(rs.map((r) => r.result)).toEqual(Array(13).fill(HRESULT.E_ACCESSDENIED));
      expect(rs[0]).toEqual({ MinVersion: 0, MaxVersion: 0, result: HRESULT.E_ACCESSDENIED });
      expect(rs[2]).toEqual({ pShadowCopySetId: ZERO_GUID, result: HRESULT.E_ACCESSDENIED });
      expect(rs[3]).toEqual({ pShadowCopyId: ZERO_GUID, result: HRESULT.E_ACCESSDENIED });
      expect(rs[8]).toEqual({ SupportedByThisProvider: false, OwnerMachineName: null, result: HRESULT.E_ACCESSDENIED });
      expect(rs[10]).toEqual({ ShareMapping: { tag: 1, value: null }, result: HRESULT.E_ACCESSDENIED });
      // The state-changing calls also aimed at the real set: still nothing changed.
      const real = await Promise.all([
        h.svc.abortShadowCopySet({ ShadowCopySetId: setId }, ctx),
        h.svc.deleteShareMapping({ ShadowCopySetId: setId, ShadowCopyId: copyIds[0]!, ShareName: S }, ctx),
        h.svc.recoveryCompleteShadowCopySet({ ShadowCopySetId: setId }, ctx),
      ]);
      expect(real.map((r) => r.result)).toEqual(Array(3).fill(HRESULT.E_ACCESSDENIED));
      expect([h.registry.calls.length, h.backend.calls.length, h.publisher.calls.length]).toEqual(calls);
      expect(h.svc.view()).toEqual(before);
      const denials = h.events.filter((e) => e.kind === 'denied');
      expect(denials).toHaveLength(16);
      expect(denials[0]).toMatchObject({ kind: 'denied', op: 'GetSupportedVersion' });
    });

  it('allows the configured computer account (DiskShadow authenticates as HOST$)', async () => {
    const host = callAs({ sids: ['S-1-5-21-1-2-3-5001', 'S-1-5-32-515'], accountName: 'DiskShadow$', domainName: 'test' });
    expect((await h.svc.isPathSupported({ ShareName: S }, host)).result).toBe(0);
    expect((await h.svc.setContext({ Context: 0 }, host)).result).toBe(0);
  });
});

describe('ShadowCoerce (CVE-2022-30154) requests', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.create();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await h.cleanup();
  });

  // IsPathSupported / IsPathShadowCopied stub: [string] L"\\10.66.66.66\NETLOGON" (22 units + NUL).
  const stub = bytes(`
    17 00 00 00 00 00 00 00 17 00 00 00
    5c 00 5c 00 31 00 30 00 2e 00 36 00 36 00 2e 00 36 00 36 00 2e 00 36 00 36 00 5c 00
    4e 00 45 00 54 00 4c 00 4f 00 47 00 4f 00 4e 00 00 00`);

  it('the replayed stub decodes to the coercion UNC', () => {
    expect(decode(IsPathSupported.request, stub).value).toEqual({ ShareName: '\\\\10.66.66.66\\NETLOGON' });
    expect(toHex(encode(IsPathSupported.request, { ShareName: '\\\\10.66.66.66\\NETLOGON' }))).toBe(toHex(stub));
  });

  it.each([
    ['unauthenticated', ANONYMOUS, HRESULT.E_ACCESSDENIED],
    ['low-privileged', USER, HRESULT.E_ACCESSDENIED],
    ['admin', ADMIN, HRESULT.E_INVALIDARG],
  ])('opnums 8 and 9 as %s: answered without any lookup or connection', async (_, ctx, expected) => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    const lookups = [vi.spyOn(dns, 'lookup'), vi.spyOn(dns.promises, 'lookup'), vi.spyOn(dns.promises, 'resolve')];
    const iface = fsrvpInterface(h.svc);
    const registryCalls = h.registry.calls.length;
    for (const op of [IsPathSupported, IsPathShadowCopied]) {
      const bound = iface.operations[op.opnum]!;
      const req = decode(bound.op.request, stub).value;
      const res = (await bound.handler(req, ctx)) as { result: number };
      expect(res.result, op.name).toBe(expected);
      // The reply still encodes (out-parameters marshalled on failure).
      expect(encode(bound.op.response, res).length).toBeGreaterThan(0);
    }
    expect(h.registry.calls.length).toBe(registryCalls);
    expect(connect).not.toHaveBeenCalled();
    for (const l of lookups) expect(l).not.toHaveBeenCalled();
  });

  it('answers FSRVP_E_OBJECT_NOT_FOUND in strict mode, for every UNC-taking operation', async () => {
    await h.restart({ mode: 'strict' });
    const evil = '\\\\attacker.example\\SYSVOL\\';
    expect((await h.svc.isPathSupported({ ShareName: evil }, ADMIN)).result).toBe(HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
    expect((await h.svc.isPathShadowCopied({ ShareName: evil }, ADMIN)).result).toBe(HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
    const { setId } = await h.start();
    expect((await h.add(setId, evil)).result).toBe(HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
    expect(h.registry.calls.some((c) => c.method === 'lookup' && String(c.args[0]).toUpperCase() === 'SYSVOL')).toBe(false);
  });

  it('rejects device-path and dot forms before any lookup', async () => {
    const before = h.registry.calls.length;
    for (const s of ['\\\\?\\UNC\\10.66.66.66\\NETLOGON', '\\\\.\\pipe\\FssagentRpc', '\\\\127.0.0.1\\..\\', '\\\\127.0.0.1\\fsrvp_share\\..\\..\\etc',
      '\\\\127.0.0.1\\fsrvp_share/../x', '\\\\127.0.0.1\\fsrvp_share@GMT-2024.01.01-00.00.00']) {
      expect((await h.svc.isPathSupported({ ShareName: s }, ADMIN)).result, s).toBe(HRESULT.E_INVALIDARG);
    }
    expect(h.registry.calls.length).toBe(before);
  });
});
