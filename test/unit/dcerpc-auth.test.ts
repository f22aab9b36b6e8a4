/**
 * The AuthProvider seam, exercised with a toy mechanism (auth_type 250): three-leg (bind, auth3)
 * and four-leg (bind, alter) handshakes, signed and sealed requests and responses, and the §11
 * rows that need a security context to exist. Real mechanisms (NTLMSSP) plug in the same way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildAuthVerifier } from '../../src/dcerpc/auth-trailer.js';
import { AUTH_LEVEL, BIND_NAK_REASON, FAULT, PFC } from '../../src/dcerpc/constants.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import type { ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { decode, encode } from '../../src/ndr/index.js';
import { IsPathSupported, SetContext } from '../../src/fsrvp/idl.js';
import { cleanupRpc, connectClient, expectClosed, expectFault, expectNak, nextPdu, rawBind, rawRequest } from '../helpers/rpc.js';
import {
  TOY, TOY_USER, auth3, authBind, authenticated, openResponse, protectedRequest, readRaw, seen,
  server, startHandshake, te,
} from '../helpers/toy-auth.js';

afterEach(cleanupRpc);

describe('three-leg handshake (bind, bind_ack, auth3) and protected calls', () => {
  it.each([
    ['integrity', AUTH_LEVEL.integrity], ['packet', AUTH_LEVEL.packet], ['privacy', AUTH_LEVEL.privacy],
  ])('%s: signed request, signed response, identity from the mechanism', async (_n, level) => {
    const l = await server();
    const c = await authenticated(level, l);
    seen.caller = undefined;
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 7 }), level));
    const { bytes, pdu } = await readRaw(c);
    expect(pdu.kind).toBe('response');
    const stub = openResponse(bytes, pdu as ResponsePdu, level);
    expect(decode(SetContext.response, stub).value).toEqual({ result: 0 });
    expect(seen.caller).toEqual(TOY_USER);
    if (level === AUTH_LEVEL.privacy) expect(Buffer.from(bytes.subarray(24, 28)).equals(Buffer.from(stub.subarray(0, 4)))).toBe(false);
  });

  it('large protected responses are fragmented with room for pad, sec_trailer and signature', async () => {
    const l = await server();
    const c = await connectClient(l);
    const credentials = te('NEGOTIATE');
    c.sendRaw(rawBind({ maxXmitFrag: 2048, maxRecvFrag: 2048, header: { callId: 1, authLength: credentials.length },
      authInfo: buildAuthVerifier({ authType: TOY, authLevel: AUTH_LEVEL.integrity, authContextId: 0, credentials }) }));
    expect((await nextPdu(c)).kind).toBe('bind_ack');
    c.sendRaw(auth3('AUTHENTICATE', AUTH_LEVEL.integrity));
    c.sendRaw(protectedRequest(4, IsPathSupported.opnum, encode(IsPathSupported.request, { ShareName: '\\\\a\\b\\' }), AUTH_LEVEL.integrity));
    const parts: Uint8Array[] = [];
    for (;;) {
      const { bytes, pdu } = await readRaw(c);
      const r = pdu as ResponsePdu;
      expect(bytes.length).toBeLessThanOrEqual(2048);
      const stub = openResponse(bytes, r, AUTH_LEVEL.integrity);
      if (!(r.header.pfcFlags & PFC.LAST_FRAG)) expect(stub.length).toBe(2048 - 24 - 8 - 16);
      parts.push(stub);
      if (r.header.pfcFlags & PFC.LAST_FRAG) break;
    }
    expect(parts.length).toBeGreaterThan(2);
    const all = Buffer.concat(parts);
    expect(decode(IsPathSupported.response, all).value.OwnerMachineName).toBe('Y'.repeat(3000));
  });

  it('after an authenticated bind a request without a verifier runs unauthenticated (Samba does the same)', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    seen.caller = undefined;
    c.sendRaw(rawRequest({ header: { callId: 4 }, opnum: SetContext.opnum, stubAndVerifier: encode(SetContext.request, { Context: 1 }) }));
    const r = await nextPdu(c);
    expect([r.kind, r.header.authLength]).toEqual(['response', 0]);
    expect((seen.caller as CallerIdentity | undefined)?.source).toBe('config');
  });
});

describe('§11 bind rows that need a mechanism', () => {
  it('known auth_type that fails to start -> bind_nak 9 + close', async () => {
    const l = await server({ failStart: true });
    const c = await connectClient(l);
    c.sendRaw(authBind('NEGOTIATE', AUTH_LEVEL.integrity));
    await expectNak(c, BIND_NAK_REASON.invalid_checksum, 1);
    await expectClosed(c);
  });

  it('the mechanism rejects the token -> bind_nak 0 + close', async () => {
    const l = await server();
    const c = await connectClient(l);
    c.sendRaw(authBind('GARBAGE', AUTH_LEVEL.integrity));
    await expectNak(c, BIND_NAK_REASON.not_specified, 1);
    await expectClosed(c);
  });

  it('a registered mechanism still needs a valid level (0 -> bind_nak 0)', async () => {
    const l = await server();
    const c = await connectClient(l);
    c.sendRaw(authBind('NEGOTIATE', 0));
    await expectNak(c, BIND_NAK_REASON.not_specified, 1);
  });
});

describe('§11 auth3 rows', () => {
  it('header check failure during the handshake -> fault proto_error + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(auth3('AUTHENTICATE', AUTH_LEVEL.integrity, { header: { rpcVersMinor: 1 } }));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 3 });
    await expectClosed(c);
  });

  it('bad auth3 trailer -> fault nca_s_fault_remote_no_memory + close', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(auth3('AUTHENTICATE', AUTH_LEVEL.integrity, { padBytes: 4, authPadLength: 0 }));
    await expectFault(c, { status: FAULT.nca_s_fault_remote_no_memory, dne: true, callId: 3 });
    await expectClosed(c);
  });

  it.each<[string, { level?: number; token?: string }]>([
    ['level mismatch', { level: AUTH_LEVEL.privacy }],
    ['mechanism failure', { token: 'NOPE' }],
  ])('%s -> no reply; the next protected request -> fault proto_error + close', async (_n, v) => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(auth3(v.token ?? 'AUTHENTICATE', v.level ?? AUTH_LEVEL.integrity));
    await expect(c.readPdu(150)).rejects.toThrow(/no PDU/);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 4 });
    await expectClosed(c);
  });

  it('auth3 that makes the mechanism answer a token -> no reply, context unusable (fault 5 + close)', async () => {
    const l = await server();
    const c = await startHandshake(AUTH_LEVEL.integrity, l);
    c.sendRaw(auth3('AUTH+TOKEN', AUTH_LEVEL.integrity));
    await expect(c.readPdu(150)).rejects.toThrow(/no PDU/);
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 0 }), AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.access_denied, dne: false, callId: 4 });
    await expectClosed(c);
  });

  it('auth3 after the handshake finished -> fault proto_error + close', async () => {
    const l = await server();
    const c = await authenticated(AUTH_LEVEL.integrity, l);
    c.sendRaw(auth3('AUTHENTICATE', AUTH_LEVEL.integrity));
    await expectFault(c, { status: FAULT.nca_s_proto_error, dne: true, callId: 3 });
    await expectClosed(c);
  });
});
