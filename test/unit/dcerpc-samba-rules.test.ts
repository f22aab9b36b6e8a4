/**
 * DCERPC.md §11, row by row: each bad PDU goes over a real TCP connection to a listener on
 * 127.0.0.1, and the exact reply is checked (PTYPE, status / reason, pfc_flags, call and context
 * ids) together with whether the connection stays usable or is closed.
 * Rows that need a running security context are in dcerpc-auth*.test.ts; the request rows in dcerpc-samba-rules-request.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH_LEVEL, AUTH_TYPE, BIND_NAK_REASON, FAULT, PFC, PFC_FIRST_LAST, PTYPE } from '../../src/dcerpc/constants.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu } from '../../src/dcerpc/pdu-types.js';
import { bindTimeFeatureSyntax, syntaxId } from '../../src/dcerpc/syntax.js';
import {
  boundClient, cleanupRpc, ctx, expectAlive, expectClosed, expectFault, expectNak, FSRVP_SYNTAX,
  nextPdu, OTHER_SYNTAX, rawBind, rawRequest, startServer, twoInterfaceRegistry,
} from '../helpers/rpc.js';
import { NO_AUTH, sendBound, sendFirst, verifier } from '../helpers/rpc-rules.js';

afterEach(cleanupRpc);

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
