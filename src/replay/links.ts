/**
 * How replay moves one captured connection's PDUs to a live server.
 *  - raw: the captured client PDUs go out as they are (requests rewritten), the server's PDUs come
 *    back as they are; any transport (TCP, an SMB pipe, an external RPC pipe socket).
 *  - authenticated (`--auth`): our client runs the bind with its own security context (the
 *    captured bind's contexts and fragment sizes), then each captured request, complete, as a
 *    signed or sealed call; the answer is handed back as a plain PDU (the verified, unsealed stub
 *    in a response with no verifier) so it compares with an unauthenticated capture. Captured
 *    auth legs (auth3, authenticated alter_context) cannot be replayed with other keys and are
 *    left out: their answers show as missing only if the capture has them.
 */
import type { ClientAuth } from '../dcerpc/client-auth.js';
import type { RpcClient } from '../dcerpc/client.js';
import { PFC } from '../dcerpc/constants.js';
import { decodePdu, encodePdu } from '../dcerpc/pdu.js';
import type { PduHeader, RequestPdu } from '../dcerpc/pdu-types.js';
import { joinBytes } from '../ndr/index.js';

/** A header for re-encoding a PDU without its verifier: frag_length and auth_length recomputed. */
export const plainHeader = (h: PduHeader): { pfcFlags: number; drep: PduHeader['drep']; callId: number } =>
  ({ pfcFlags: h.pfcFlags, drep: h.drep, callId: h.callId });

export interface ReplayLink {
  /** A captured client PDU (requests already rewritten). */
  send(bytes: Uint8Array): Promise<void>;
  /** The next server PDU, or null once the server closed or has nothing more for us. */
  next(timeoutMs: number): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

export function rawLink(rpc: RpcClient): ReplayLink {
  return {
    send: async (bytes) => rpc.sendRaw(bytes),
    next: (timeoutMs) => rpc.readPdu(timeoutMs),
    close: () => rpc.close(),
  };
}

export function authenticatedLink(rpc: RpcClient, auth: () => ClientAuth, timeoutMs = 60_000): ReplayLink {
  const answers: Array<Promise<Uint8Array | null>> = [];
  let fragments: RequestPdu[] = [];
  let bound = false;
  /** Calls run one after another, as the captured client waited for each answer. */
  let chain: Promise<unknown> = Promise.resolve();
  const after = (work: () => Promise<Uint8Array | null>): Promise<Uint8Array | null> => {
    const p = chain.then(work, work);
    chain = p.catch(() => undefined);
    return p;
  };
  const handle = (bytes: Uint8Array): Promise<Uint8Array | null> | undefined => {
    let pdu;
    try {
      pdu = decodePdu(bytes);
    } catch {
      // Not a PDU: what the capture sent raw goes out raw; the server's answer (a close) follows.
      return after(() => {
        rpc.sendRaw(bytes);
        return rpc.readPdu();
      });
    }
    if (pdu.kind === 'bind' && !bound) {
      bound = true;
      const contexts = pdu.contexts;
      return after(() => rpc.bind({
        contexts, maxXmitFrag: pdu.maxXmitFrag, maxRecvFrag: pdu.maxRecvFrag, callId: pdu.header.callId, auth: auth(), timeoutMs,
      }).then((ack) => encodePdu(ack.kind === 'bind_ack' ? { ...ack, header: plainHeader(ack.header), authInfo: new Uint8Array(0) } : ack)));
    }
    if (pdu.kind === 'auth3' || (pdu.kind === 'alter_context' && pdu.header.authLength > 0)) return undefined;
    if (pdu.kind === 'alter_context') {
      const o = { contexts: pdu.contexts, callId: pdu.header.callId, timeoutMs };
      return after(() => rpc.alterContext(o).then((r) => encodePdu(r)));
    }
    if (pdu.kind !== 'request') {
      return after(() => {
        rpc.sendRaw(bytes);
        return rpc.readPdu();
      });
    }
    fragments.push(pdu);
    if ((pdu.header.pfcFlags & PFC.LAST_FRAG) === 0) return undefined;
    const first = fragments[0] as RequestPdu;
    const stub = joinBytes(fragments.map((f) => f.stubAndVerifier));
    fragments = [];
    const bigEndian = (first.header.drep[0] & 0x10) === 0;
    const o = { callId: first.header.callId, bigEndian, timeoutMs, ...(first.object !== undefined ? { objectUuid: first.object } : {}) };
    return after(() => rpc.call(first.contextId, first.opnum, stub, o).then((r) => {
      if (r.fault) return encodePdu({ ...r.fault, header: plainHeader(r.fault.header), errorAndVerifier: new Uint8Array(0) });
      const head = r.pdus[0];
      if (head === undefined) return null;
      return encodePdu({
        kind: 'response',
        header: { pfcFlags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: head.header.drep, callId: head.header.callId },
        allocHint: r.stub.length, contextId: head.contextId, cancelCount: head.cancelCount, reserved: 0, stubAndVerifier: r.stub,
      });
    }));
  };
  return {
    send: async (bytes) => {
      const answer = handle(bytes);
      if (answer !== undefined) {
        // An error (the server closed, the auth failed) surfaces where the answer is awaited.
        answer.catch(() => undefined);
        answers.push(answer);
      }
    },
    next: async (timeoutMs) => {
      const a = answers.shift();
      if (a === undefined) return rpc.readPdu(timeoutMs).catch(() => null);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((r) => {
        timer = setTimeout(() => r(null), timeoutMs);
      });
      try {
        return await Promise.race([a, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => rpc.close(),
  };
}
