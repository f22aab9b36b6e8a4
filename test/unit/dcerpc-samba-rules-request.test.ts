/**
 * DCERPC.md §11 row by row, continued from dcerpc-samba-rules.test.ts: requests, other PTYPEs
 * after bind, co_cancel and orphaned. Each bad PDU goes over a real TCP connection to 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildAuthVerifier } from '../../src/dcerpc/auth-trailer.js';
import { AUTH_LEVEL, AUTH_TYPE, FAULT, PFC, PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import { NDR20 } from '../../src/dcerpc/syntax.js';
import { buildVerificationTrailer, VT_COMMAND } from '../../src/dcerpc/verification-trailer.js';
import { guidToBytes, encode } from '../../src/ndr/index.js';
import { IsPathSupported, SetContext } from '../../src/fsrvp/idl.js';
import {
  boundClient, cleanupRpc, connectClient, ctx, expectAlive, expectClosed, expectFault,
  fsrvpRegistry, FSRVP_SYNTAX, nextPdu, rawRequest, startServer,
} from '../helpers/rpc.js';
import type { RpcClient } from '../../src/dcerpc/client.js';
import { NO_AUTH, expectSilence, sendBound, verifier } from '../helpers/rpc-rules.js';

afterEach(cleanupRpc);

describe('§11 request', () => {
  it.each([
    ['rpc_vers 6', { rpcVers: 6 }],
    ['rpc_vers_minor 1', { rpcVersMinor: 1 }],
    ['EBCDIC drep', { drep: [0x11, 0, 0, 0] as const }],
    ['IBM floating point drep', { drep: [0x10, 3, 0, 0] as const }],
    ['auth_length larger than the stub', { authLength: 1 }],
  ])('header check fails (%s) -> fault proto_error, DID_NOT_EXECUTE, + close', async (_name, header) => {
    const c = await sendBound(rawRequest({ header: { callId: 3, ...header } }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 3, contextId: 0 });
    await expectClosed(c);
  });

  it('frag_length > 5840 -> fault proto_error WITHOUT DID_NOT_EXECUTE + close', async () => {
    const c = await sendBound(rawRequest({ header: { callId: 3 }, stubAndVerifier: new Uint8Array(5840 - 24 + 1) }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 3, contextId: 0 });
    await expectClosed(c);
  });

  it('frag_length exactly 5840 is fine even with a smaller negotiated size', async () => {
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: (() => ({ result: 0 })) as never }) });
    const c = await connectClient(l);
    await c.bind({ contexts: [ctx(0)], maxXmitFrag: 2048, maxRecvFrag: 2048 });
    c.sendRaw(rawRequest({ header: { callId: 3 }, opnum: SetContext.opnum, stubAndVerifier: new Uint8Array(5840 - 24) }));
    expect((await nextPdu(c)).kind).toBe('response');
  });

  it('FIRST while a fragmented request is incomplete -> fault proto_error on the call in progress + close', async () => {
    const c = await sendBound([
      rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
      rawRequest({ header: { callId: 11 } }),
    ]);
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 10, contextId: 0 });
    await expectClosed(c);
  });

  it('... with CONC_MPX negotiated the fault goes on the new call', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    await c.bind({ contexts: [ctx(0)], pfcFlags: PFC_FIRST_LAST | PFC.CONC_MPX });
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }));
    c.sendRaw(rawRequest({ header: { callId: 11 } }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 11, contextId: 0 });
    await expectClosed(c);
  });

  it('... same call_id, other security context, same presentation context -> fault 0x721 + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, new Uint8Array(16));
    const c = await sendBound([
      rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
      rawRequest({ header: { callId: 10, authLength: 16 }, stubAndVerifier: Uint8Array.from([...new Uint8Array(8), ...v.blob]) }),
    ]);
    await expectFault(c, { status: FAULT.sec_pkg_error, dne: false, callId: 10, contextId: 0 });
    await expectClosed(c);
  });

  it('FIRST with PENDING_CANCEL -> fault 0x6bd (no call active), DID_NOT_EXECUTE, + close', async () => {
    const c = await sendBound(rawRequest({ header: { callId: 3, pfcFlags: PFC_FIRST_LAST | PFC.PENDING_CANCEL } }));
    await expectFault(c, { status: FAULT.no_call_active, dne: true, callId: 3, contextId: 0 });
    await expectClosed(c);
  });

  it('unknown p_cont_id -> fault nca_s_unknown_if, DID_NOT_EXECUTE, context 0; connection kept', async () => {
    const c = await sendBound(rawRequest({ header: { callId: 3 }, contextId: 77 }));
    await expectFault(c, { status: FAULT.nca_s_unknown_if, dne: true, callId: 3, contextId: 0 });
    await expectAlive(c);
  });

  it('non-FIRST fragment without a matching call -> fault proto_error + close', async () => {
    const c = await sendBound(rawRequest({ header: { callId: 3, pfcFlags: PFC.LAST_FRAG } }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 3, contextId: 0 });
    await expectClosed(c);
  });

  it('... while another call is being reassembled: the fault goes on that call', async () => {
    const c = await sendBound([
      rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
      rawRequest({ header: { callId: 12, pfcFlags: PFC.LAST_FRAG } }),
    ]);
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 10, contextId: 0 });
    await expectClosed(c);
  });

  it('... with CONC_MPX: unknown context -> unknown_if kept; auth data -> fault 5 + close; else proto_error + close', async () => {
    const l = await startServer();
    const mpx = async (): Promise<RpcClient> => {
      const c = await connectClient(l);
      await c.bind({ contexts: [ctx(0)], pfcFlags: PFC_FIRST_LAST | PFC.CONC_MPX });
      return c;
    };
    const a = await mpx();
    a.sendRaw(rawRequest({ header: { callId: 3, pfcFlags: PFC.LAST_FRAG }, contextId: 9 }));
    await expectFault(a, { status: FAULT.nca_s_unknown_if, dne: true, callId: 3, contextId: 0 });
    await expectAlive(a);
    const b = await mpx();
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, new Uint8Array(16));
    b.sendRaw(rawRequest({ header: { callId: 3, pfcFlags: PFC.LAST_FRAG, authLength: 16 }, stubAndVerifier: Uint8Array.from([...new Uint8Array(8), ...v.blob]) }));
    await expectFault(b, { status: FAULT.access_denied, dne: false, callId: 3, contextId: 0 });
    await expectClosed(b);
    const d = await mpx();
    d.sendRaw(rawRequest({ header: { callId: 3, pfcFlags: PFC.LAST_FRAG } }));
    await expectFault(d, { status: FAULT.nca_s_proto_error, dne: false, callId: 3, contextId: 0 });
    await expectClosed(d);
  });

  it('a fragment whose drep differs from the first -> fault proto_error, DID_NOT_EXECUTE, + close', async () => {
    const c = await sendBound([
      rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
      rawRequest({ header: { callId: 10, pfcFlags: PFC.LAST_FRAG, drep: [0, 0, 0, 0] }, stubAndVerifier: new Uint8Array(8) }),
    ]);
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 10, contextId: 0 });
    await expectClosed(c);
  });

  it('auth data on an unauthenticated connection -> fault 5 (no DID_NOT_EXECUTE) + close', async () => {
    for (const type of [AUTH_TYPE.ntlmssp, AUTH_TYPE.none]) {
      const v = verifier(type, AUTH_LEVEL.integrity, new Uint8Array(16));
      const c = await sendBound(rawRequest({ header: { callId: 3, authLength: 16 }, stubAndVerifier: Uint8Array.from([...new Uint8Array(8), ...v.blob]) }));
      await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 3, contextId: 0 });
      await expectClosed(c);
    }
  });

  it('... but an unknown context is still reported first (unknown_if, kept)', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, new Uint8Array(16));
    const c = await sendBound(rawRequest({ header: { callId: 3, authLength: 16 }, contextId: 5, stubAndVerifier: Uint8Array.from([...new Uint8Array(8), ...v.blob]) }));
    await expectFault(c, { status: FAULT.nca_s_unknown_if, dne: true, callId: 3, contextId: 0 });
    await expectAlive(c);
  });

  it('first fragment with alloc_hint above 4 MiB -> fault 5 + close', async () => {
    const c = await sendBound(rawRequest({ header: { callId: 3, pfcFlags: PFC.FIRST_FRAG }, allocHint: 0x400001, stubAndVerifier: new Uint8Array(8) }));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 3, contextId: 0 });
    await expectClosed(c);
  });

  it('continuation whose alloc_hint exceeds what is left of 4 MiB -> fault 5 on the call + close', async () => {
    const c = await sendBound([
      rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, allocHint: 16, stubAndVerifier: new Uint8Array(8) }),
      rawRequest({ header: { callId: 10, pfcFlags: 0 }, allocHint: 0x400000 - 7, stubAndVerifier: new Uint8Array(8) }),
    ]);
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 10, contextId: 0 });
    await expectClosed(c);
  });

  it('not LAST: stored without a reply, answered after the LAST fragment', async () => {
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: (() => ({ result: 0 })) as never }) });
    const c = await boundClient(l);
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, opnum: SetContext.opnum, stubAndVerifier: Uint8Array.of(1, 0) }));
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: 0 }, opnum: 99, stubAndVerifier: Uint8Array.of(0) }));
    await expectSilence(c);
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: PFC.LAST_FRAG }, opnum: 99, stubAndVerifier: Uint8Array.of(0) }));
    const r = await nextPdu(c);
    // Context and opnum come from the first fragment.
    expect([r.kind, r.header.callId, r.header.pfcFlags]).toEqual(['response', 10, PFC_FIRST_LAST]);
  });

  it('verification trailer that does not match the call -> fault 5, connection kept', async () => {
    const c = await sendBound([]);
    const h2 = (callId: number, opnum: number): Uint8Array => Uint8Array.of(0, 0, 0, 0, 0x10, 0, 0, 0, callId, 0, 0, 0, 0, 0, opnum, 0);
    // Matching HEADER2 + PCONTEXT: accepted and removed from the stub.
    const pctx = Uint8Array.from([...guidToBytes(FSRVP_SYNTAX.uuid), 1, 0, 0, 0, ...guidToBytes(NDR20.uuid), 2, 0, 0, 0]);
    const good = buildVerificationTrailer([{ command: VT_COMMAND.pcontext, body: pctx }, { command: VT_COMMAND.header2, body: h2(20, 0) }]);
    c.sendRaw(rawRequest({ header: { callId: 20 }, stubAndVerifier: good }));
    expect((await nextPdu(c)).kind).toBe('response');
    // HEADER2 with another opnum: access denied, kept.
    const bad = buildVerificationTrailer([{ command: VT_COMMAND.header2, body: h2(21, 5) }]);
    c.sendRaw(rawRequest({ header: { callId: 21 }, stubAndVerifier: bad }));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 21, contextId: 0 });
    // BITMASK1 claiming header signing the bind did not announce.
    const bm = buildVerificationTrailer([{ command: VT_COMMAND.bitmask1, body: Uint8Array.of(1, 0, 0, 0) }]);
    c.sendRaw(rawRequest({ header: { callId: 22 }, stubAndVerifier: bm }));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 22 });
    // An unknown must-process command.
    const mp = buildVerificationTrailer([{ command: 0x0007 | VT_COMMAND.mustProcess, body: new Uint8Array(4) }]);
    c.sendRaw(rawRequest({ header: { callId: 23 }, stubAndVerifier: mp }));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 23 });
    await expectAlive(c);
  });

  it('verification trailer that does not parse is stub data (trailing bytes accepted)', async () => {
    const c = await sendBound([]);
    const broken = Uint8Array.from([...buildVerificationTrailer([{ command: VT_COMMAND.bitmask1, body: Uint8Array.of(1, 0) }])]);
    c.sendRaw(rawRequest({ header: { callId: 20 }, stubAndVerifier: broken }));
    expect((await nextPdu(c)).kind).toBe('response');
  });

  it('opnum >= number of operations -> fault 0x1c010002 with DID_NOT_EXECUTE and the context id; kept', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    await c.bind({ contexts: [ctx(0x0105)] });
    c.sendRaw(rawRequest({ header: { callId: 4 }, contextId: 0x0105, opnum: 13 }));
    await expectFault(c, { status: FAULT.nca_s_op_rng_error, dne: true, callId: 4, contextId: 0x0105 });
    c.sendRaw(rawRequest({ header: { callId: 5 }, contextId: 0x0105, opnum: 0xffff }));
    await expectFault(c, { status: FAULT.nca_s_op_rng_error, dne: true, callId: 5 });
    await expectAlive(c, 0x0105);
  });

  it('stub fails NDR decode -> fault 0x6f7, kept; extra bytes after a valid stub -> accepted', async () => {
    const l = await startServer({ registry: fsrvpRegistry({ IsPathSupported: (() => ({ SupportedByThisProvider: true, OwnerMachineName: null, result: 0 })) as never }) });
    const c = await boundClient(l);
    const good = encode(IsPathSupported.request, { ShareName: '\\\\s\\x\\' });
    const truncated = good.subarray(0, good.length - 1);
    const r1 = await c.call(0, IsPathSupported.opnum, truncated);
    expect(r1.fault?.status).toBe(FAULT.bad_stub_data);
    expect(r1.fault?.header.pfcFlags).toBe(PFC_FIRST_LAST);
    const noTerminator = good.slice();
    noTerminator[noTerminator.length - 2] = 0x41;
    expect((await c.call(0, IsPathSupported.opnum, noTerminator)).fault?.status).toBe(FAULT.bad_stub_data);
    const r2 = await c.call(0, IsPathSupported.opnum, Uint8Array.from([...good, 1, 2, 3, 4, 5]));
    expect(r2.fault).toBeUndefined();
    await expectAlive(c);
  });

  it('the response context id is truncated to 8 bits (as Windows and Samba do)', async () => {
    const l = await startServer();
    const c = await connectClient(l);
    await c.bind({ contexts: [ctx(0x0203)] });
    const r = await c.call(0x0203, 0, new Uint8Array(0));
    expect(r.pdus?.[0]?.contextId).toBe(0x03);
  });
});

describe('§11 other PTYPEs after bind -> fault proto_error, DID_NOT_EXECUTE, + close', () => {
  const others: [string, Uint8Array][] = [
    ['response', encodePdu({ kind: 'response', header: { callId: 8 }, allocHint: 0, contextId: 0, cancelCount: 0, reserved: 0, stubAndVerifier: NO_AUTH })],
    ['fault', encodePdu({ kind: 'fault', header: { callId: 8 }, allocHint: 0, contextId: 0, cancelCount: 0, flags: 0, status: 5, reserved: 0, errorAndVerifier: NO_AUTH })],
    ['bind_ack', encodePdu({ kind: 'bind_ack', header: { callId: 8 }, maxXmitFrag: 1, maxRecvFrag: 1, assocGroupId: 1, secondaryAddress: '', results: [], authInfo: NO_AUTH })],
    ['bind_nak', encodePdu({ kind: 'bind_nak', header: { callId: 8 }, rejectReason: 0, versions: [], pad: NO_AUTH })],
    ['alter_context_resp', encodePdu({ kind: 'alter_context_resp', header: { callId: 8 }, maxXmitFrag: 1, maxRecvFrag: 1, assocGroupId: 1, secondaryAddress: '', results: [], authInfo: NO_AUTH })],
    ['shutdown', encodePdu({ kind: 'shutdown', header: { callId: 8 }, body: NO_AUTH })],
    ['ping', encodePdu({ kind: 'ping', header: { callId: 8 }, body: NO_AUTH })],
    ['working', encodePdu({ kind: 'working', header: { callId: 8 }, body: NO_AUTH })],
    ['nocall', encodePdu({ kind: 'nocall', header: { callId: 8 }, body: new Uint8Array(20) })],
    ['reject', encodePdu({ kind: 'reject', header: { callId: 8 }, body: new Uint8Array(16) })],
    ['ack', encodePdu({ kind: 'ack', header: { callId: 8 }, body: NO_AUTH })],
    ['cl_cancel', encodePdu({ kind: 'cl_cancel', header: { callId: 8 }, body: new Uint8Array(8) })],
    ['fack', encodePdu({ kind: 'fack', header: { callId: 8 }, body: new Uint8Array(20) })],
    ['cancel_ack', encodePdu({ kind: 'cancel_ack', header: { callId: 8 }, body: new Uint8Array(12) })],
    ['rts', encodePdu({ kind: 'rts', header: { callId: 8 }, body: new Uint8Array(4) })],
  ];
  it.each(others)('%s', async (_name, pdu) => {
    const c = await sendBound(pdu);
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 8, contextId: 0 });
    await expectClosed(c);
  });
});

describe('§11 co_cancel and orphaned are ignored', () => {
  it.each(['co_cancel', 'orphaned'] as const)('%s (header only, and with an auth verifier) -> no reply, connection kept', async (kind) => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity);
    const c = await sendBound([
      encodePdu({ kind, header: { callId: 2 }, authInfo: NO_AUTH }),
      encodePdu({ kind, header: { callId: 2, authLength: v.authLength }, authInfo: v.blob }),
    ]);
    await expectSilence(c);
    await expectAlive(c);
  });

  it('each new auth_context_id opens a security context; beyond 2049 -> fault proto_error + close (as Samba)', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    const many: number[] = [];
    for (let id = 1; id <= 2050; id++) {
      const v = buildAuthVerifier({ authType: AUTH_TYPE.ntlmssp, authLevel: AUTH_LEVEL.integrity, authContextId: id, credentials: Uint8Array.of(0, 0, 0, 0) });
      many.push(...encodePdu({ kind: 'orphaned', header: { callId: 30, authLength: 4 }, authInfo: v }));
    }
    c.sendRaw(Uint8Array.from(many));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 30, contextId: 0 });
    await expectClosed(c);
  });

  it('co_cancel between the fragments of a request does not disturb it', async () => {
    const l = await startServer({ registry: fsrvpRegistry({ SetContext: (() => ({ result: 0 })) as never }) });
    const c = await boundClient(l);
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: PFC.FIRST_FRAG }, opnum: SetContext.opnum, stubAndVerifier: Uint8Array.of(1, 0) }));
    c.sendRaw(encodePdu({ kind: 'co_cancel', header: { callId: 10 }, authInfo: NO_AUTH }));
    c.sendRaw(rawRequest({ header: { callId: 10, pfcFlags: PFC.LAST_FRAG }, opnum: SetContext.opnum, stubAndVerifier: Uint8Array.of(0, 0) }));
    expect((await nextPdu(c)).kind).toBe('response');
  });
});
