/**
 * GssContext -> AuthProvider adapter (src/security/dcerpc-provider.ts) through RpcConnection over
 * TCP, with a toy mechanism whose signatures include per-direction sequence numbers (as NTLMSSP's
 * do): three-leg handshake, protected calls, tampering, and the Samba 4.17 bug we do not copy —
 * a request refused for an unknown context or opnum still consumes its verifier.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PacketProtection } from '../../src/dcerpc/auth.js';
import { authPadFor, buildAuthVerifier, pullAuthTrailer } from '../../src/dcerpc/auth-trailer.js';
import { AUTH_LEVEL, AUTH_TYPE, FAULT, PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu, ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { decode, encode } from '../../src/ndr/index.js';
import { SetContext } from '../../src/fsrvp/idl.js';
import type { GssContext, GssFlags, GssStep } from '../../src/security/gss.js';
import { effectiveIdentity, hostAuthProviders } from '../../src/security/dcerpc-provider.js';
import { cleanupRpc, connectClient, expectClosed, expectFault, fsrvpRegistry, nextPdu, rawBind, startServer } from '../helpers/rpc.js';
import type { RpcClient } from '../../src/dcerpc/client.js';

afterEach(cleanupRpc);

const SIG = 16;
const USER: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-9-9-9-1001'], accountName: 'alice', domainName: 'HOST' };
const te = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s));

function mac(seq: number, data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac('sha256', `k${seq}`).update(data).digest().subarray(0, SIG));
}
function xor(b: Uint8Array, from: number, len: number): void {
  for (let i = from; i < from + len; i++) b[i] = (b[i] as number) ^ 0x33;
}

/** Acceptor: NEG -> continue(CHAL); AUTH -> done; anything else rejected. Sequence numbers per direction. */
class SeqAcceptor implements GssContext {
  readonly mechOid = '1.3.6.1.4.1.311.2.2.10';
  established = false;
  recvSeq = 0;
  sendSeq = 0;
  constructor(readonly flags: GssFlags, private readonly identity: CallerIdentity | undefined) {}
  async step(token: Uint8Array): Promise<GssStep> {
    const t = Buffer.from(token).toString();
    if (t === 'NEG') return { status: 'continue', token: te('CHAL') };
    if (t === 'AUTH') {
      this.established = true;
      return { status: 'done', token: new Uint8Array(0), identity: this.identity };
    }
    return { status: 'rejected', reason: 'wrong password' };
  }
  sessionKey(): Uint8Array { return new Uint8Array(16); }
  getMic(): Uint8Array { return new Uint8Array(SIG); }
  verifyMic(): boolean { return true; }
  signatureSize(): number { return SIG; }
  wrapPdu(p: PacketProtection): Uint8Array {
    const sig = mac(this.sendSeq++, p.pdu.subarray(0, p.signedLength));
    if (p.authLevel === AUTH_LEVEL.privacy) xor(p.pdu, p.payloadOffset, p.payloadLength);
    return sig;
  }
  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    if (p.authLevel === AUTH_LEVEL.privacy) xor(p.pdu, p.payloadOffset, p.payloadLength);
    return Buffer.from(mac(this.recvSeq++, p.pdu.subarray(0, p.signedLength))).equals(Buffer.from(p.signature));
  }
}

let lastFlags: GssFlags | undefined;
let calls = 0;
async function server(identity: CallerIdentity | null = USER) {
  const registry = fsrvpRegistry({
    SetContext: ((_r: unknown, c: { caller: CallerIdentity }) => {
      calls++;
      const { clientAddress: _address, ...who } = c.caller; // the transport's address is added for the logs
      expect(who).toEqual(identity);
      return { result: 0 };
    }) as never,
  });
  const authProviders = hostAuthProviders({ ntlm: (flags) => { lastFlags = flags; return new SeqAcceptor(flags, identity ?? undefined); } });
  return startServer({ registry, authProviders });
}

/** Client side of the toy mechanism: its own send counter. */
class ToyClient {
  seq = 0;
  rseq = 0;
  constructor(readonly c: RpcClient, readonly level: number) {}
  request(callId: number, opnum: number, stub: Uint8Array, over: { contextId?: number; corrupt?: boolean } = {}): void {
    const pad = authPadFor(stub.length);
    const trailer = buildAuthVerifier({ authType: AUTH_TYPE.ntlmssp, authLevel: this.level, authContextId: 0, credentials: new Uint8Array(SIG), padBytes: pad });
    const pdu = encodePdu({
      kind: 'request', header: { callId, authLength: SIG, pfcFlags: PFC_FIRST_LAST },
      allocHint: stub.length, contextId: over.contextId ?? 0, opnum, stubAndVerifier: Uint8Array.from([...stub, ...trailer]),
    });
    const sig = mac(this.seq++, pdu.subarray(0, pdu.length - SIG));
    if (this.level === AUTH_LEVEL.privacy) xor(pdu, 24, stub.length + pad);
    if (over.corrupt) pdu[25] = (pdu[25] as number) ^ 1;
    pdu.set(sig, pdu.length - SIG);
    this.c.sendRaw(pdu);
  }
  async response(): Promise<Uint8Array> {
    const bytes = await this.c.readPdu(3000);
    if (bytes === null) throw new Error('closed');
    const p = decodePdu(bytes) as ResponsePdu;
    expect(p.kind).toBe('response');
    const t = pullAuthTrailer(p.header, p.stubAndVerifier, false);
    const len = p.stubAndVerifier.length - t.trailerLength;
    const copy = new Uint8Array(bytes);
    if (this.level === AUTH_LEVEL.privacy) xor(copy, 24, len);
    expect(Buffer.from(mac(this.rseq++, copy.subarray(0, copy.length - SIG))).equals(Buffer.from(t.auth.credentials))).toBe(true);
    return copy.subarray(24, 24 + len - t.auth.authPadLength);
  }
}

async function login(l: { port: number }, level: number, final = 'AUTH', pfcFlags = PFC_FIRST_LAST): Promise<ToyClient> {
  const c = await connectClient(l);
  const neg = te('NEG');
  c.sendRaw(rawBind({ header: { callId: 1, authLength: neg.length, pfcFlags },
    authInfo: buildAuthVerifier({ authType: AUTH_TYPE.ntlmssp, authLevel: level, authContextId: 0, credentials: neg }) }));
  const ack = (await nextPdu(c)) as BindAckPdu;
  expect(ack.kind).toBe('bind_ack');
  expect(Buffer.from(pullAuthTrailer(ack.header, ack.authInfo, true).auth.credentials).toString()).toBe('CHAL');
  const tok = te(final);
  c.sendRaw(encodePdu({ kind: 'auth3', header: { callId: 2, authLength: tok.length }, pad: 0,
    authInfo: buildAuthVerifier({ authType: AUTH_TYPE.ntlmssp, authLevel: level, authContextId: 0, credentials: tok }) }));
  return new ToyClient(c, level);
}

const setCtx = (): Uint8Array => encode(SetContext.request, { Context: 7 });

describe('GSS adapter through RpcConnection', () => {
  it.each([['integrity', AUTH_LEVEL.integrity], ['privacy', AUTH_LEVEL.privacy]])('%s: bind, auth3, protected calls in sequence', async (_n, level) => {
    const l = await server();
    const t = await login(l, level, 'AUTH', PFC_FIRST_LAST | 0x04);
    expect(lastFlags).toEqual({ integrity: true, confidentiality: level === AUTH_LEVEL.privacy, headerSigning: true, dceStyle: false });
    calls = 0;
    for (let i = 0; i < 3; i++) {
      t.request(10 + i, SetContext.opnum, setCtx());
      expect(decode(SetContext.response, await t.response()).value).toEqual({ result: 0 });
    }
    expect(calls).toBe(3);
  });

  it('a request for an unknown context consumes its verifier: the next request still verifies', async () => {
    const l = await server();
    const t = await login(l, AUTH_LEVEL.integrity);
    t.request(5, SetContext.opnum, setCtx(), { contextId: 9 });
    await expectFault(t.c, { status: FAULT.nca_s_unknown_if, dne: true, callId: 5 });
    t.request(6, SetContext.opnum, setCtx());
    expect(decode(SetContext.response, await t.response()).value).toEqual({ result: 0 });
  });

  it('a request for an unknown opnum consumes its verifier: the next request still verifies', async () => {
    const l = await server();
    const t = await login(l, AUTH_LEVEL.privacy);
    t.request(5, 99, setCtx());
    await expectFault(t.c, { status: FAULT.nca_s_op_rng_error, dne: true, callId: 5 });
    t.request(6, SetContext.opnum, setCtx());
    expect(decode(SetContext.response, await t.response()).value).toEqual({ result: 0 });
  });

  it.each([['signed', AUTH_LEVEL.integrity], ['sealed', AUTH_LEVEL.privacy]])('tampered %s request: fault 0x721 and close; other connections unaffected', async (_n, level) => {
    const l = await server();
    const other = await login(l, level);
    const t = await login(l, level);
    calls = 0;
    t.request(5, SetContext.opnum, setCtx(), { corrupt: true });
    await expectFault(t.c, { status: FAULT.sec_pkg_error, dne: false, callId: 5 });
    await expectClosed(t.c);
    expect(calls).toBe(0);
    other.request(5, SetContext.opnum, setCtx());
    expect(decode(SetContext.response, await other.response()).value).toEqual({ result: 0 });
  });

  it('wrong AUTHENTICATE in auth3: no reply, then the first request faults proto_error and closes, no call runs', async () => {
    const l = await server();
    const t = await login(l, AUTH_LEVEL.integrity, 'WRONG');
    calls = 0;
    t.request(5, SetContext.opnum, setCtx());
    await expectFault(t.c, { status: FAULT.nca_s_proto_error, dne: true, callId: 5 });
    await expectClosed(t.c);
    expect(calls).toBe(0);
  });

  it('a mechanism that completes without an identity does not authenticate', async () => {
    const l = await server(null);
    const t = await login(l, AUTH_LEVEL.integrity);
    t.request(5, SetContext.opnum, setCtx());
    await expectFault(t.c, { status: FAULT.nca_s_proto_error, dne: true, callId: 5 });
    await expectClosed(t.c);
  });

  it('no Kerberos acceptor: auth_type 16 is not registered (bind_nak 8)', () => {
    const types = hostAuthProviders({ ntlm: () => undefined, spnego: () => undefined }).map((p) => p.authType);
    expect(types).toEqual([AUTH_TYPE.spnego, AUTH_TYPE.ntlmssp]);
    expect(hostAuthProviders({ kerberos: () => undefined }).map((p) => p.authType)).toEqual([AUTH_TYPE.krb5]);
  });
});

describe('effectiveIdentity', () => {
  const smbToken: CallerIdentity = { source: 'npa', sids: ['S-1-5-21-9-9-9-1001', 'S-1-5-32-551'], uid: 1001, privilegeMask: 0x200n, accountName: 'alice', domainName: 'HOST', clientAddress: '127.0.0.1' };
  it("keeps smbd's token (privileges, uid) when the authenticated account is the SMB session's own", () => {
    expect(effectiveIdentity(USER, smbToken)).toEqual({ ...smbToken, source: 'rpc-auth' });
  });
  it('uses the authenticated identity for another account, with the transport address for the logs', () => {
    const other: CallerIdentity = { ...smbToken, sids: ['S-1-5-21-9-9-9-1005'] };
    expect(effectiveIdentity(USER, other)).toEqual({ ...USER, clientAddress: '127.0.0.1' });
    expect(effectiveIdentity(USER, { source: 'config', sids: USER.sids })).toEqual(USER);
  });
});
