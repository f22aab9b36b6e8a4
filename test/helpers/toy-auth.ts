/**
 * A toy DCE/RPC security mechanism (auth_type 250) and the PDUs a client of it sends, for the
 * AuthProvider seam tests (dcerpc-auth*.test.ts): HMAC-SHA256 signatures, XOR "sealing".
 */
import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import type { AuthProvider, AuthSession, AuthStep, PacketProtection } from '../../src/dcerpc/auth.js';
import { authPadFor, buildAuthVerifier, pullAuthTrailer } from '../../src/dcerpc/auth-trailer.js';
import { AUTH_LEVEL, PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import type { RpcClient } from '../../src/dcerpc/client.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import type { BindAckPdu, Pdu, ResponsePdu } from '../../src/dcerpc/pdu-types.js';
import { connectClient, fsrvpRegistry, nextPdu, rawBind, startServer } from './rpc.js';

export const TOY = 250;
export const SIG = 16;
export const te = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s));
export const td = (b: Uint8Array): string => Buffer.from(b).toString();
export const TOY_USER: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1000'], accountName: 'toy' };

export function mac(data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac('sha256', 'toy-key').update(data).digest().subarray(0, SIG));
}
export function xorInPlace(b: Uint8Array, from: number, len: number): void {
  for (let i = from; i < from + len; i++) b[i] = (b[i] as number) ^ 0x5a;
}

/** Tokens: NEGOTIATE -> continue(CHALLENGE); AUTHENTICATE -> done(""); AUTHENTICATE4 -> done(FINAL); ONESHOT -> done(WELCOME); AUTH+TOKEN -> done(EXTRA). */
export class ToySession implements AuthSession {
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

export function toyProvider(opts: { failStart?: boolean } = {}): AuthProvider {
  return { authType: TOY, name: 'toy', start: () => (opts.failStart ? undefined : new ToySession()) };
}

export function authBind(token: string, level: number, callId = 1, over: { authContextId?: number } = {}): Uint8Array {
  const credentials = te(token);
  return rawBind({
    header: { callId, authLength: credentials.length },
    authInfo: buildAuthVerifier({ authType: TOY, authLevel: level, authContextId: over.authContextId ?? 0, credentials }),
  });
}

export function auth3(token: string, level: number, over: { authType?: number; authContextId?: number; header?: object; padBytes?: number; authPadLength?: number } = {}): Uint8Array {
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
export function protectedRequest(callId: number, opnum: number, stub: Uint8Array, level: number,
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
export function openResponse(bytes: Uint8Array, p: ResponsePdu, level: number): Uint8Array {
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

export async function readRaw(c: RpcClient): Promise<{ bytes: Uint8Array; pdu: Pdu }> {
  const bytes = await c.readPdu(3000);
  if (bytes === null) throw new Error('closed');
  const { decodePdu } = await import('../../src/dcerpc/pdu.js');
  return { bytes, pdu: decodePdu(bytes) };
}

/** The caller the last SetContext ran as (reset it before a call). */
export const seen: { caller: CallerIdentity | undefined } = { caller: undefined };
export function registry() {
  return fsrvpRegistry({
    SetContext: ((_req: unknown, c: { caller: CallerIdentity }) => {
      seen.caller = c.caller;
      return { result: 0 };
    }) as never,
    IsPathSupported: (() => ({ SupportedByThisProvider: true, OwnerMachineName: 'Y'.repeat(3000), result: 0 })) as never,
  });
}

export async function server(opts: { failStart?: boolean; allowAuthLevelConnect?: boolean } = {}) {
  return startServer({ registry: registry(), authProviders: [toyProvider(opts)], allowAuthLevelConnect: opts.allowAuthLevelConnect });
}

/** bind(NEGOTIATE) -> bind_ack(CHALLENGE) on a new connection. */
export async function startHandshake(level: number, l: { port: number }): Promise<RpcClient> {
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

export async function authenticated(level: number, l: { port: number }): Promise<RpcClient> {
  const c = await startHandshake(level, l);
  c.sendRaw(auth3('AUTHENTICATE', level));
  return c;
}
