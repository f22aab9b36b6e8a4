import { afterEach, describe, expect, it } from 'vitest';
import { AssocGroupTable } from '../../src/dcerpc/assoc-group.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu, ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { bindTimeFeatureSyntax, NDR20, NDR64, NULL_SYNTAX } from '../../src/dcerpc/syntax.js';
import { MAX_REQUEST_SIZE, PFC, PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import { encode } from '../../src/ndr/index.js';
import { IsPathSupported } from '../../src/fsrvp/idl.js';
import { hex, samplePdus, toHex } from '../helpers/fixtures.js';
import {
  boundClient, cleanupRpc, connectClient, ctx, expectAlive, expectClosed, expectFault, FAULT,
  fsrvpRegistry, FSRVP_SYNTAX, nextPdu, OTHER_SYNTAX, startServer, windowsStyleContexts,
} from '../helpers/rpc.js';

afterEach(cleanupRpc);

describe('bind and a call over TCP', () => {
  it('binds the Windows-style three contexts as in DCERPC.md §14 and answers GetSupportedVersion', async () => {
    const l = await startServer({ secondaryAddress: '\\pipe\\FssagentRpc' });
    const c = await connectClient(l);
    const ack = (await c.bind({ contexts: windowsStyleContexts() })) as BindAckPdu;
    expect(ack.kind).toBe('bind_ack');
    expect(ack.header.pfcFlags).toBe(PFC_FIRST_LAST);
    expect(ack.maxXmitFrag).toBe(5840);
    expect(ack.maxRecvFrag).toBe(5840);
    expect(ack.assocGroupId).not.toBe(0);
    expect(ack.secondaryAddress).toBe('\\pipe\\FssagentRpc');
    expect(ack.results).toEqual([
      { result: 0, reason: 0, transferSyntax: NDR20 },
      { result: 2, reason: 2, transferSyntax: NULL_SYNTAX },
      // The client asks for 0x3 (both features); both are granted, as Samba does.
      { result: 3, reason: 3, transferSyntax: NULL_SYNTAX },
    ]);
    expect(ack.header.fragLength).toBe(120);
    await expectAlive(c);
  });

  it('the TCP secondary address defaults to the port number', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = (await c.bind({ contexts: [ctx(0)] })) as BindAckPdu;
    expect(ack.secondaryAddress).toBe(String(l.port));
  });

  it('IsPathSupported round trip through the typed client', async () => {
    const l = await startServer({
      registry: fsrvpRegistry({ IsPathSupported: ((req: { ShareName: string }) => ({ SupportedByThisProvider: req.ShareName.endsWith('\\'), OwnerMachineName: 'SRV', result: 0 })) as never }),
    });
    const c = await boundClient(l);
    expect(await c.callOp(IsPathSupported, { ShareName: '\\\\srv\\share\\' })).toEqual({ SupportedByThisProvider: true, OwnerMachineName: 'SRV', result: 0 });
  });
});

describe('replay of the Samba capture smbtorture-get_version', () => {
  it('gets Samba\'s bind_ack (apart from assoc_group_id) and a byte-identical response', async () => {
    const l = await startServer({ secondaryAddress: '\\pipe\\FssagentRpc' });
    const c = await connectClient(l);
    const pdus = samplePdus('smbtorture-get_version');
    for (let i = 0; i < pdus.length; i++) {
      const rec = pdus[i]!;
      if (rec.dir !== 'c2s') continue;
      c.sendRaw(hex(rec.hex));
      const want = hex(pdus[i + 1]!.hex);
      const got = (await c.readPdu(3000))!;
      expect(got).not.toBeNull();
      if (rec.ptype === 'bind') {
        expect(got.length).toBe(want.length);
        const g = decodePdu(got) as BindAckPdu;
        expect(g.assocGroupId).not.toBe(0);
        // Both grant SecurityContextMultiplexing (0x1) and KeepConnectionOnOrphan (0x2).
        const samba = decodePdu(want) as BindAckPdu;
        expect(samba.results[1]).toEqual({ result: 3, reason: 3, transferSyntax: NULL_SYNTAX });
        expect(g.results[1]).toEqual({ result: 3, reason: 3, transferSyntax: NULL_SYNTAX });
        const normalise = (b: Uint8Array): string => {
          const x = b.slice();
          x.fill(0, 20, 24); // assoc_group_id
          return toHex(x);
        };
        expect(normalise(got)).toBe(normalise(want));
      } else {
        expect(toHex(got)).toBe(toHex(want));
      }
    }
  });

  it('replays the other smbtorture captures up to the first response', async () => {
    for (const name of ['smbtorture-set_ctx', 'smbtorture-is_path_supported']) {
      const l = await startServer({
        secondaryAddress: '\\pipe\\FssagentRpc',
        registry: fsrvpRegistry({
          SetContext: (() => ({ result: 0 })) as never,
          IsPathSupported: (() => ({ SupportedByThisProvider: true, OwnerMachineName: 'LOCALHOST', result: 0 })) as never,
        }),
      });
      const c = await connectClient(l);
      const pdus = samplePdus(name);
      c.sendRaw(hex(pdus[0]!.hex));
      expect((await nextPdu(c)).kind).toBe('bind_ack');
      c.sendRaw(hex(pdus[2]!.hex));
      const got = (await c.readPdu(3000))!;
      const want = hex(pdus[3]!.hex);
      const g = decodePdu(got) as ResponsePdu;
      const w = decodePdu(want) as ResponsePdu;
      expect([g.kind, g.header.callId, g.header.pfcFlags, g.contextId]).toEqual([w.kind, w.header.callId, w.header.pfcFlags, w.contextId]);
      if (name === 'smbtorture-set_ctx') expect(toHex(got)).toBe(toHex(want));
    }
  });
});

describe('§5 fragment size negotiation (Samba vectors)', () => {
  it.each([
    [0xffff, 0xffff, 5840],
    [0, 0, 2048],
    [3199, 0xffff, 3192],
    [0xffff, 3199, 3192],
    [4280, 4280, 4280],
    [1432, 5840, 2048],
  ])('xmit %d recv %d -> %d in both fields', async (xmit, recv, want) => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = (await c.bind({ contexts: [ctx(0)], maxXmitFrag: xmit, maxRecvFrag: recv })) as BindAckPdu;
    expect([ack.maxXmitFrag, ack.maxRecvFrag]).toEqual([want, want]);
  });
});

describe('§6 presentation contexts', () => {
  it('NDR64-only is 2/2, unknown interface 2/1, one new context per PDU, NDR20 chosen from a list', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = (await c.bind({
      contexts: [ctx(0, FSRVP_SYNTAX, [NDR64]), ctx(1, OTHER_SYNTAX), ctx(2, FSRVP_SYNTAX, [NDR64, NDR20]), ctx(3)],
    })) as BindAckPdu;
    expect(ack.results.map((r) => [r.result, r.reason])).toEqual([[2, 2], [2, 1], [0, 0], [2, 2]]);
    expect(ack.results[2]!.transferSyntax).toEqual(NDR20);
    await expectAlive(c, 2);
    // Context 0 was not accepted: unknown_if, connection kept.
    c.sendRaw(encodePdu({ kind: 'request', header: { callId: 9 }, allocHint: 0, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(0) }));
    await expectFault(c, { status: FAULT.nca_s_unknown_if, dne: true, callId: 9, contextId: 0 });
    await expectAlive(c, 2);
  });

  it('a feature element is answered 3 with the granted bits only; version must be exactly 1.0', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = (await c.bind({
      contexts: [ctx(0), ctx(1, FSRVP_SYNTAX, [bindTimeFeatureSyntax(0x1 | 0x4)])],
    })) as BindAckPdu;
    expect(ack.results[1]).toEqual({ result: 3, reason: 0x1, transferSyntax: NULL_SYNTAX });
  });

  it('a whole-interface version mismatch (1.1) is an unknown abstract syntax', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = (await c.bind({ contexts: [ctx(0, { uuid: FSRVP_SYNTAX.uuid, version: 0x00010001 })] })) as BindAckPdu;
    expect(ack.results[0]).toEqual({ result: 2, reason: 1, transferSyntax: NULL_SYNTAX });
  });

  it('alter_context adds a context (one per PDU), re-accepts a bound one, and has an empty secondary address', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    const resp = await c.alterContext({ contexts: [ctx(5), ctx(6)] });
    expect(resp.kind).toBe('alter_context_resp');
    if (resp.kind !== 'alter_context_resp') return;
    expect(resp.secondaryAddress).toBe('');
    expect(resp.maxXmitFrag).toBe(5840);
    expect(toHex(encodePdu({ ...resp }).subarray(24, 28))).toBe('00000000');
    expect(resp.results.map((r) => [r.result, r.reason])).toEqual([[0, 0], [2, 2]]);
    await expectAlive(c, 5);
    const again = await c.alterContext({ contexts: [ctx(0), ctx(7)] });
    expect(again.kind === 'alter_context_resp' && again.results.map((r) => [r.result, r.reason])).toEqual([[0, 0], [2, 2]]);
    // In alter, a feature element is an ordinary (NDR64-less, NDR20-less) proposal: 2/2.
    const feat = await c.alterContext({ contexts: [ctx(8, FSRVP_SYNTAX, [bindTimeFeatureSyntax(2)])] });
    expect(feat.kind === 'alter_context_resp' && feat.results.map((r) => [r.result, r.reason])).toEqual([[2, 2]]);
  });

  it('CONC_MPX and SUPPORT_HEADER_SIGN are echoed when asked', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    const ack = await c.bind({ contexts: [ctx(0)], pfcFlags: PFC_FIRST_LAST | PFC.CONC_MPX | PFC.SUPPORT_HEADER_SIGN });
    expect(ack.header.pfcFlags).toBe(PFC_FIRST_LAST | PFC.CONC_MPX | PFC.SUPPORT_HEADER_SIGN);
    const c2 = await connectClient(l);
    const ack2 = await c2.bind({ contexts: [ctx(0, OTHER_SYNTAX)], pfcFlags: PFC_FIRST_LAST | PFC.CONC_MPX });
    // No context created: CONC_MPX is not granted.
    expect(ack2.header.pfcFlags).toBe(PFC_FIRST_LAST);
  });
});

describe('§7 association groups', () => {
  it('group 0 gets a new non-zero id; another connection may join it; an unknown id gets bind_nak 0 + close', async () => {
    const groups = new AssocGroupTable();
    const l = await startServer({ groups });
    const a = await connectClient(l);
    const ackA = (await a.bind({ contexts: [ctx(0)] })) as BindAckPdu;
    const b = await connectClient(l);
    const ackB = (await b.bind({ contexts: [ctx(0)], assocGroupId: ackA.assocGroupId })) as BindAckPdu;
    expect(ackB.kind).toBe('bind_ack');
    expect(ackB.assocGroupId).toBe(ackA.assocGroupId);
    const fresh = (await (await connectClient(l)).bind({ contexts: [ctx(0)] })) as BindAckPdu;
    expect(fresh.assocGroupId).not.toBe(ackA.assocGroupId);
    const d = await connectClient(l);
    const nak = await d.bind({ contexts: [ctx(0)], assocGroupId: (ackA.assocGroupId ^ 0x5a5a5a5a) || 1 });
    expect(nak.kind === 'bind_nak' && nak.rejectReason).toBe(0);
    await expectClosed(d);
  });

  it('a group ends with its last connection', async () => {
    const groups = new AssocGroupTable();
    const l = await startServer({ groups });
    const a = await connectClient(l);
    const ack = (await a.bind({ contexts: [ctx(0)] })) as BindAckPdu;
    expect(groups.has(ack.assocGroupId)).toBe(true);
    await a.close();
    for (let i = 0; i < 100 && groups.has(ack.assocGroupId); i++) await new Promise((r) => setTimeout(r, 10));
    expect(groups.has(ack.assocGroupId)).toBe(false);
    const b = await connectClient(l);
    const nak = await b.bind({ contexts: [ctx(0)], assocGroupId: ack.assocGroupId });
    expect(nak.kind).toBe('bind_nak');
  });
});

describe('§7 fragmentation', () => {
  const bigName = (n: number): string => `\\\\srv\\${'s'.repeat(n)}\\`;

  it('reassembles a request sent in many small fragments', async () => {
    let seen = '';
    const l = await startServer({
      registry: fsrvpRegistry({ IsPathSupported: ((req: { ShareName: string }) => {
        seen = req.ShareName;
        return { SupportedByThisProvider: true, OwnerMachineName: 'SRV', result: 0 };
      }) as never }),
    });
    const c = await boundClient(l);
    const name = bigName(3000);
    const stub = encode(IsPathSupported.request, { ShareName: name });
    const r = await c.call(0, IsPathSupported.opnum, stub, { fragmentSize: 24 + 16 });
    expect(r.fault).toBeUndefined();
    expect(seen).toBe(name);
    // Every fragment of the request had at most 16 stub bytes: many fragments.
    expect(Math.ceil(stub.length / 16)).toBeGreaterThan(300);
  });

  it('fragments a response larger than max_xmit_frag: FIRST/LAST, alloc_hint = bytes remaining, 16-byte chunks', async () => {
    const owner = 'X'.repeat(5000);
    const l = await startServer({
      registry: fsrvpRegistry({ IsPathSupported: (() => ({ SupportedByThisProvider: true, OwnerMachineName: owner, result: 0 })) as never }),
    });
    const c = await connectClient(l);
    const ack = (await c.bind({ contexts: [ctx(3)], maxXmitFrag: 2048, maxRecvFrag: 2048 })) as BindAckPdu;
    expect(ack.maxXmitFrag).toBe(2048);
    const r = await c.call(3, IsPathSupported.opnum, encode(IsPathSupported.request, { ShareName: '\\\\a\\b\\' }));
    expect(r.fault).toBeUndefined();
    if (r.fault !== undefined) return;
    const chunk = 2048 - 24 - ((2048 - 24) % 16); // 2016
    const total = r.stub.length;
    expect(total).toBe(encode(IsPathSupported.response, { SupportedByThisProvider: true, OwnerMachineName: owner, result: 0 }).length);
    expect(r.pdus.length).toBe(Math.ceil(total / chunk));
    let remaining = total;
    r.pdus.forEach((p, i) => {
      const last = i === r.pdus.length - 1;
      expect(p.header.pfcFlags).toBe((i === 0 ? PFC.FIRST_FRAG : 0) | (last ? PFC.LAST_FRAG : 0));
      expect(p.allocHint).toBe(remaining);
      expect(p.contextId).toBe(3);
      expect(p.stubAndVerifier.length).toBe(last ? total - chunk * i : chunk);
      expect(p.header.fragLength).toBeLessThanOrEqual(2048);
      remaining -= p.stubAndVerifier.length;
    });
    expect(c.isClosed).toBe(false);
  });

  it('accepts a request of exactly 4 MiB and refuses 4 MiB + 1 with fault 5 + close', async () => {
    let got = -1;
    const l = await startServer({
      registry: fsrvpRegistry({ IsPathSupported: ((req: { ShareName: string }) => {
        got = req.ShareName.length;
        return { SupportedByThisProvider: false, OwnerMachineName: null, result: 0 };
      }) as never }),
    });
    const c = await boundClient(l);
    // wstring stub: 12 bytes of counts + 2 bytes per unit.
    const units = (MAX_REQUEST_SIZE - 12) / 2;
    const stub = encode(IsPathSupported.request, { ShareName: 'a'.repeat(units - 1) });
    expect(stub.length).toBe(MAX_REQUEST_SIZE);
    const ok = await c.call(0, IsPathSupported.opnum, stub, { timeoutMs: 20_000 });
    expect(ok.fault).toBeUndefined();
    expect(got).toBe(units - 1);

    const over = new Uint8Array(MAX_REQUEST_SIZE + 1);
    const callId = c.allocateCallId();
    for (const p of c.buildRequest(0, IsPathSupported.opnum, over, { callId })) c.sendRaw(p);
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId });
    await expectClosed(c);
  }, 30_000);

  it('4 MiB limit with alloc_hint 0 on every fragment: refused when the data runs over', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    const callId = c.allocateCallId();
    const pdus = c.buildRequest(0, IsPathSupported.opnum, new Uint8Array(MAX_REQUEST_SIZE + 100), { callId });
    for (const p of pdus) {
      new DataView(p.buffer, p.byteOffset).setUint32(16, 0, true);
      c.sendRaw(p);
    }
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId });
    await expectClosed(c);
  }, 30_000);
});
