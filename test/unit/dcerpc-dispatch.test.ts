/** Dispatch outcomes of the DCE/RPC server (split from dcerpc-server.test.ts): stub decode failures, handler faults and exceptions. */
import { afterEach, describe, expect, it } from 'vitest';
import { RpcFault } from '../../src/dcerpc/interface.js';
import { PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import { encode } from '../../src/ndr/index.js';
import {
  AddToShadowCopySet, GetSupportedVersion, IsPathSupported, SetContext,
} from '../../src/fsrvp/idl.js';
import { hex } from '../helpers/fixtures.js';
import {
  boundClient, cleanupRpc, connectClient, ctx, expectAlive, expectClosed, FAULT, fsrvpRegistry, startServer,
} from '../helpers/rpc.js';

afterEach(cleanupRpc);

describe('dispatch outcomes', () => {
  it('stub decode failure -> 0x6f7 kept; trailing stub bytes accepted', async () => {
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: (() => ({ result: 0 })) as never }) });
    const c = await boundClient(l);
    const short = await c.call(0, SetContext.opnum, Uint8Array.of(1, 0));
    expect(short.fault?.status).toBe(FAULT.bad_stub_data);
    expect(short.fault?.header.pfcFlags).toBe(PFC_FIRST_LAST);
    const trailing = await c.call(0, SetContext.opnum, Uint8Array.of(1, 0, 0, 0, 9, 9, 9));
    expect(trailing.fault).toBeUndefined();
    // A malformed string (offset != 0) is NDR-invalid too.
    const bad = hex('0d000000 01000000 0d000000');
    expect((await c.call(0, IsPathSupported.opnum, bad)).fault?.status).toBe(FAULT.bad_stub_data);
    await expectAlive(c);
  });

  it('handler RpcFault -> that status; other exceptions -> 0x6d8 (cant_perform); bad response value -> 0x6f7; all kept', async () => {
    const l = await startServer({
      registry: fsrvpRegistry({
        SetContext: (() => {
          throw new RpcFault(0x1c000012);
        }) as never,
        StartShadowCopySet: (async () => {
          throw new Error('boom');
        }) as never,
        AddToShadowCopySet: (() => ({ pShadowCopyId: 'not-a-guid', result: 0 })) as never,
      }),
    });
    const c = await boundClient(l);
    const f1 = await c.call(0, SetContext.opnum, encode(SetContext.request, { Context: 0 }));
    expect(f1.fault?.status).toBe(0x1c000012);
    expect(f1.fault?.contextId).toBe(0);
    const f2 = await c.call(0, 2, new Uint8Array(16));
    expect(f2.fault?.status).toBe(FAULT.cant_perform);
    expect(f2.fault?.header.pfcFlags).toBe(PFC_FIRST_LAST);
    const f3 = await c.call(0, AddToShadowCopySet.opnum, encode(AddToShadowCopySet.request, {
      ClientShadowCopyId: '00000000-0000-0000-0000-000000000000', ShadowCopySetId: '00000000-0000-0000-0000-000000000000', ShareName: 'x',
    }));
    expect(f3.fault?.status).toBe(FAULT.bad_stub_data);
    await expectAlive(c);
  });

  it('big-endian requests are decoded big-endian; replies are little-endian', async () => {
    let ctxSeen = -1;
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: ((req: { Context: number }) => {
      ctxSeen = req.Context;
      return { result: 0 };
    }) as never }) });
    const c = await boundClient(l);
    const stub = encode(SetContext.request, { Context: 0x01020304 }, { littleEndian: false });
    const r = await c.call(0, SetContext.opnum, stub, { bigEndian: true });
    expect(ctxSeen).toBe(0x01020304);
    expect(r.pdus?.[0]?.header.drep).toEqual([0x10, 0, 0, 0]);
    expect(await c.callOp(GetSupportedVersion, {}, { bigEndian: true })).toEqual({ MinVersion: 1, MaxVersion: 1, result: 0 });
  });

  it('an object UUID is accepted (and ignored)', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    const r = await c.call(0, 0, new Uint8Array(0), { objectUuid: '11111111-2222-3333-4444-555555555555' });
    expect(r.fault).toBeUndefined();
  });

  it('requests of one connection run in order; a slow handler does not block another connection', async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: (async (req: { Context: number }) => {
      order.push(`start ${req.Context}`);
      if (req.Context === 1) await gate;
      order.push(`end ${req.Context}`);
      return { result: 0 };
    }) as never }) });
    const slow = await boundClient(l);
    const fast = await boundClient(l);
    const p1 = slow.call(0, SetContext.opnum, encode(SetContext.request, { Context: 1 }));
    const p2 = slow.call(0, SetContext.opnum, encode(SetContext.request, { Context: 2 }));
    for (let i = 0; i < 200 && order.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await expectAlive(fast);
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual(['start 1']);
    release();
    await Promise.all([p1, p2]);
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('a malformed PDU on one connection does not disturb another', async () => {
    const l = await startServer();
    const good = await boundClient(l);
    const bad = await boundClient(l);
    bad.sendRaw(Uint8Array.of(5, 0, 0, 3, 0x10, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0));
    await expectClosed(bad);
    await expectAlive(good);
  });

  it('the listener closes open connections on close()', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    await c.bind({ contexts: [ctx(0)] });
    expect(l.connections).toBe(1);
    await l.close();
    expect(await c.waitClosed(2000)).toBe(true);
  });
});
