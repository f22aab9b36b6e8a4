/** The reply PDUs a server connection builds: fault, bind_nak, bind_ack and alter_context_resp. */
import { PFC_FIRST_LAST } from './constants.js';
import type { CallRef } from './connection-types.js';
import { encodePdu } from './pdu.js';
import type { ContextResult } from './pdu-types.js';

/** A fault on `call` (its context id when known). */
export function faultPdu(call: CallRef, status: number, extraFlags: number): Uint8Array {
  return encodePdu({
    kind: 'fault',
    header: { callId: call.callId, pfcFlags: PFC_FIRST_LAST | extraFlags },
    allocHint: 24,
    contextId: call.context?.contextId ?? 0,
    cancelCount: 0,
    flags: 0,
    status,
    reserved: 0,
    errorAndVerifier: new Uint8Array(0),
  });
}

/** bind_nak with the one protocol version we speak (5.0). */
export function bindNakPdu(callId: number, reason: number): Uint8Array {
  return encodePdu({ kind: 'bind_nak', header: { callId }, rejectReason: reason, versions: [{ major: 5, minor: 0 }], pad: new Uint8Array(3) });
}

export interface AckFields {
  readonly callId: number;
  readonly extraFlags: number;
  readonly authLength: number;
  /** The negotiated fragment size, both directions. */
  readonly frag: number;
  readonly group: number;
  /** bind_ack: the endpoint; alter_context_resp: empty. */
  readonly secondaryAddress: string;
  readonly results: readonly ContextResult[];
  readonly verifier: Uint8Array;
}

/** bind_ack, or alter_context_resp (which repeats the bind's sizes and group). */
export function ackPdu(kind: 'bind_ack' | 'alter_context_resp', f: AckFields): Uint8Array {
  return encodePdu({
    kind,
    header: { callId: f.callId, pfcFlags: PFC_FIRST_LAST | f.extraFlags, authLength: f.authLength },
    maxXmitFrag: f.frag,
    maxRecvFrag: f.frag,
    assocGroupId: f.group,
    secondaryAddress: f.secondaryAddress,
    results: [...f.results],
    authInfo: f.verifier,
  });
}
