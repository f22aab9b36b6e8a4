/**
 * DCERPC.md §11, row by row: each bad PDU goes over a real TCP connection to a listener on
 * 127.0.0.1, and the exact reply is checked (PTYPE, status / reason, pfc_flags, call and context
 * ids) together with whether the connection stays usable or is closed.
 * Rows that need a running security context are in dcerpc-auth.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildAuthVerifier } from '../../src/dcerpc/auth-trailer.js';
import {
  AUTH_LEVEL, AUTH_TYPE, BIND_NAK_REASON, FAULT, PFC, PFC_FIRST_LAST, PTYPE,
} from '../../src/dcerpc/constants.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu } from '../../src/dcerpc/pdu-types.js';
import { bindTimeFeatureSyntax, NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import {
  buildVerificationTrailer, VT_COMMAND,
} from '../../src/dcerpc/verification-trailer.js';
import { guidToBytes, encode } from '../../src/ndr/index.js';
import { IsPathSupported, SetContext } from '../../src/fsrvp/idl.js';
import {
  boundClient, cleanupRpc, connectClient, ctx, expectAlive, expectClosed, expectFault, expectNak,
  fsrvpRegistry, FSRVP_SYNTAX, nextPdu, OTHER_SYNTAX, rawBind, rawRequest, startServer,
  twoInterfaceRegistry,
} from '../helpers/rpc.js';
import type { RpcClient } from '../../src/dcerpc/client.js';

afterEach(cleanupRpc);

const NO_AUTH = new Uint8Array(0);

/** An auth verifier blob (no pad) and its auth_length. */
function verifier(authType: number, authLevel: number, credentials = Uint8Array.of(1, 2, 3, 4), extra: { padBytes?: number; authPadLength?: number } = {}) {
  return { blob: buildAuthVerifier({ authType, authLevel, authContextId: 0, credentials, ...extra }), authLength: credentials.length };
}

/** Sends one PDU as the first of a connection. */
async function sendFirst(pdu: Uint8Array, registry = fsrvpRegistry()): Promise<RpcClient> {
  const l = await startServer({ registry });
  const c = await connectClient(l);
  c.sendRaw(pdu);
  return c;
}

/** Sends one PDU on a bound connection. */
async function sendBound(pdu: Uint8Array | Uint8Array[], registry = fsrvpRegistry()): Promise<RpcClient> {
  const l = await startServer({ registry });
  const c = await boundClient(l);
  for (const p of Array.isArray(pdu) ? pdu : [pdu]) c.sendRaw(p);
  return c;
}

/** Nothing arrives within a short time, and the connection is still open. */
async function expectSilence(c: RpcClient): Promise<void> {
  await expect(c.readPdu(150)).rejects.toThrow(/no PDU/);
  expect(c.isClosed).toBe(false);
}

describe('§11 transport level: unparsable input drops the connection without a reply', () => {
  it('frag_length below 16', async () => {
    const c = await sendFirst(Uint8Array.of(5, 0, 11, 3, 0x10, 0, 0, 0, 15, 0, 0, 0, 1, 0, 0, 0));
    await expectClosed(c);
  });

  it('frag_length 0, after a bind', async () => {
    const c = await sendBound(Uint8Array.of(5, 0, 0, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0));
    await expectClosed(c);
  });

  it('unknown PTYPE (21, 255) as first PDU and after bind', async () => {
    for (const ptype of [21, 255]) {
      const pdu = encodePdu({ kind: 'shutdown', header: { ptype, callId: 1 }, body: new Uint8Array(8) });
      await expectClosed(await sendFirst(pdu));
      await expectClosed(await sendBound(pdu));
    }
  });

  it('truncated bodies: a 20-byte request, a bind whose context list runs out, a 28-byte fault', async () => {
    await expectClosed(await sendBound(encodePdu({ kind: 'shutdown', header: { ptype: PTYPE.request, callId: 2 }, body: new Uint8Array(4) })));
    const bind = rawBind();
    const cut = bind.slice(0, bind.length - 10);
    new DataView(cut.buffer).setUint16(8, cut.length, true);
    await expectClosed(await sendFirst(cut));
    await expectClosed(await sendBound(encodePdu({ kind: 'shutdown', header: { ptype: PTYPE.fault, callId: 2 }, body: new Uint8Array(12) })));
  });

  it('a request with PFC_OBJECT_UUID but no room for the UUID', async () => {
    await expectClosed(await sendBound(rawRequest({ header: { callId: 2, pfcFlags: PFC_FIRST_LAST | PFC.OBJECT_UUID } })));
  });

  it('frag_length larger than the bytes sent before end of input', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    c.sendRaw(rawRequest().subarray(0, 20));
    c.endWrite();
    await expectClosed(c);
  });

  it('PDUs before the unframable one are still answered', async () => {
    const l = await startServer();
    const c = await boundClient(l);
    c.sendRaw(Uint8Array.from([...rawRequest({ header: { callId: 5 } }), 5, 0, 0, 3, 0x10, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]));
    const r = await nextPdu(c);
    expect([r.kind, r.header.callId]).toEqual(['response', 5]);
    await expectClosed(c);
  });
});

describe('§11 bind (first PDU)', () => {
  it('first PDU not a bind (request, alter_context, auth3) -> bind_nak 4 + close', async () => {
    const firsts: Uint8Array[] = [
      rawRequest({ header: { callId: 7 } }),
      rawBind({ kind: 'alter_context', header: { callId: 7 } }),
      encodePdu({ kind: 'auth3', header: { callId: 7 }, pad: 0, authInfo: NO_AUTH }),
      encodePdu({ kind: 'co_cancel', header: { callId: 7 }, authInfo: NO_AUTH }),
    ];
    for (const pdu of firsts) {
      const c = await sendFirst(pdu);
      await expectNak(c, BIND_NAK_REASON.protocol_version_not_supported, 7);
      await expectClosed(c);
    }
  });

  it.each([
    ['rpc_vers 4', { rpcVers: 4 }],
    ['rpc_vers_minor 1', { rpcVersMinor: 1 }],
    ['EBCDIC drep', { drep: [0x11, 0, 0, 0] as const }],
    ['VAX floating point drep', { drep: [0x10, 1, 0, 0] as const }],
    ['reserved drep byte set', { drep: [0x10, 0, 0, 1] as const }],
    ['auth_length > frag_length', { authLength: 0xffff }],
    ['auth_length > auth blob - 8', { authLength: 4 }],
  ])('%s -> bind_nak 4 + close', async (_name, header) => {
    const c = await sendFirst(rawBind({ header: { callId: 1, ...header } }));
    await expectNak(c, BIND_NAK_REASON.protocol_version_not_supported, 1);
    await expectClosed(c);
  });

  it('a big-endian bind is accepted (drep 00 00 00 00); the reply is little-endian', async () => {
    const c = await sendFirst(rawBind({ header: { callId: 1, drep: [0, 0, 0, 0] } }));
    const ack = await nextPdu(c);
    expect(ack.kind).toBe('bind_ack');
    expect(ack.header.drep).toEqual([0x10, 0, 0, 0]);
    await expectAlive(c);
  });

  it('unknown assoc_group_id -> bind_nak 0 + close', async () => {
    const c = await sendFirst(rawBind({ assocGroupId: 0x1234 }));
    await expectNak(c, BIND_NAK_REASON.not_specified, 1);
    await expectClosed(c);
  });

  it.each([
    ['no presentation contexts', { contexts: [] }],
    ['a context with no transfer syntax', { contexts: [ctx(0), ctx(1, FSRVP_SYNTAX, [])] }],
    ['two bind-time feature elements', { contexts: [ctx(0), ctx(1, FSRVP_SYNTAX, [bindTimeFeatureSyntax(2)]), ctx(2, FSRVP_SYNTAX, [bindTimeFeatureSyntax(1)])] }],
  ])('%s -> bind_nak 0 + close', async (_name, over) => {
    const c = await sendFirst(rawBind(over));
    await expectNak(c, BIND_NAK_REASON.not_specified, 1);
    await expectClosed(c);
  });

  it('context-id conflict cannot arise in a bind: a repeated id after an acceptance is only validated (2/2)', async () => {
    const c = await sendFirst(rawBind({ contexts: [ctx(0), ctx(0, OTHER_SYNTAX)] }), twoInterfaceRegistry());
    const ack = (await nextPdu(c)) as BindAckPdu;
    expect(ack.results.map((r) => [r.result, r.reason])).toEqual([[0, 0], [2, 2]]);
    await expectAlive(c);
  });

  it('auth trailer with a pad mismatch -> bind_nak 4 + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, undefined, { padBytes: 4, authPadLength: 0 });
    const c = await sendFirst(rawBind({ header: { callId: 1, authLength: v.authLength }, authInfo: v.blob }));
    await expectNak(c, BIND_NAK_REASON.protocol_version_not_supported, 1);
    await expectClosed(c);
  });

  it('auth trailer with an auth_pad_length beyond frag_length -> bind_nak 4 + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, new Uint8Array(8), { padBytes: 0, authPadLength: 200 });
    // (checked before the rule that ignores a pad length with no pad bytes on bind)
    const c = await sendFirst(rawBind({ header: { callId: 1, authLength: 8 }, authInfo: v.blob }));
    await expectNak(c, BIND_NAK_REASON.protocol_version_not_supported, 1);
    await expectClosed(c);
  });

  it.each([0, 1, 7, 255])('auth_level %d -> bind_nak 0 + close (level is checked before the type)', async (level) => {
    const v = verifier(AUTH_TYPE.ntlmssp, level);
    const c = await sendFirst(rawBind({ header: { callId: 1, authLength: v.authLength }, authInfo: v.blob }));
    await expectNak(c, BIND_NAK_REASON.not_specified, 1);
    await expectClosed(c);
  });

  it.each([
    ['NTLMSSP', AUTH_TYPE.ntlmssp], ['SPNEGO', AUTH_TYPE.spnego], ['Kerberos', AUTH_TYPE.krb5], ['none', AUTH_TYPE.none], ['200', 200],
  ])('auth_type %s (no mechanism registered) -> bind_nak 8 + close', async (_name, type) => {
    for (const level of [AUTH_LEVEL.connect, AUTH_LEVEL.privacy]) {
      const v = verifier(type, level);
      const c = await sendFirst(rawBind({ header: { callId: 1, authLength: v.authLength }, authInfo: v.blob }));
      await expectNak(c, BIND_NAK_REASON.authentication_type_not_recognized, 1);
      await expectClosed(c);
    }
  });

  it('all contexts rejected is still a bind_ack; the connection stays and can alter later', async () => {
    const c = await sendFirst(rawBind({ contexts: [ctx(0, OTHER_SYNTAX)] }));
    const ack = (await nextPdu(c)) as BindAckPdu;
    expect(ack.kind).toBe('bind_ack');
    expect(ack.results.map((r) => [r.result, r.reason])).toEqual([[2, 1]]);
    c.sendRaw(rawRequest({ header: { callId: 2 } }));
    await expectFault(c, { status: FAULT.nca_s_unknown_if, dne: true, callId: 2, contextId: 0 });
    expect((await c.alterContext({ contexts: [ctx(0)] })).kind).toBe('alter_context_resp');
    await expectAlive(c);
  });

  it('flags: any pfc_flags combination is accepted on bind', async () => {
    const c = await sendFirst(rawBind({ header: { callId: 1, pfcFlags: 0xff } }));
    const ack = await nextPdu(c);
    expect(ack.kind).toBe('bind_ack');
    // CONC_MPX (a context was created) and SUPPORT_HEADER_SIGN are echoed; nothing else.
    expect(ack.header.pfcFlags).toBe(PFC_FIRST_LAST | PFC.CONC_MPX | PFC.SUPPORT_HEADER_SIGN);
  });
});

describe('§11 second bind', () => {
  it('-> bind_nak 0 + close', async () => {
    const c = await sendBound(rawBind({ header: { callId: 9 } }));
    await expectNak(c, BIND_NAK_REASON.not_specified, 9);
    await expectClosed(c);
  });
});

describe('§11 alter_context', () => {
  const alter = (over: Parameters<typeof rawBind>[0] = {}): Uint8Array =>
    rawBind({ kind: 'alter_context', header: { callId: 4 }, contexts: [ctx(1)], ...over });

  it.each([
    ['rpc_vers_minor 1', { rpcVersMinor: 1 }],
    ['EBCDIC drep', { drep: [0x11, 0, 0, 0] as const }],
    ['auth_length > auth blob - 8', { authLength: 8 }],
  ])('header check fails (%s) -> fault proto_error, DID_NOT_EXECUTE, + close', async (_name, header) => {
    const c = await sendBound(alter({ header: { callId: 4, ...header } }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4, contextId: 0 });
    await expectClosed(c);
  });

  it.each([
    ['no presentation contexts', { contexts: [] }],
    ['a context with no transfer syntax', { contexts: [ctx(1, FSRVP_SYNTAX, [])] }],
  ])('%s -> fault proto_error + close', async (_name, over) => {
    const c = await sendBound(alter(over));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4 });
    await expectClosed(c);
  });

  it('context-id conflict (bound id proposed for another interface) -> fault proto_error + close', async () => {
    const c = await sendBound(alter({ contexts: [ctx(0, OTHER_SYNTAX)] }), twoInterfaceRegistry());
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4, contextId: 0 });
    await expectClosed(c);
  });

  it('a bound id proposed without NDR20 is only rejected (2/2), not a conflict', async () => {
    const c = await sendBound(alter({ contexts: [ctx(0, FSRVP_SYNTAX, [syntaxId('71710533-beba-4937-8319-b5dbef9ccc36', 1)])] }));
    const resp = await nextPdu(c);
    expect(resp.kind === 'alter_context_resp' && resp.results.map((r) => [r.result, r.reason])).toEqual([[2, 2]]);
    await expectAlive(c);
  });

  it('an auth verifier on an unauthenticated connection (unknown type) -> fault 5 + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity);
    const c = await sendBound(alter({ header: { callId: 4, authLength: v.authLength }, authInfo: v.blob }));
    await expectFault(c, { status: FAULT.access_denied, dne: true, callId: 4 });
    await expectClosed(c);
  });

  it('an unparsable auth verifier -> fault proto_error + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity, undefined, { padBytes: 4, authPadLength: 2 });
    const c = await sendBound(alter({ header: { callId: 4, authLength: v.authLength }, authInfo: v.blob }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4 });
    await expectClosed(c);
  });

  it('an alter_context as the first PDU is refused as a bind (bind_nak 4 + close)', async () => {
    const c = await sendFirst(alter());
    await expectNak(c, BIND_NAK_REASON.protocol_version_not_supported, 4);
    await expectClosed(c);
  });

  it('a valid alter gets alter_context_resp and the connection stays', async () => {
    const c = await sendBound(alter());
    const resp = await nextPdu(c);
    expect(resp.kind).toBe('alter_context_resp');
    expect(resp.header.callId).toBe(4);
    await expectAlive(c, 1);
  });
});

describe('§11 auth3', () => {
  it('without a running handshake (no verifier) -> fault proto_error + close', async () => {
    const c = await sendBound(encodePdu({ kind: 'auth3', header: { callId: 6 }, pad: 0, authInfo: NO_AUTH }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 6, contextId: 0 });
    await expectClosed(c);
  });

  it('without a running handshake (with a verifier) -> fault proto_error + close', async () => {
    const v = verifier(AUTH_TYPE.ntlmssp, AUTH_LEVEL.integrity);
    const c = await sendBound(encodePdu({ kind: 'auth3', header: { callId: 6, authLength: v.authLength }, pad: 0, authInfo: v.blob }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 6 });
    await expectClosed(c);
  });
});

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
