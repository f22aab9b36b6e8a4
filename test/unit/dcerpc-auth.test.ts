/**
 * The AuthProvider seam, exercised with a toy mechanism (auth_type 250): three-leg (bind, auth3)
 * and four-leg (bind, alter) handshakes, signed and sealed requests and responses, and the §11
 * rows that need a security context to exist. Real mechanisms (NTLMSSP) plug in the same way.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthProvider, AuthSession, AuthStep, PacketProtection } from '../../src/dcerpc/auth.js';
import { authPadFor, buildAuthVerifier, pullAuthTrailer } from '../../src/dcerpc/auth-trailer.js';
import {
  AUTH_LEVEL, BIND_NAK_REASON, FAULT, PFC, PFC_FIRST_LAST,
} from '../../src/dcerpc/constants.js';
import type { RpcClient } from '../../src/dcerpc/client.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu, Pdu, ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { decode, encode } from '../../src/ndr/index.js';
import { IsPathSupported, SetContext } from '../../src/fsrvp/idl.js';
import {
  cleanupRpc, connectClient, ctx, expectClosed, expectFault, expectNak, fsrvpRegistry, nextPdu,
  rawBind, rawRequest, startServer,
} from '../helpers/rpc.js';

afterEach(cleanupRpc);

const TOY = 250;
const SIG = 16;
const te = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s));
const td = (b: Uint8Array): string => Buffer.from(b).toString();
const TOY_USER: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1000'], accountName: 'toy' };

function mac(data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac('sha256', 'toy-key').update(data).digest().subarray(0, SIG));
}
function xorInPlace(b: Uint8Array, from: number, len: number): void {
  for (let i = from; i < from + len; i++) b[i] = (b[i] as number) ^ 0x5a;
}

/** Tokens: NEGOTIATE -> continue(CHALLENGE); AUTHENTICATE -> done(""); AUTHENTICATE4 -> done(FINAL); ONESHOT -> done(WELCOME); AUTH+TOKEN -> done(EXTRA). */
class ToySession implements AuthSession {
  async update(token: Uint8Array): Promise<AuthStep> {
    switch (td(token)) {
      case 'NEGOTIATE': return { status: 'continue', token: te('CHALLENGE') };
      case 'AUTHENTICATE': return { status: 'done', token: new Uint8Array(0), identity: TOY_USER };
      case 'AUTHENTICATE4': return { status: 'done', token: te('FINAL'), identity: TOY_USER };
      case 'ONESHOT': return { status: 'done', token: te('WELCOME'), identity: TOY_USER };
      case 'AUTH+TOKEN': return { status: 'done', token: te('EXTRA'), identity: TOY_USER };
      default: return { status: 'rejected', reason: `bad token ${td(token)}` };
    }
  }
  signatureSize(): number {
    return SIG;
  }
  unwrap(p: PacketProtection & { signature: Uint8Array }): boolean {
    if (p.authLevel === AUTH_LEVEL.privacy) xorInPlace(p.pdu, p.payloadOffset, p.payloadLength);
    return Buffer.from(mac(p.pdu.subarray(0, p.signedLength))).equals(Buffer.from(p.signature));
  }
  wrap(p: PacketProtection): Uint8Array {
    const sig = mac(p.pdu.subarray(0, p.signedLength));
    if (p.authLevel === AUTH_LEVEL.privacy) xorInPlace(p.pdu, p.payloadOffset, p.payloadLength);
    return sig;
  }
}

function toyProvider(opts: { failStart?: boolean } = {}): AuthProvider {
  return { authType: TOY, name: 'toy', start: () => (opts.failStart ? undefined : new ToySession()) };
}

function authBind(token: string, level: number, callId = 1, over: { authContextId?: number } = {}): Uint8Array {
  const credentials = te(token);
  return rawBind({
    header: { callId, authLength: credentials.length },
    authInfo: buildAuthVerifier({ authType: TOY, authLevel: level, authContextId: over.authContextId ?? 0, credentials }),
  });
}

function auth3(token: string, level: number, over: { authType?: number; authContextId?: number; header?: object; padBytes?: number; authPadLength?: number } = {}): Uint8Array {
  const credentials = te(token);
  return encodePdu({
    kind: 'auth3',
    header: { callId: 3, authLength: credentials.length, ...over.header },
    pad: 0,
    authInfo: buildAuthVerifier({
      authType: over.authType ?? TOY, authLevel: level, authContextId: over.authContextId ?? 0, credentials,
      padBytes: over.padBytes, authPadLength: over.authPadLength,
    }),
  });
}

/** A protected request the way a client mechanism would build it. */
function protectedRequest(callId: number, opnum: number, stub: Uint8Array, level: number,
  over: { pfcFlags?: number; corrupt?: boolean; authContextId?: number; contextId?: number } = {}): Uint8Array {
  const pad = authPadFor(stub.length);
  const trailer = buildAuthVerifier({ authType: TOY, authLevel: level, authContextId: over.authContextId ?? 0, credentials: new Uint8Array(SIG), padBytes: pad });
  const pdu = encodePdu({
    kind: 'request',
    header: { callId, authLength: SIG, pfcFlags: over.pfcFlags ?? PFC_FIRST_LAST },
    allocHint: stub.length, contextId: over.contextId ?? 0, opnum,
    stubAndVerifier: Uint8Array.from([...stub, ...trailer]),
  });
  const sig = mac(pdu.subarray(0, pdu.length - SIG));
  if (level === AUTH_LEVEL.privacy) xorInPlace(pdu, 24, stub.length + pad);
  if (over.corrupt) sig[0] = (sig[0] as number) ^ 1;
  pdu.set(sig, pdu.length - SIG);
  return pdu;
}

/** Checks a protected response fragment and returns its stub. */
function openResponse(bytes: Uint8Array, p: ResponsePdu, level: number): Uint8Array {
  expect(p.header.authLength).toBe(SIG);
  const t = pullAuthTrailer(p.header, p.stubAndVerifier, false);
  expect(t.auth).toMatchObject({ authType: TOY, authLevel: level, authContextId: 0 });
  const payloadLength = p.stubAndVerifier.length - t.trailerLength;
  expect(payloadLength % 16).toBe(0);
  const copy = new Uint8Array(bytes);
  if (level === AUTH_LEVEL.privacy) xorInPlace(copy, 24, payloadLength);
  expect(Buffer.from(mac(copy.subarray(0, copy.length - SIG))).equals(Buffer.from(t.auth.credentials))).toBe(true);
  return copy.subarray(24, 24 + payloadLength - t.auth.authPadLength);
}

async function readRaw(c: RpcClient): Promise<{ bytes: Uint8Array; pdu: Pdu }> {
  const bytes = await c.readPdu(3000);
  if (bytes === null) throw new Error('closed');
  const { decodePdu } = await import('../../src/dcerpc/pdu.js');
  return { bytes, pdu: decodePdu(bytes) };
}

let seenCaller: CallerIdentity | undefined;
function registry() {
  return fsrvpRegistry({
    SetContext: ((_req: unknown, c: { caller: CallerIdentity }) => {
      seenCaller = c.caller;
      return { result: 0 };
    }) as never,
    IsPathSupported: (() => ({ SupportedByThisProvider: true, OwnerMachineName: 'Y'.repeat(3000), result: 0 })) as never,
  });
}

async function server(opts: { failStart?: boolean; allowAuthLevelConnect?: boolean } = {}) {
  return startServer({ registry: registry(), authProviders: [toyProvider(opts)], allowAuthLevelConnect: opts.allowAuthLevelConnect });
}

/** bind(NEGOTIATE) -> bind_ack(CHALLENGE) on a new connection. */
async function startHandshake(level: number, l: { port: number }): Promise<RpcClient> {
  const c = await connectClient(l);
  c.sendRaw(authBind('NEGOTIATE', level));
  const ack = (await nextPdu(c)) as BindAckPdu;
  expect(ack.kind).toBe('bind_ack');
  expect(ack.header.authLength).toBe(9);
  const t = pullAuthTrailer(ack.header, ack.authInfo, true);
  expect(t.auth).toMatchObject({ authType: TOY, authLevel: level, authPadLength: 0, authContextId: 0 });
  expect(td(t.auth.credentials)).toBe('CHALLENGE');
  return c;
}

async function authenticated(level: number, l: { port: number }): Promise<RpcClient> {
  const c = await startHandshake(level, l);
  c.sendRaw(auth3('AUTHENTICATE', level));
  return c;
}

describe('three-leg handshake (bind, bind_ack, auth3) and protected calls', () => {
  it.each([
    ['integrity', AUTH_LEVEL.integrity], ['packet', AUTH_LEVEL.packet], ['privacy', AUTH_LEVEL.privacy],
  ])('%s: signed request, signed response, identity from the mechanism', async (_n, level) => {
    const l = await server();
    const c = await authenticated(level, l);
    seenCaller = undefined;
    c.sendRaw(protectedRequest(4, SetContext.opnum, encode(SetContext.request, { Context: 7 }), level));
    const { bytes, pdu } = await readRaw(c);
    expect(pdu.kind).toBe('response');
    const stub = openResponse(bytes, pdu as ResponsePdu, level);
    expect(decode(SetContext.response, stub).value).toEqual({ result: 0 });
    expect(seenCaller).toEqual(TOY_USER);
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
    seenCaller = undefined;
    c.sendRaw(rawRequest({ header: { callId: 4 }, opnum: SetContext.opnum, stubAndVerifier: encode(SetContext.request, { Context: 1 }) }));
    const r = await nextPdu(c);
    expect([r.kind, r.header.authLength]).toEqual(['response', 0]);
    expect((seenCaller as CallerIdentity | undefined)?.source).toBe('config');
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
      seenCaller = undefined;
      c.sendRaw(rawRequest({ header: { callId: 4 }, opnum: SetContext.opnum, stubAndVerifier: encode(SetContext.request, { Context: 0 }) }));
      if (allow) {
        expect((await nextPdu(c)).kind).toBe('response');
        expect(seenCaller).toEqual(TOY_USER);
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
