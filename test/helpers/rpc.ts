/**
 * Helpers for DCE/RPC tests: a minimal FSRVP registration with trivial handlers, a TCP listener
 * and clients that are all closed by `cleanupRpc()` (call it in afterEach), and builders for the
 * raw PDUs the §11 tests send.
 */
import { expect } from 'vitest';
import {
  bind, InterfaceRegistry, RpcFault, type BoundOperation, type Handler, type RpcInterface,
} from '../../src/dcerpc/interface.js';
import { RpcClient } from '../../src/dcerpc/client.js';
import {
  BIND_TIME_FEATURE, FAULT, PFC, PFC_FIRST_LAST, PTYPE, faultName,
} from '../../src/dcerpc/constants.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import type {
  BindPdu, FaultPdu, Pdu, PduHeader, PresentationContext, RequestPdu,
} from '../../src/dcerpc/pdu-types.js';
import { bindTimeFeatureSyntax, NDR20, NDR64, syntaxId, type SyntaxId } from '../../src/dcerpc/syntax.js';
import { listenTcp, type TcpListener, type TcpListenOptions } from '../../src/transport/tcp.js';
import { FSRVP_OPERATIONS, GetSupportedVersion } from '../../src/fsrvp/idl.js';
import { FSRVP_UUID } from '../../src/fsrvp/codes.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';

export const FSRVP_SYNTAX: SyntaxId = syntaxId(FSRVP_UUID, 1, 0);
export const OTHER_SYNTAX: SyntaxId = syntaxId('12345778-1234-abcd-ef00-0123456789ab', 1, 0);
export const TEST_CALLER: CallerIdentity = { source: 'config', sids: ['S-1-5-32-544'] };

type OpName = (typeof FSRVP_OPERATIONS)[number]['name'];

/**
 * FSRVP with trivial handlers: GetSupportedVersion answers {1, 1, S_OK}; every other operation
 * answers fault 0x6d8 unless overridden.
 */
export function fsrvpRegistry(overrides: Partial<Record<OpName, Handler<never, unknown>>> = {}): InterfaceRegistry {
  const operations: BoundOperation[] = FSRVP_OPERATIONS.map((op) => {
    const custom = overrides[op.name as OpName] as Handler<unknown, unknown> | undefined;
    if (custom !== undefined) return bind(op as never, custom as never);
    if (op === GetSupportedVersion) return bind(GetSupportedVersion, () => ({ MinVersion: 1, MaxVersion: 1, result: 0 }));
    return bind(op as never, () => {
      throw new RpcFault(FAULT.cant_perform, `${op.name} not implemented in this test`);
    });
  });
  const iface: RpcInterface = { name: 'FileServerVssAgent', uuid: FSRVP_UUID, version: { major: 1, minor: 0 }, operations };
  return new InterfaceRegistry().register(iface);
}

/** FSRVP plus a second interface (OTHER_SYNTAX) whose only operation is GetSupportedVersion. */
export function twoInterfaceRegistry(): InterfaceRegistry {
  const other: RpcInterface = {
    name: 'Other', uuid: OTHER_SYNTAX.uuid, version: { major: 1, minor: 0 },
    operations: [bind(GetSupportedVersion, () => ({ MinVersion: 7, MaxVersion: 7, result: 0 }))],
  };
  return fsrvpRegistry().register(other);
}

const listeners: TcpListener[] = [];
const clients: RpcClient[] = [];

export async function startServer(opts: Partial<TcpListenOptions> = {}): Promise<TcpListener> {
  const l = await listenTcp({ registry: opts.registry ?? fsrvpRegistry(), caller: TEST_CALLER, host: '127.0.0.1', port: 0, ...opts });
  listeners.push(l);
  return l;
}

export async function connectClient(l: { port: number }): Promise<RpcClient> {
  const c = await RpcClient.connect({ host: '127.0.0.1', port: l.port });
  clients.push(c);
  return c;
}

/** Closes every client and listener the helpers created. */
export async function cleanupRpc(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(listeners.splice(0).map((l) => l.close()));
}

export function ctx(contextId: number, abstractSyntax: SyntaxId = FSRVP_SYNTAX, transfer: SyntaxId[] = [NDR20]): PresentationContext {
  return { contextId, abstractSyntax, transferSyntaxes: transfer };
}

/** The Windows-style three-element bind of DCERPC.md §14 (NDR20, NDR64, bind-time features 0x3). */
export function windowsStyleContexts(): PresentationContext[] {
  return [
    ctx(0),
    ctx(1, FSRVP_SYNTAX, [NDR64]),
    ctx(2, FSRVP_SYNTAX, [bindTimeFeatureSyntax(BIND_TIME_FEATURE.securityContextMultiplexing | BIND_TIME_FEATURE.keepConnectionOnOrphan)]),
  ];
}

/** A bind PDU (call 1, 5840/5840, group 0, FSRVP/NDR20 on context 0) with overrides. */
export function rawBind(over: Partial<Omit<BindPdu, 'header'>> & { header?: Partial<PduHeader> } = {}): Uint8Array {
  return encodePdu({
    kind: 'bind',
    header: { callId: 1 },
    maxXmitFrag: 5840,
    maxRecvFrag: 5840,
    assocGroupId: 0,
    contexts: [ctx(0)],
    authInfo: new Uint8Array(0),
    ...over,
  });
}

/** A request PDU (context 0, opnum 0, empty stub) with overrides. */
export function rawRequest(over: Partial<Omit<RequestPdu, 'header'>> & { header?: Partial<PduHeader> } = {}): Uint8Array {
  return encodePdu({
    kind: 'request',
    header: { callId: 2 },
    allocHint: 0,
    contextId: 0,
    opnum: 0,
    stubAndVerifier: new Uint8Array(0),
    ...over,
  });
}

/** A client bound to FSRVP (context 0, NDR20). */
export async function boundClient(l: { port: number }): Promise<RpcClient> {
  const c = await connectClient(l);
  const ack = await c.bind({ contexts: [ctx(0)] });
  expect(ack.kind).toBe('bind_ack');
  return c;
}

export async function nextPdu(c: RpcClient): Promise<Pdu> {
  const pdu = await c.readDecoded(3000);
  if (pdu === null) throw new Error('connection closed where a reply was expected');
  return pdu;
}

/** Reads the next PDU and checks it is a fault with this status, flags and context id. */
export async function expectFault(
  c: RpcClient,
  want: { status: number; dne: boolean; callId?: number; contextId?: number },
): Promise<FaultPdu> {
  const pdu = await nextPdu(c);
  expect(pdu.kind, `expected fault ${faultName(want.status)}`).toBe('fault');
  const f = pdu as FaultPdu;
  expect(faultName(f.status)).toBe(faultName(want.status));
  expect(f.header.pfcFlags).toBe(PFC_FIRST_LAST | (want.dne ? PFC.DID_NOT_EXECUTE : 0));
  expect(f.header.fragLength).toBe(32);
  expect(f.allocHint).toBe(24);
  if (want.callId !== undefined) expect(f.header.callId).toBe(want.callId);
  if (want.contextId !== undefined) expect(f.contextId).toBe(want.contextId);
  return f;
}

/** Reads the next PDU and checks it is a bind_nak with this reason (Samba's 24-byte shape). */
export async function expectNak(c: RpcClient, reason: number, callId?: number): Promise<void> {
  const pdu = await nextPdu(c);
  expect(pdu.kind).toBe('bind_nak');
  if (pdu.kind !== 'bind_nak') return;
  expect(pdu.rejectReason).toBe(reason);
  expect(pdu.versions).toEqual([{ major: 5, minor: 0 }]);
  expect(pdu.header.fragLength).toBe(24);
  expect(pdu.header.pfcFlags).toBe(PFC_FIRST_LAST);
  if (callId !== undefined) expect(pdu.header.callId).toBe(callId);
}

/** The server closed the connection (and sent nothing more). */
export async function expectClosed(c: RpcClient): Promise<void> {
  expect(await c.readPdu(3000)).toBeNull();
  expect(await c.waitClosed(3000)).toBe(true);
}

/** The connection is still usable: a GetSupportedVersion on context 0 succeeds. */
export async function expectAlive(c: RpcClient, contextId = 0): Promise<void> {
  const res = await c.callOp(GetSupportedVersion, {}, { contextId });
  expect(res).toEqual({ MinVersion: 1, MaxVersion: 1, result: 0 });
}

/** Sends PDUs and checks the server answers nothing and closes. */
export async function expectDroppedAfter(c: RpcClient, ...pdus: Uint8Array[]): Promise<void> {
  for (const p of pdus) c.sendRaw(p);
  await expectClosed(c);
}

export { decodePdu, encodePdu, PTYPE, PFC, PFC_FIRST_LAST, FAULT, NDR20, NDR64 };
