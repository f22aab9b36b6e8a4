/**
 * One DCE/RPC connection, server side: the state machine of docs/DCERPC.md, read top to bottom.
 * Every refusal sits next to the rule it enforces; the rules and their order are Samba 4.17's
 * (`dcesrv_process_ncacn_packet`, `dcesrv_bind`, `dcesrv_alter`, `dcesrv_auth3`,
 * `dcesrv_request`; table in §11).
 *
 * `handle()` takes exactly one PDU (the transport frames them, see src/transport/stream.ts) and
 * returns the PDUs to send back, in order, and what to do next: keep the connection, close it
 * after the replies, or drop it without a reply. PDUs of one connection must be handled one at a
 * time, in order; the caller awaits each `handle()` before the next.
 */
import createDebug from 'debug';
import type { AuthState } from './auth.js';
import { pullAuthTrailer, type AuthVerifier } from './auth-trailer.js';
import {
  AUTH_LEVEL, AUTH_TYPE, BIND_NAK_REASON, FAULT, MIN_NEGOTIATED_FRAG, PFC, PTYPE, SERVER_MAX_FRAG, faultName, levelName,
} from './constants.js';
import {
  isValidSecondaryAddress, KEEP, type CallRef, type ConnectionOptions, type IncomingCall, type PduOutcome,
} from './connection-types.js';
import { PduError } from './errors.js';
import { invokeCall } from './invoke.js';
import { ackPdu, bindNakPdu, faultPdu } from './replies.js';
import { RequestAssembly } from './request-assembly.js';
import { negotiateContexts, type BoundContext } from './negotiate.js';
import { decodePdu, verifyHeader } from './pdu.js';
import type { Auth3Pdu, BindPdu, ContextResult, Pdu, RequestPdu } from './pdu-types.js';
import { responsePdus } from './protection.js';
import { SecurityContexts } from './security.js';

const log = createDebug('fsrvp:dcerpc');

export { isValidSecondaryAddress, type AfterPdu, type ConnectionOptions, type ConnectionSecurity, type PduOutcome } from './connection-types.js';

export class RpcConnection {
  readonly id: number;
  private readonly opts: ConnectionOptions;

  // Negotiated by bind.
  private allowBind = true;
  private allowAlter = false;
  private maxXmitFrag = SERVER_MAX_FRAG;
  private maxRecvFrag = SERVER_MAX_FRAG;
  private group: number | undefined;
  private multiplexed = false;
  private clientHeaderSigning = false;
  private readonly contexts = new Map<number, BoundContext>();

  // Security contexts: the connection's own ("no auth" unless a bind settles otherwise) and the
  // ones PDUs with an auth verifier create, found by auth_context_id.
  private readonly security: SecurityContexts;

  private readonly requests: RequestAssembly;
  private closed = false;

  constructor(opts: ConnectionOptions) {
    if (!isValidSecondaryAddress(opts.secondaryAddress)) {
      throw new RangeError(`secondary address must be printable ASCII: ${JSON.stringify(opts.secondaryAddress)}`);
    }
    this.opts = opts;
    this.id = opts.connectionId;
    this.security = new SecurityContexts({
      providers: opts.authProviders ?? [], connectionId: opts.connectionId, caller: opts.caller, onEvent: opts.onSecurityEvent,
    });
    this.requests = new RequestAssembly({
      contexts: this.contexts, multiplexed: () => this.multiplexed, connectionId: opts.connectionId,
      ...(opts.onSecurityEvent !== undefined ? { onSecurityEvent: opts.onSecurityEvent } : {}),
    });
  }

  /** Negotiated fragment size (both directions), for tests and logs. */
  get fragmentSize(): number {
    return this.maxXmitFrag;
  }

  get assocGroupId(): number | undefined {
    return this.group;
  }

  /** Releases what the connection holds in shared tables. Call once, when the transport closes. */
  dispose(): void {
    if (this.group !== undefined) this.opts.groups.leave(this.group);
    this.group = undefined;
    this.closed = true;
  }

  /** Handles one complete PDU (exactly frag_length bytes). Never throws for any input bytes. */
  async handle(bytes: Uint8Array): Promise<PduOutcome> {
    if (this.closed) return { replies: [], after: 'close' };
    let pdu: Pdu;
    try {
      pdu = decodePdu(bytes);
    } catch (e) {
      // Transport level: a PDU Samba cannot parse ends the connection without a reply.
      if (e instanceof PduError) return this.drop(`unparsable PDU: ${e.message}`);
      throw e;
    }
    log('conn %d: %s call_id %d flags 0x%s len %d', this.id, pdu.kind, pdu.header.callId,
      pdu.header.pfcFlags.toString(16), bytes.length);

    const picked = this.security.pick(pdu, bytes);
    if (picked === undefined) {
      return this.faultAndClose({ callId: pdu.header.callId, context: undefined }, FAULT.nca_s_proto_error,
        PFC.DID_NOT_EXECUTE, 'too many security contexts');
    }

    // The first PDU of a connection is always processed as its bind; there is only one.
    if (this.allowBind) {
      this.allowBind = false;
      return this.onBind(pdu, picked.auth);
    }

    switch (pdu.kind) {
      case 'request':
        return this.onRequest(pdu, bytes, picked.auth, picked.invalid);
      case 'alter_context':
        return this.onAlter(pdu, picked.auth);
      case 'auth3':
        return this.onAuth3(pdu, picked.auth);
      case 'bind':
        return this.nakAndClose(pdu.header.callId, BIND_NAK_REASON.not_specified, 'second bind');
      case 'co_cancel':
      case 'orphaned':
        // Windows ignores these, and so does Samba.
        return KEEP;
      default:
        // response, fault, bind_ack, bind_nak, alter_resp, shutdown, connectionless types, rts.
        return this.faultAndClose({ callId: pdu.header.callId, context: undefined }, FAULT.nca_s_proto_error,
          PFC.DID_NOT_EXECUTE, `${pdu.kind} from a client`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // bind (first PDU)

  private async onBind(pdu: Pdu, auth: AuthState): Promise<PduOutcome> {
    const h = pdu.header;
    const authInfoLength = pdu.kind === 'bind' ? pdu.authInfo.length : 0;
    // Not a bind, wrong version, bad drep, auth_length not fitting: protocol version not supported.
    const bad = verifyHeader(h, PTYPE.bind, authInfoLength);
    if (bad !== undefined || pdu.kind !== 'bind') {
      return this.nakAndClose(h.callId, BIND_NAK_REASON.protocol_version_not_supported, `bind header: ${bad ?? pdu.kind}`);
    }

    // §5: min of the client's two sizes, at least 2048, at most 5840, multiple of 8; both directions.
    let frag = Math.max(MIN_NEGOTIATED_FRAG, Math.min(pdu.maxXmitFrag, pdu.maxRecvFrag));
    frag = Math.min(frag, this.maxRecvFrag) & 0xfff8;
    this.maxXmitFrag = frag;
    this.maxRecvFrag = frag;

    // §7: group 0 asks for a new association group; any other must exist on this server.
    if (pdu.assocGroupId === 0) {
      this.group = this.opts.groups.create();
    } else if (this.opts.groups.join(pdu.assocGroupId)) {
      this.group = pdu.assocGroupId;
    } else {
      return this.nakAndClose(h.callId, BIND_NAK_REASON.not_specified, `unknown assoc_group_id 0x${pdu.assocGroupId.toString(16)}`);
    }

    // §6: at least one context; every element with a transfer syntax; at most one feature element.
    if (pdu.contexts.length === 0) {
      return this.nakAndClose(h.callId, BIND_NAK_REASON.not_specified, 'bind without presentation contexts');
    }
    const neg = negotiateContexts({ proposed: pdu.contexts, isBind: true, bound: this.contexts, registry: this.opts.registry });
    if (!neg.ok) return this.nakAndClose(h.callId, BIND_NAK_REASON.not_specified, neg.detail);
    if (neg.created !== undefined) this.contexts.set(neg.created.contextId, neg.created);

    let extraFlags = 0;
    if ((h.pfcFlags & PFC.CONC_MPX) && (neg.created !== undefined || this.multiplexed)) {
      this.multiplexed = true;
      extraFlags |= PFC.CONC_MPX;
    }

    // §8: with an auth verifier, a security context is started (or the bind refused).
    let inAuth: AuthVerifier | undefined;
    if (h.authLength === 0) {
      this.security.settleNoAuth(auth); // no verifier: the connection runs without RPC auth
    } else {
      try {
        inAuth = pullAuthTrailer(h, pdu.authInfo, true).auth;
      } catch (e) {
        if (!(e instanceof PduError)) throw e;
        return this.nakAndClose(h.callId, BIND_NAK_REASON.protocol_version_not_supported, `bind auth trailer: ${e.message}`);
      }
      const refused = this.security.start(auth, inAuth, h.pfcFlags);
      if (refused !== undefined) return this.nakAndClose(h.callId, refused.reason, refused.why);
    }

    // Header signing is offered back whenever the client announces it.
    if (h.pfcFlags & PFC.SUPPORT_HEADER_SIGN) {
      this.clientHeaderSigning = true;
      extraFlags |= PFC.SUPPORT_HEADER_SIGN;
    }
    this.allowAlter = true;
    const own = this.security.connectionDefault;
    if (auth !== own && !own.started && !own.invalid) {
      // An authenticated bind leaves the connection's own context usable as "no auth".
      this.security.settleNoAuth(own);
    }

    const ack = (results: ContextResult[], verifier: Uint8Array, authLength: number): PduOutcome => this.reply(ackPdu('bind_ack', {
      callId: h.callId, extraFlags, authLength, frag: this.maxXmitFrag, group: this.group ?? 0, secondaryAddress: this.opts.secondaryAddress, results, verifier,
    }));

    if (inAuth === undefined) return ack(neg.results, new Uint8Array(0), 0);
    const step = await this.security.update(auth, inAuth.credentials);
    if (step.status === 'rejected') {
      return this.nakAndClose(h.callId, BIND_NAK_REASON.not_specified, `security mechanism rejected the bind: ${step.reason}`);
    }
    return ack(neg.results, this.security.verifier(auth, step.token), step.token.length);
  }

  // -------------------------------------------------------------------------------------------
  // alter_context

  private async onAlter(pdu: BindPdu, auth: AuthState): Promise<PduOutcome> {
    const h = pdu.header;
    const call: CallRef = { callId: h.callId, context: undefined };
    // Only after an accepted bind (a refused bind closes the connection, so this always holds).
    if (!this.allowAlter) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'alter before bind');
    const bad = verifyHeader(h, PTYPE.alter_context, pdu.authInfo.length);
    if (bad !== undefined) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, `alter header: ${bad}`);

    // Samba's dcesrv_auth_alter: decide now, refuse after the contexts were checked.
    let authOk = false;
    let authFault = 0;
    let inAuth: AuthVerifier | undefined;
    if (h.authLength === 0) {
      authOk = auth.finished; // a pure presentation-context change
    } else if (auth.finished) {
      authFault = FAULT.access_denied;
    } else {
      try {
        inAuth = pullAuthTrailer(h, pdu.authInfo, true).auth;
      } catch (e) {
        if (!(e instanceof PduError)) throw e;
        authFault = FAULT.nca_s_proto_error;
      }
      if (inAuth !== undefined) {
        if (!auth.started) {
          authOk = this.security.start(auth, inAuth, h.pfcFlags) === undefined;
          if (!authOk) authFault = FAULT.access_denied;
        } else if (inAuth.authType === AUTH_TYPE.none) {
          authFault = FAULT.access_denied;
        } else {
          authOk = !auth.invalid && inAuth.authType === auth.authType && inAuth.authLevel === auth.authLevel
            && inAuth.authContextId === auth.authContextId;
        }
      }
    }
    if (!authOk && authFault !== 0) return this.faultAndClose(call, authFault, PFC.DID_NOT_EXECUTE, 'alter auth refused');

    if (pdu.contexts.length === 0) {
      return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'alter without presentation contexts');
    }
    const neg = negotiateContexts({ proposed: pdu.contexts, isBind: false, bound: this.contexts, registry: this.opts.registry });
    if (!neg.ok) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, neg.detail);
    if (neg.created !== undefined) this.contexts.set(neg.created.contextId, neg.created);

    let extraFlags = 0;
    if ((h.pfcFlags & PFC.CONC_MPX) && (neg.created !== undefined || this.multiplexed)) {
      this.multiplexed = true;
      extraFlags |= PFC.CONC_MPX;
    }
    if (!authOk) {
      const status = inAuth !== undefined && inAuth.authType !== auth.authType ? FAULT.sec_pkg_error : FAULT.access_denied;
      return this.faultAndClose(call, status, PFC.DID_NOT_EXECUTE, 'alter auth does not match the security context');
    }
    if (h.pfcFlags & PFC.SUPPORT_HEADER_SIGN) {
      this.clientHeaderSigning = true;
      extraFlags |= PFC.SUPPORT_HEADER_SIGN;
    }

    let verifier: Uint8Array = new Uint8Array(0);
    let authLength = 0;
    if (inAuth !== undefined) {
      const step = await this.security.update(auth, inAuth.credentials);
      if (step.status === 'rejected') {
        return this.faultAndClose(call, FAULT.sec_pkg_error, PFC.DID_NOT_EXECUTE, `mechanism rejected the alter: ${step.reason}`);
      }
      verifier = this.security.verifier(auth, step.token);
      authLength = step.token.length;
    }
    // alter_context_resp repeats the bind's sizes and group; its secondary address is empty.
    return this.reply(ackPdu('alter_context_resp', {
      callId: h.callId, extraFlags, authLength, frag: this.maxXmitFrag, group: this.group ?? 0, secondaryAddress: '', results: neg.results, verifier,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // rpc_auth_3: the last leg of a three-leg handshake. No reply unless a fault.

  private async onAuth3(pdu: Auth3Pdu, auth: AuthState): Promise<PduOutcome> {
    const h = pdu.header;
    const call: CallRef = { callId: h.callId, context: undefined };
    if (!auth.started) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'auth3 without a handshake');
    if (auth.finished) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'auth3 after the handshake');
    const bad = verifyHeader(h, PTYPE.auth3, pdu.authInfo.length);
    if (bad !== undefined) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, `auth3 header: ${bad}`);
    if (h.authLength === 0 || auth.invalid || auth.session === undefined) {
      auth.invalid = true;
      return KEEP;
    }
    let inAuth: AuthVerifier;
    try {
      inAuth = pullAuthTrailer(h, pdu.authInfo, true).auth;
    } catch (e) {
      if (!(e instanceof PduError)) throw e;
      // Windows answers a bad auth3 trailer with this status, and Samba copies it.
      auth.invalid = true;
      return this.faultAndClose(call, FAULT.nca_s_fault_remote_no_memory, PFC.DID_NOT_EXECUTE, `auth3 trailer: ${e.message}`);
    }
    if (inAuth.authType !== auth.authType || inAuth.authLevel !== auth.authLevel || inAuth.authContextId !== auth.authContextId) {
      auth.invalid = true; // no reply; later requests fault and close
      return KEEP;
    }
    const step = await this.security.update(auth, inAuth.credentials);
    if (step.status !== 'done' || step.token.length !== 0) auth.invalid = true;
    return KEEP;
  }

  // -------------------------------------------------------------------------------------------
  // request: fragment checks and reassembly (request-assembly.ts), then dispatch.

  private async onRequest(pdu: RequestPdu, raw: Uint8Array, picked: AuthState, pickedInvalid: boolean): Promise<PduOutcome> {
    const r = this.requests.accept(pdu, raw, picked, pickedInvalid);
    if (r === 'wait') return KEEP;
    if ('status' in r) return r.close ? this.faultAndClose(r.call, r.status, r.flags, r.why) : this.fault(r.call, r.status, r.flags, r.why);
    return this.dispatch(r);
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch of a complete request (Samba's dcesrv_request).

  private async dispatch(call: IncomingCall): Promise<PduOutcome> {
    const { auth, context } = call;
    if (auth.invalid || !auth.finished) {
      return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'security context not usable');
    }
    // Level connect only where allowed; the connection stays.
    if (auth.authLevel === AUTH_LEVEL.connect && !this.opts.allowAuthLevelConnect) {
      return this.fault(call, FAULT.access_denied, 0, 'auth level connect not allowed');
    }
    if (auth.authLevel < (this.opts.minAuthLevel ?? 0)) {
      const why = `auth level ${levelName(auth.authLevel)} below the required ${levelName(this.opts.minAuthLevel ?? 0)}`;
      this.opts.onSecurityEvent?.({ kind: 'refused', connectionId: this.id, reason: why });
      return this.fault(call, FAULT.access_denied, 0, why);
    }

    const r = await invokeCall(call, { caller: auth.identity ?? this.opts.caller, connectionId: this.id, clientHeaderSigning: this.clientHeaderSigning });
    if ('fault' in r) return this.fault(call, r.fault.status, r.fault.flags, r.fault.why);
    const out = r.stub;
    return {
      replies: responsePdus({ auth, callId: call.callId, contextId: context.contextId, stub: out, maxXmitFrag: this.maxXmitFrag }),
      after: 'keep',
    };
  }

  // -------------------------------------------------------------------------------------------
  // Replies.

  private reply(pdu: Uint8Array): PduOutcome {
    return { replies: [pdu], after: 'keep' };
  }

  /** A fault after which the connection stays. */
  private fault(call: CallRef, status: number, extraFlags: number, why: string): PduOutcome {
    log('conn %d: call %d: fault %s (%s)', this.id, call.callId, faultName(status), why);
    return { replies: [faultPdu(call, status, extraFlags)], after: 'keep' };
  }

  /** A fault, then the connection closes. */
  private faultAndClose(call: CallRef, status: number, extraFlags: number, why: string): PduOutcome {
    log('conn %d: call %d: fault %s and close (%s)', this.id, call.callId, faultName(status), why);
    this.closed = true;
    return { replies: [faultPdu(call, status, extraFlags)], after: 'close' };
  }

  /** bind_nak; Samba always closes after one. */
  private nakAndClose(callId: number, reason: number, why: string): PduOutcome {
    log('conn %d: call %d: bind_nak %d and close (%s)', this.id, callId, reason, why);
    this.closed = true;
    return { replies: [bindNakPdu(callId, reason)], after: 'close' };
  }

  private drop(why: string): PduOutcome {
    log('conn %d: drop (%s)', this.id, why);
    this.closed = true;
    return { replies: [], after: 'drop' };
  }
}
