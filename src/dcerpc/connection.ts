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
import { decode, encode, NdrError } from '../ndr/index.js';
import type { AssocGroupTable } from './assoc-group.js';
import type { AuthProvider, AuthState, SecurityEvent } from './auth.js';
import { pullAuthTrailer, type AuthVerifier } from './auth-trailer.js';
import { concatBytes } from './bytes.js';
import {
  AUTH_LEVEL, AUTH_TYPE, BIND_NAK_REASON, FAULT, FRAG_MAX_SIZE, MAX_REQUEST_SIZE,
  MIN_NEGOTIATED_FRAG, OBJECT_UUID_LENGTH, PFC, PFC_FIRST_LAST, PTYPE, REQUEST_HEADER_LENGTH,
  SERVER_MAX_FRAG, faultName, levelName,
} from './constants.js';
import { PduError } from './errors.js';
import { RpcFault, type CallerIdentity, type InterfaceRegistry } from './interface.js';
import { negotiateContexts, type BoundContext } from './negotiate.js';
import { decodePdu, encodePdu, isLittleEndian, verifyHeader } from './pdu.js';
import type { Auth3Pdu, BindPdu, ContextResult, Pdu, RequestPdu } from './pdu-types.js';
import { openRequestFragment, responsePdus } from './protection.js';
import { SecurityContexts } from './security.js';
import { checkVerificationTrailer, popVerificationTrailer } from './verification-trailer.js';

const log = createDebug('fsrvp:dcerpc');

export interface ConnectionOptions {
  readonly registry: InterfaceRegistry;
  /** Identity of the peer as the transport established it (used when no RPC auth is in force). */
  readonly caller: CallerIdentity;
  /** bind_ack secondary address: `\pipe\FssagentRpc` on ncacn_np, the port number on TCP. */
  readonly secondaryAddress: string;
  /** The server's association groups, shared by all its connections. */
  readonly groups: AssocGroupTable;
  readonly connectionId: number;
  /** Mechanisms by auth_type; an auth_type without one is unknown (bind_nak 8). */
  readonly authProviders?: readonly AuthProvider[];
  /**
   * The lowest auth level a request may run at (Samba's per-interface min_auth_level, set by
   * dcesrv_interface_bind_require_integrity/privacy): below it, fault access_denied; the
   * connection stays. Default 0: unauthenticated requests allowed.
   */
  readonly minAuthLevel?: number;
  /** Authentication outcomes for the operator's log. */
  readonly onSecurityEvent?: (e: SecurityEvent) => void;
  /** Samba's `allow dcerpc auth level connect` (default no): requests at level connect get fault 5. */
  readonly allowAuthLevelConnect?: boolean;
}

/** The authentication settings of a connection, as transports pass them through. */
export type ConnectionSecurity = Pick<ConnectionOptions, 'authProviders' | 'allowAuthLevelConnect' | 'minAuthLevel' | 'onSecurityEvent'>;

/** What to do after a PDU: keep reading, close after sending the replies, or drop at once. */
export type AfterPdu = 'keep' | 'close' | 'drop';

export interface PduOutcome {
  readonly replies: readonly Uint8Array[];
  readonly after: AfterPdu;
}

/** A call a fault is sent on: its call_id and, when known, its presentation context. */
interface CallRef {
  readonly callId: number;
  readonly context: BoundContext | undefined;
}

/** A request whose fragments are still arriving (or that is complete and about to dispatch). */
interface IncomingCall extends CallRef {
  readonly context: BoundContext;
  readonly first: RequestPdu;
  readonly auth: AuthState;
  readonly chunks: Uint8Array[];
  length: number;
  last: boolean;
}

const KEEP: PduOutcome = { replies: [], after: 'keep' };

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

  // Requests whose fragments are arriving, oldest first.
  private readonly incoming: IncomingCall[] = [];
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

    const ack = (results: ContextResult[], verifier: Uint8Array, authLength: number): PduOutcome =>
      this.reply(encodePdu({
        kind: 'bind_ack',
        header: { callId: h.callId, pfcFlags: PFC_FIRST_LAST | extraFlags, authLength },
        maxXmitFrag: this.maxXmitFrag,
        maxRecvFrag: this.maxRecvFrag,
        assocGroupId: this.group ?? 0,
        secondaryAddress: this.opts.secondaryAddress,
        results,
        authInfo: verifier,
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
    return this.reply(encodePdu({
      kind: 'alter_context_resp',
      header: { callId: h.callId, pfcFlags: PFC_FIRST_LAST | extraFlags, authLength },
      maxXmitFrag: this.maxXmitFrag,
      maxRecvFrag: this.maxRecvFrag,
      assocGroupId: this.group ?? 0,
      secondaryAddress: '',
      results: neg.results,
      authInfo: verifier,
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
  // request: fragment checks, reassembly, then dispatch.

  private async onRequest(pdu: RequestPdu, raw: Uint8Array, picked: AuthState, pickedInvalid: boolean): Promise<PduOutcome> {
    const h = pdu.header;
    let auth = picked;
    const call: { callId: number; context: BoundContext | undefined } = { callId: h.callId, context: undefined };

    // A handshake that is still running admits no requests.
    if (auth.started && !auth.finished) {
      return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'request during the auth handshake');
    }
    const bad = verifyHeader(h, PTYPE.request, pdu.stubAndVerifier.length);
    if (bad !== undefined) return this.faultAndClose(call, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, `request header: ${bad}`);
    // Samba's hard limit, not the negotiated size; this fault does not carry DID_NOT_EXECUTE.
    if (h.fragLength > FRAG_MAX_SIZE) {
      return this.faultAndClose(call, FAULT.nca_s_proto_error, 0, `request fragment of ${h.fragLength} bytes`);
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
          const ctx = this.contexts.get(pdu.contextId);
          if (h.authLength !== 0 && sameId.context === ctx) status = FAULT.sec_pkg_error;
        }
        // Without CONC_MPX the fault goes out on the call already in progress.
        const target: CallRef = this.multiplexed
          ? { callId: h.callId, context: sameId?.context }
          : { callId: pending.callId, context: pending.context };
        return this.faultAndClose(target, status, 0, 'new request while a fragmented one is incomplete');
      }
      if (h.pfcFlags & PFC.PENDING_CANCEL) {
        return this.faultAndClose(call, FAULT.no_call_active, PFC.DID_NOT_EXECUTE, 'first fragment with PENDING_CANCEL');
      }
      call.context = this.contexts.get(pdu.contextId);
      // An unknown context is refused, but the connection stays. Its verifier is still checked
      // first (unlike Samba 4.17): the mechanism's sequence numbers must stay in step with the
      // client's, or the next, valid request would fail its signature check.
      if (call.context === undefined) {
        const checked = this.consumeVerifier(picked, pdu, raw);
        if (checked !== undefined) return this.faultAndClose(call, checked, 0, `request auth refused (${faultName(checked)})`);
        return this.fault(call, FAULT.nca_s_unknown_if, PFC.DID_NOT_EXECUTE, `unknown context ${pdu.contextId}`);
      }
    } else {
      existing = this.incoming.find((c) => c.callId === h.callId);
      if (existing === undefined) {
        const pending = this.incoming[0];
        if (!this.multiplexed) {
          const target: CallRef = pending ?? call;
          return this.faultAndClose(target, FAULT.nca_s_proto_error, 0, 'continuation fragment without a first');
        }
        if (pending !== undefined) return this.faultAndClose(call, FAULT.nca_s_proto_error, 0, 'continuation fragment without a first');
        call.context = this.contexts.get(pdu.contextId);
        if (call.context === undefined) return this.fault(call, FAULT.nca_s_unknown_if, PFC.DID_NOT_EXECUTE, `unknown context ${pdu.contextId}`);
        const status = pickedInvalid ? FAULT.access_denied : FAULT.nca_s_proto_error;
        return this.faultAndClose(call, status, 0, 'continuation fragment without a first');
      }
      // Fragments of one call share PTYPE and drep (PTYPE always holds: only requests get here).
      if (h.drep.some((b, i) => b !== existing!.first.header.drep[i])) {
        return this.faultAndClose(existing, FAULT.nca_s_proto_error, PFC.DID_NOT_EXECUTE, 'fragment drep differs from the first');
      }
      auth = existing.auth;
      call.context = existing.context;
    }

    // Auth verifier of this fragment (Samba's dcesrv_auth_pkt_pull); refusals close the connection.
    const payloadOffset = REQUEST_HEADER_LENGTH + (h.pfcFlags & PFC.OBJECT_UUID ? OBJECT_UUID_LENGTH : 0);
    const pulled = openRequestFragment(auth, pdu, raw, payloadOffset);
    if (typeof pulled === 'number') {
      const why = `request auth refused (${faultName(pulled)})`;
      this.opts.onSecurityEvent?.({ kind: 'refused', connectionId: this.id, reason: why });
      return this.faultAndClose(call, pulled, 0, why);
    }
    const stub = pulled;

    // Append a continuation, within the 4 MiB limit.
    let current: IncomingCall;
    if (existing !== undefined) {
      let available = MAX_REQUEST_SIZE;
      if (existing.length > available) return this.faultAndClose(existing, FAULT.access_denied, 0, 'request larger than 4 MiB');
      available -= existing.length;
      if (pdu.allocHint > available || stub.length > available) {
        return this.faultAndClose(existing, FAULT.access_denied, 0, 'request larger than 4 MiB');
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
          return this.faultAndClose(current, FAULT.access_denied, 0, `alloc_hint ${pdu.allocHint} larger than 4 MiB`);
        }
        this.incoming.push(current);
      }
      return KEEP; // wait for the rest
    }
    const at = this.incoming.indexOf(current);
    if (at >= 0) this.incoming.splice(at, 1);
    return this.dispatch(current);
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

  // -------------------------------------------------------------------------------------------
  // Dispatch of a complete request (Samba's dcesrv_request).

  private async dispatch(call: IncomingCall): Promise<PduOutcome> {
    const { auth, context } = call;
    const first = call.first;
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

    const whole = call.chunks.length === 1 ? (call.chunks[0] as Uint8Array) : concatBytes(call.chunks);
    // The verification trailer is removed from the stub and must match the call.
    const vt = popVerificationTrailer(whole);
    const vtProblem = checkVerificationTrailer(vt.commands, {
      bitmask1: this.clientHeaderSigning ? 1 : 0,
      abstractSyntax: context.abstractSyntax,
      transferSyntax: context.transferSyntax,
      header2: {
        ptype: first.header.ptype,
        drep: first.header.drep,
        callId: first.header.callId,
        contextId: first.contextId,
        opnum: first.opnum,
      },
    });
    if (vtProblem !== undefined) return this.fault(call, FAULT.access_denied, 0, `verification trailer: ${vtProblem}`);

    const bound = context.iface.operations[first.opnum];
    if (bound === undefined) {
      return this.fault(call, FAULT.nca_s_op_rng_error, PFC.DID_NOT_EXECUTE, `opnum ${first.opnum} of ${context.iface.name}`);
    }
    let req: unknown;
    try {
      // Trailing bytes after a valid stub are accepted, as Samba does.
      const d = decode(bound.op.request, vt.stub, { littleEndian: isLittleEndian(first.header.drep) });
      if (d.consumed !== vt.stub.length) {
        log('conn %d: %s: %d extra stub bytes ignored', this.id, bound.op.name, vt.stub.length - d.consumed);
      }
      req = d.value;
    } catch (e) {
      if (!(e instanceof NdrError)) throw e;
      return this.fault(call, FAULT.bad_stub_data, 0, `${bound.op.name} stub: ${e.message}`);
    }

    let res: unknown;
    try {
      res = await bound.handler(req, {
        caller: auth.identity ?? this.opts.caller,
        connectionId: this.id,
        callId: call.callId,
      });
    } catch (e) {
      if (e instanceof RpcFault) return this.fault(call, e.status >>> 0, 0, `${bound.op.name} raised ${faultName(e.status)}`);
      // Any other failure of a handler: DCERPC_FAULT_CANT_PERFORM, the connection stays.
      log('conn %d: %s handler failed: %O', this.id, bound.op.name, e);
      return this.fault(call, FAULT.cant_perform, 0, `${bound.op.name} handler threw`);
    }
    let out: Uint8Array;
    try {
      out = encode(bound.op.response, res);
    } catch (e) {
      log('conn %d: %s response does not encode: %O', this.id, bound.op.name, e);
      return this.fault(call, FAULT.bad_stub_data, 0, `${bound.op.name} response encoding`);
    }
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

  private faultPdu(call: CallRef, status: number, extraFlags: number): Uint8Array {
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

  /** A fault after which the connection stays. */
  private fault(call: CallRef, status: number, extraFlags: number, why: string): PduOutcome {
    log('conn %d: call %d: fault %s (%s)', this.id, call.callId, faultName(status), why);
    return { replies: [this.faultPdu(call, status, extraFlags)], after: 'keep' };
  }

  /** A fault, then the connection closes. */
  private faultAndClose(call: CallRef, status: number, extraFlags: number, why: string): PduOutcome {
    log('conn %d: call %d: fault %s and close (%s)', this.id, call.callId, faultName(status), why);
    this.closed = true;
    return { replies: [this.faultPdu(call, status, extraFlags)], after: 'close' };
  }

  /** bind_nak; Samba always closes after one. */
  private nakAndClose(callId: number, reason: number, why: string): PduOutcome {
    log('conn %d: call %d: bind_nak %d and close (%s)', this.id, callId, reason, why);
    this.closed = true;
    const nak = encodePdu({
      kind: 'bind_nak',
      header: { callId },
      rejectReason: reason,
      versions: [{ major: 5, minor: 0 }],
      pad: new Uint8Array(3),
    });
    return { replies: [nak], after: 'close' };
  }

  private drop(why: string): PduOutcome {
    log('conn %d: drop (%s)', this.id, why);
    this.closed = true;
    return { replies: [], after: 'drop' };
  }
}

/** What a bind_ack can carry as secondary address (sent as ASCII with a NUL; at most 255 here). */
export function isValidSecondaryAddress(s: string): boolean {
  return s.length < 256 && /^[\x20-\x7e]*$/.test(s);
}
