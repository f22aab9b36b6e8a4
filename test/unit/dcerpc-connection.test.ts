/**
 * The connection state machine without sockets: whatever PDUs arrive, `handle()` resolves with
 * well-formed little-endian replies and a decision, and a closed connection stays closed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssocGroupTable } from '../../src/dcerpc/assoc-group.js';
import { RpcConnection } from '../../src/dcerpc/connection.js';
import { buildAuthVerifier } from '../../src/dcerpc/auth-trailer.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import { PFC } from '../../src/dcerpc/constants.js';
import { encode } from '../../src/ndr/index.js';
import { IsPathSupported } from '../../src/fsrvp/idl.js';
import { ctx, fsrvpRegistry, rawBind, rawRequest, TEST_CALLER, windowsStyleContexts } from '../helpers/rpc.js';

function seeds(): Uint8Array[] {
  const v = buildAuthVerifier({ authType: 10, authLevel: 5, authContextId: 0, credentials: new Uint8Array(16) });
  return [
    rawBind({ contexts: windowsStyleContexts() }),
    rawBind({ kind: 'alter_context', contexts: [ctx(1)] }),
    rawRequest(),
    rawRequest({ opnum: 8, stubAndVerifier: encode(IsPathSupported.request, { ShareName: '\\\\a\\b\\' }) }),
    rawRequest({ header: { callId: 5, pfcFlags: PFC.FIRST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
    rawRequest({ header: { callId: 5, pfcFlags: PFC.LAST_FRAG }, stubAndVerifier: new Uint8Array(8) }),
    rawRequest({ header: { callId: 6, authLength: 16 }, stubAndVerifier: Uint8Array.from([...new Uint8Array(8), ...v]) }),
    encodePdu({ kind: 'auth3', header: { callId: 3, authLength: 16 }, pad: 0, authInfo: v }),
    encodePdu({ kind: 'co_cancel', authInfo: new Uint8Array(0) }),
  ];
}

describe('RpcConnection.handle is total', () => {
  it('random mutations of PDU sequences: replies decode, are little-endian, and close is final', async () => {
    const base = seeds();
    const groups = new AssocGroupTable();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: base.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      async (steps, bindFirst) => {
        const conn = new RpcConnection({ registry: fsrvpRegistry(), caller: TEST_CALLER, secondaryAddress: '135', groups, connectionId: 1 });
        const pdus: Uint8Array[] = steps.map(([i, edits]) => {
          const b = base[i]!.slice();
          for (const [at, val] of edits) if (at % b.length >= 16 || at % 7 === 0) b[at % b.length] = val;
          return b;
        });
        if (bindFirst) pdus.unshift(base[0]!);
        let closed = false;
        for (const p of pdus) {
          const out = await conn.handle(p);
          if (closed) {
            expect(out.replies.length).toBe(0);
            expect(out.after).not.toBe('keep');
            continue;
          }
          for (const r of out.replies) {
            const d = decodePdu(r);
            expect(['bind_ack', 'bind_nak', 'alter_context_resp', 'response', 'fault']).toContain(d.kind);
            expect(d.header.drep).toEqual([0x10, 0, 0, 0]);
          }
          if (out.after === 'drop') expect(out.replies.length).toBe(0);
          if (out.after !== 'keep') closed = true;
        }
        conn.dispose();
      }), { numRuns: 300 });
    expect(groups.size).toBe(0);
  });
});
