/** Helpers of the §11 row tests (dcerpc-samba-rules*.test.ts): one bad PDU on a fresh or bound connection. */
import { expect } from 'vitest';
import { buildAuthVerifier } from '../../src/dcerpc/auth-trailer.js';
import type { RpcClient } from '../../src/dcerpc/client.js';
import { boundClient, connectClient, fsrvpRegistry, startServer } from './rpc.js';

export const NO_AUTH = new Uint8Array(0);

/** An auth verifier blob (no pad) and its auth_length. */
export function verifier(authType: number, authLevel: number, credentials = Uint8Array.of(1, 2, 3, 4), extra: { padBytes?: number; authPadLength?: number } = {}) {
  return { blob: buildAuthVerifier({ authType, authLevel, authContextId: 0, credentials, ...extra }), authLength: credentials.length };
}

/** Sends one PDU as the first of a connection. */
export async function sendFirst(pdu: Uint8Array, registry = fsrvpRegistry()): Promise<RpcClient> {
  const l = await startServer({ registry });
  const c = await connectClient(l);
  c.sendRaw(pdu);
  return c;
}

/** Sends one PDU on a bound connection. */
export async function sendBound(pdu: Uint8Array | Uint8Array[], registry = fsrvpRegistry()): Promise<RpcClient> {
  const l = await startServer({ registry });
  const c = await boundClient(l);
  for (const p of Array.isArray(pdu) ? pdu : [pdu]) c.sendRaw(p);
  return c;
}

/** Nothing arrives within a short time, and the connection is still open. */
export async function expectSilence(c: RpcClient): Promise<void> {
  await expect(c.readPdu(150)).rejects.toThrow(/no PDU/);
  expect(c.isClosed).toBe(false);
}
