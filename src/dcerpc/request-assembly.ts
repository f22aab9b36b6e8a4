/**
 * Request fragments of one connection (Samba's dcesrv_request, first half): header and size
 * checks, the one-fragmented-call-at-a-time rule, context lookup, each fragment's auth verifier,
 * and reassembly within 4 MiB. What comes out is a complete call for the connection to dispatch,
 * 'wait', or a refusal: the fault to send and whether the connection closes after it.
 */
import type { AuthState, SecurityEvent } from './auth.js';
import {
  AUTH_LEVEL, FAULT, FRAG_MAX_SIZE, MAX_REQUEST_SIZE, OBJECT_UUID_LENGTH, PFC, PTYPE, REQUEST_HEADER_LENGTH, faultName,
} from './constants.js';
import type { CallRef, IncomingCall } from './connection-types.js';
import type { BoundContext } from './negotiate.js';
import { verifyHeader } from './pdu.js';
import type { RequestPdu } from './pdu-types.js';
import { openRequestFragment } from './protection.js';

export interface Refusal {
  readonly close: boolean;
  readonly call: CallRef;
  readonly status: number;
  readonly flags: number;
  readonly why: string;
}

const refuse = (close: boolean, call: CallRef, status: number, flags: number, why: string): Refusal => ({ close, call, status, flags, why });

export interface AssemblyEnv {
  readonly contexts: ReadonlyMap<number, BoundContext>;
  /** CONC_MPX negotiated (it can change with an alter_context). */
  multiplexed(): boolean;
  readonly connectionId: number;
  readonly onSecurityEvent?: (e: SecurityEvent) => void;
}

export class RequestAssembly {
  /** Requests whose fragments are arriving, oldest first. */
  private readonly incoming: IncomingCall[] = [];

  constructor(private readonly env: AssemblyEnv) {}

  /** One request fragment: a complete call to dispatch, 'wait' for more fragments, or a refusal. */
  accept(pdu: RequestPdu, raw: Uint8Array, picked: AuthState, pickedInvalid: boolean): IncomingCall | 'wait' | Refusal {
    const h = pdu.header;
    let auth = picked;
    const call: { callId: number; context: BoundContext | undefined } = { callId: h.callId, context: undefined };

    // A handshake that is still running admits no requests.
    if (auth.started && !auth.finished) {
      return refuse(true, call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'request during the auth handshake');
    }
    const bad = verifyHeader(h, PTYPE.request, pdu.stubAndVerifier.length);
    if (bad !== undefined) return refuse(true, call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, `request header: ${bad}`);
    // Samba's hard limit, not the negotiated size; this fault does not carry DID_NOT_EXECUTE.
    if (h.fragLength > FRAG_MAX_SIZE) {
      return refuse(true, call, FAULT.nca_s_proto_error, 0, `request fragment of ${h.fragLength} bytes`);
    }

    let existing: IncomingCall | undefined;
    if (h.pfcFlags & PFC.FIRST_FRAG) {
      // (A FIRST while another call is dispatched cannot happen: calls run one at a time.)
      const pending = this.incoming[0];
      if (pending !== undefined) {
        // Only one fragmented request at a time.
        let status: number = FAULT.nca_s_proto_error;
        const sameId = this.incoming.find((c) => c.callId === h.callId);
        if (sameId !== undefined && sameId.auth !== auth) {
          const ctx = this.env.contexts.get(pdu.contextId);
          if (h.authLength !== 0 && sameId.context === ctx) status = FAULT.sec_pkg_error;
        }
        // Without CONC_MPX the fault goes out on the call already in progress.
        const target: CallRef = this.env.multiplexed()
          ? { callId: h.callId, context: sameId?.context }
          : { callId: pending.callId, context: pending.context };
        return refuse(true, target, status, 0, 'new request while a fragmented one is incomplete');
      }
      if (h.pfcFlags & PFC.PENDING_CANCEL) {
        return refuse(true, call, FAULT.no_call_active, PFC.DID_NOT_EXECUTE, 'first fragment with PENDING_CANCEL');
      }
      call.context = this.env.contexts.get(pdu.contextId);
      // An unknown context is refused, but the connection stays. Its verifier is still checked
      // first (unlike Samba 4.17): the mechanism's sequence numbers must stay in step with the
      // client's, or the next, valid request would fail its signature check.
      if (call.context === undefined) {
        const checked = this.consumeVerifier(picked, pdu, raw);
        if (checked !== undefined) return refuse(true, call, checked, 0, `request auth refused (${faultName(checked)})`);
        return refuse(false, call, FAULT.nca_s_unknown_if, PFC.DID_NOT_EXECUTE, `unknown context ${pdu.contextId}`);
      }
    } else {
      existing = this.incoming.find((c) => c.callId === h.callId);
      if (existing === undefined) {
        const pending = this.incoming[0];
        if (!this.env.multiplexed()) {
          const target: CallRef = pending ?? call;
          return refuse(true, target, FAULT.nca_s_proto_error, 0, 'continuation fragment without a first');
        }
        if (pending !== undefined) return refuse(true, call, FAULT.nca_s_proto_error, 0, 'continuation fragment without a first');
        call.context = this.env.contexts.get(pdu.contextId);
        if (call.context === undefined) return refuse(false, call, FAULT.nca_s_unknown_if, PFC.DID_NOT_EXECUTE, `unknown context ${pdu.contextId}`);
        const status = pickedInvalid ? FAULT.access_denied : FAULT.nca_s_proto_error;
        return refuse(true, call, status, 0, 'continuation fragment without a first');
      }
      // Fragments of one call share PTYPE and drep (PTYPE always holds: only requests get here).
      if (h.drep.some((b, i) => b !== existing!.first.header.drep[i])) {
        return refuse(true, existing, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'fragment drep differs from the first');
      }
      auth = existing.auth;
      call.context = existing.context;
    }

    // Auth verifier of this fragment (Samba's dcesrv_auth_pkt_pull); refusals close the connection.
    const payloadOffset = REQUEST_HEADER_LENGTH + (h.pfcFlags & PFC.OBJECT_UUID ? OBJECT_UUID_LENGTH : 0);
    const pulled = openRequestFragment(auth, pdu, raw, payloadOffset);
    if (typeof pulled === 'number') {
      const why = `request auth refused (${faultName(pulled)})`;
      this.env.onSecurityEvent?.({ kind: 'refused', connectionId: this.env.connectionId, reason: why });
      return refuse(true, call, pulled, 0, why);
    }
    const stub = pulled;

    // Append a continuation, within the 4 MiB limit.
    let current: IncomingCall;
    if (existing !== undefined) {
      let available = MAX_REQUEST_SIZE;
      if (existing.length > available) return refuse(true, existing, FAULT.access_denied, 0, 'request larger than 4 MiB');
      available -= existing.length;
      if (pdu.allocHint > available || stub.length > available) {
        return refuse(true, existing, FAULT.access_denied, 0, 'request larger than 4 MiB');
      }
      existing.chunks.push(stub);
      existing.length += stub.length;
      if (h.pfcFlags & PFC.LAST_FRAG) existing.last = true;
      current = existing;
    } else {
      current = {
        callId: h.callId,
        context: call.context as BoundContext,
        first: pdu,
        auth,
        chunks: [stub],
        length: stub.length,
        last: (h.pfcFlags & PFC.LAST_FRAG) !== 0,
      };
    }

    if (!current.last) {
      if (existing === undefined) {
        if (pdu.allocHint > MAX_REQUEST_SIZE) {
          return refuse(true, current, FAULT.access_denied, 0, `alloc_hint ${pdu.allocHint} larger than 4 MiB`);
        }
        this.incoming.push(current);
      }
      return 'wait'; // wait for the rest
    }
    const at = this.incoming.indexOf(current);
    if (at >= 0) this.incoming.splice(at, 1);
    return current;
  }

  /**
   * Checks (and so consumes) a refused request's verifier on a protecting context; a fault
   * status when the check itself fails, undefined when fine or nothing to check.
   */
  private consumeVerifier(auth: AuthState, pdu: RequestPdu, raw: Uint8Array): number | undefined {
    if (!auth.finished || auth.invalid || auth.authLevel < AUTH_LEVEL.packet || pdu.header.authLength === 0) return undefined;
    const payloadOffset = REQUEST_HEADER_LENGTH + (pdu.header.pfcFlags & PFC.OBJECT_UUID ? OBJECT_UUID_LENGTH : 0);
    const r = openRequestFragment(auth, pdu, raw, payloadOffset);
    return typeof r === 'number' ? r : undefined;
  }
}
