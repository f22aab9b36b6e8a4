/**
 * The AuthProvider seam with the toy mechanism (helpers/toy-auth.ts), continued from
 * dcerpc-auth.test.ts: the §11 request rows that need a security context, and the four-leg
 * handshake over alter_context with its §11 rows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildAuthVerifier, pullAuthTrailer } from '../../src/dcerpc/auth-trailer.js';
import { AUTH_LEVEL, FAULT, PFC } from '../../src/dcerpc/constants.js';
import type { BindAckPdu, ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { decode, encode } from '../../src/ndr/index.js';
import { SetContext } from '../../src/fsrvp/idl.js';
import { cleanupRpc, connectClient, ctx, expectClosed, expectFault, nextPdu, rawBind, rawRequest } from '../helpers/rpc.js';
import {
  TOY, TOY_USER, authBind, authenticated, openResponse, protectedRequest, readRaw, seen, server,
  startHandshake, td, te,
} from '../helpers/toy-auth.js';

afterEach(cleanupRpc);

describe('§11 request rows that need a security context', () => {
  it('handshake started but unfinished -> fault proto_error, DID_NOT_EXECUTE, + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4 });
    await expectClosed(c);
  });

  it('bad signature -> fault 0x721 + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.integrity, { corrupt: true }));
    await expectFault(c, { status: FAULT.sec_pkg_error, dne: false, callId: 4, contextId: 0 });
    await expectClosed(c);
  });

  it('auth level differs from the context -> fault 5 + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.privacy));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 4 });
    await expectClosed(c);
  });

  it('verifier missing on a later fragment at a protected level -> fault proto_error + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, Uint8Array.of(1, 0), AUTH_LEVEL.integrity, { pfcFlags: PFC.FIRST_FRAG }));
    c.sendRaw(rawRequest({ header: { callId: 4, pfcFlags: PFC.LAST_FRAG }, opnum: SetContext.opnum, stubAndVerifier: Uint8Array.of(0, 0) }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: false, callId: 4, contextId: 0 });
    await expectClosed(c);
  });

  it('protected fragments reassemble', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.privacy, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, Uint8Array.of(9, 0), AUTH_LEVEL.privacy, { pfcFlags: PFC.FIRST_FRAG }));
    c.sendRaw(protectedRequest(4, SetContext.opnum, Uint8Array.of(0, 0), AUTH_LEVEL.privacy, { pfcFlags: PFC.LAST_FRAG }));
    const { bytes, pdu } = await readRaw(c);
    expect(decode(SetContext.response, openResponse(bytes, pdu as ResponsePdu, AUTH_LEVEL.privacy)).value).toEqual({ result: 0 });
  });

  it('level call (3): accepted at bind, every request -> fault nca_s_unsupported_authn_level + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.call, l);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.call));
    await expectFault(c, { status: FAULT.nca_s_unsupported_authn_level, dne: false, callId: 4 });
    await expectClosed(c);
  });

  it('level connect: fault 5 with the connection kept, unless allowed', async () => {
    for (const allow of [false, true]) {
      const l = await server({ allowAuthLevelConnect: allow });
      const c = await connectClient(l);
      c.sendRaw(authBind('ONESHOT', AUTH_LEVEL.connect));
      const ack = (await nextPdu(c)) as BindAckPdu;
      expect(td(pullAuthTrailer(ack.header, ack.authInfo, true).auth.credentials)).toBe('WELCOME');
      seen.caller = undefined;
      c.sendRaw(rawRequest({ header: { callId: 4 }, opnum: SetContext.opnum, stubAndVerifier: encode(SetContext.request, { Context: 0 }) }));
      if (allow) {
        expect((await nextPdu(c)).kind).toBe('response');
        expect(seen.caller).toEqual(TOY_USER);
      } else {
        await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 4, contextId: 0 });
        expect(c.isClosed).toBe(false);
      }
    }
  });
});

describe('four-leg handshake over alter_context and §11 alter auth rows', () => {
  function authAlter(token: string, level: number, authType = TOY): Uint8Array {
    const credentials = te(token);
    return rawBind({ kind: 'alter_context', header: { callId: 5, authLength: credentials.length },
      authInfo: buildAuthVerifier({ authType, authLevel: level, authContextId: 0, credentials }) });
  }

  it('bind, bind_ack, alter_context, alter_context_resp(final token), then protected calls', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(authAlter('AUTHENTICATE4', AUTH_LEVEL.integrity));
    const resp = await nextPdu(c);
    expect(resp.kind).toBe('alter_context_resp');
    if (resp.kind !== 'alter_context_resp') return;
    expect(td(pullAuthTrailer(resp.header, resp.authInfo, true).auth.credentials)).toBe('FINAL');
    c.sendRaw(protectedRequest(6, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.integrity));
    const { bytes, pdu } = await readRaw(c);
    expect(openResponse(bytes, pdu as ResponsePdu, AUTH_LEVEL.integrity).length).toBe(4);
  });

  it('alter with another auth_type during the handshake -> fault 0x721 + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(authAlter('AUTHENTICATE4', AUTH_LEVEL.integrity, 10));
    await expectFault(c, { status: FAULT.sec_pkg_error, dne: true, callId: 5 });
    await expectClosed(c);
  });

  it('alter with another level during the handshake -> fault 5 + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(authAlter('AUTHENTICATE4', AUTH_LEVEL.privacy));
    await expectFault(c, { status: FAULT.access_denied, dne: true, callId: 5 });
    await expectClosed(c);
  });

  it('alter the mechanism rejects -> fault 0x721 + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(authAlter('NOPE', AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.sec_pkg_error, dne: true, callId: 5 });
    await expectClosed(c);
  });

  it('alter with a verifier after the handshake finished -> fault 5 + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    c.sendRaw(authAlter('AUTHENTICATE4', AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.access_denied, dne: true, callId: 5 });
    await expectClosed(c);
  });

  it('a pure context change (no verifier) works on an authenticated connection', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    const r = await c.alterContext({ contexts: [ctx(1)] });
    expect(r.kind).toBe('alter_context_resp');
  });
});
