/**
 * fsrvpInterface: the operations in opnum order, failure replies marshalled as Samba does, and
 * a replay of the captured rpcclient session against the service, compared byte for byte with
 * Samba's replies (server-generated GUIDs and timestamps mapped).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InterfaceRegistry, type BoundOperation } from '../../src/dcerpc/interface.js';
import { FSRVP_UUID, HRESULT } from '../../src/fsrvp/codes.js';
import { FSRVP_OPERATIONS } from '../../src/fsrvp/idl.js';
import { fsrvpInterface } from '../../src/fsrvp/interface.js';
import { decode, encode, Rng, type NdrType } from '../../src/ndr/index.js';
import { hex, samplePdus, toHex } from '../helpers/fixtures.js';
import { ADMIN, Harness, USER } from '../helpers/fsrvp.js';

let h: Harness;
afterEach(async () => {
  await h.cleanup();
});

describe('fsrvpInterface', () => {
  beforeEach(async () => {
    h = await Harness.create();
  });

  it('lists the 13 operations in opnum order under the FSRVP syntax', () => {
    const iface = fsrvpInterface(h.svc);
    expect(iface.uuid).toBe(FSRVP_UUID);
    expect(iface.version).toEqual({ major: 1, minor: 0 });
    expect(iface.operations.map((b) => b.op)).toEqual([...FSRVP_OPERATIONS]);
    const reg = new InterfaceRegistry().register(iface);
    expect(reg.lookup('A8E0653C-2744-4389-A61D-7373DF8B2292', 1, 0)).toBe(iface);
  });

  it('marshals out-parameters on failure as Samba does (FSRVP.md §3)', async () => {
    const iface = fsrvpInterface(h.svc);
    const G = '12345678-1234-1234-1234-123456789abc';
    const S = '\\\\127.0.0.1\\fsrvp_share';
    const call = async (opnum: number, req: unknown): Promise<string> => {
      const b = iface.operations[opnum] as BoundOperation;
      return toHex(encode(b.op.response, await b.handler(req, USER)));
    };
    const denied = '05000780';
    expect(await call(0, {})).toBe(`0000000000000000${denied}`);
    expect(await call(2, { ClientShadowCopySetId: G })).toBe(`${'00'.repeat(16)}${denied}`);
    expect(await call(3, { ClientShadowCopyId: G, ShadowCopySetId: G, ShareName: S })).toBe(`${'00'.repeat(16)}${denied}`);
    expect(await call(8, { ShareName: S })).toBe(`0000000000000000${denied}`);
    expect(await call(9, { ShareName: S })).toBe(`0000000000000000${denied}`);
    expect(await call(10, { ShadowCopyId: G, ShadowCopySetId: G, ShareName: S, Level: 1 })).toBe(`0100000000000000${denied}`);
    expect(await call(10, { ShadowCopyId: G, ShadowCopySetId: G, ShareName: S, Level: 5 })).toBe(`05000000${denied}`);
    for (const op of [1, 4, 5, 6, 7, 11, 12]) {
      const decl = FSRVP_OPERATIONS[op]!.request as NdrType<unknown>;
      expect(await call(op, decl.generate(new Rng(op), 0)), FSRVP_OPERATIONS[op]!.name).toBe(denied);
    }
  });

  it('turns an exception below the service into E_FAIL, not a fault', async () => {
    h.registry.lookup = async () => {
      throw new Error('registry exploded');
    };
    const b = fsrvpInterface(h.svc).operations[8] as BoundOperation;
    expect(await b.handler({ ShareName: '\\\\127.0.0.1\\x' }, ADMIN)).toEqual({
      SupportedByThisProvider: false, OwnerMachineName: null, result: HRESULT.E_FAIL,
    });
  });
});

describe('replay of the captured rpcclient session (Samba 4.17.12)', () => {
  beforeEach(async () => {
    h = await Harness.create({ config: { netbiosName: 'FSRVPH' } });
  });

  function stub(pduHex: string): Uint8Array {
    const pdu = hex(pduHex);
    const len = new DataView(pdu.buffer, pdu.byteOffset).getUint16(8, true);
    return pdu.subarray(24, len);
  }

  /** Replaces every GUID-looking string found in `map` (deeply), leaving other values alone. */
  function mapGuids<T>(v: T, map: Map<string, string>): T {
    if (typeof v === 'string') return (map.get(v) ?? v.replace(/[0-9a-f-]{36}/g, (g) => map.get(g) ?? g)) as T;
    if (Array.isArray(v)) return v.map((x) => mapGuids(x, map)) as T;
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapGuids(x, map)])) as T;
    }
    return v;
  }

  it('answers every call as Samba did (IsPathShadowCopied aside, which we implement)', async () => {
    const iface = fsrvpInterface(h.svc);
    const toOurs = new Map<string, string>();
    const toSamba = new Map<string, string>();
    const pdus = samplePdus('rpcclient-session');
    const responses = new Map(pdus.filter((p) => p.ptype === 'response').map((p) => [p.call_id, p]));
    let compared = 0;
    for (const req of pdus.filter((p) => p.ptype === 'request')) {
      const b = iface.operations[req.opnum as number] as BoundOperation;
      const samba = stub(responses.get(req.call_id)!.hex);
      const sambaRes = decode(b.op.response, samba).value as Record<string, unknown>;
      const ours = (await b.handler(mapGuids(decode(b.op.request, stub(req.hex)).value, toOurs), ADMIN)) as Record<string, unknown>;
      if (b.op.name === 'IsPathShadowCopied') {
        expect(sambaRes.result).toBe(HRESULT.FSRVP_E_NOT_SUPPORTED);
        expect(ours).toEqual({ ShadowCopyPresent: false, ShadowCopyCompatibility: 0, result: 0 });
        continue;
      }
      for (const k of ['pShadowCopySetId', 'pShadowCopyId'] as const) {
        if (typeof ours[k] === 'string' && ours.result === 0) {
          toOurs.set(sambaRes[k] as string, ours[k] as string);
          toSamba.set(ours[k] as string, sambaRes[k] as string);
        }
      }
      let back = mapGuids(ours, toSamba);
      const sm = back.ShareMapping as { tag: number; value?: Record<string, unknown> | null } | undefined;
      if (sm?.value) {
        const theirs = (sambaRes.ShareMapping as { value: { CreationTimestamp: bigint } }).value;
        // Times differ between runs; Samba has whole seconds.
        back = { ...back, ShareMapping: { tag: 1, value: { ...sm.value, CreationTimestamp: theirs.CreationTimestamp } } };
      }
      expect(toHex(encode(b.op.response, back)), `call ${req.call_id} ${b.op.name}`).toBe(toHex(samba));
      compared++;
    }
    expect(compared).toBe(29);
    // The second sequence asked for ATTR_AUTO_RECOVERY: writable snapshot, sealed at RecoveryComplete.
    expect(h.backend.calls.filter((c) => c.method === 'create').map((c) => (c.args[1] as { writable: boolean }).writable)).toEqual([false, true]);
    expect(h.backend.count('setReadOnly')).toBe(1);
    expect(h.backend.snapshots.size + h.publisher.shares.size).toBe(0);
  });
});
