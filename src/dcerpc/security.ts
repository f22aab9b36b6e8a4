/**
 * The security contexts of one connection (Samba's `dcesrv_auth` list, docs/DCERPC.md §8–§9):
 * which context a PDU belongs to, starting one from a bind/alter verifier through an
 * AuthProvider, and handshake legs. The connection state machine decides what to answer.
 */
import {
  isValidBindAuthLevel, newAuthState, type AuthProvider, type AuthState, type AuthStep, type SecurityEvent,
} from './auth.js';
import { buildAuthVerifier, type AuthVerifier } from './auth-trailer.js';
import { AUTH_LEVEL, AUTH_TYPE, BIND_NAK_REASON, HEADER_LENGTH, PFC, SEC_TRAILER_LENGTH } from './constants.js';
import type { CallerIdentity } from './interface.js';
import { isLittleEndian } from './pdu.js';
import type { Pdu } from './pdu-types.js';

/** Samba's `dcesrv:max auth states` default: security contexts one connection may create. */
const MAX_AUTH_STATES = 2049;

/** Why starting a security context was refused, as the bind_nak reason Samba sends. */
export interface AuthRefusal {
  readonly reason: number;
  readonly why: string;
}

export class SecurityContexts {
  /** The connection's own context: "no auth" once a bind settles it. */
  readonly connectionDefault: AuthState = newAuthState();
  private readonly states: AuthState[] = [];
  /** A level-connect context that requests without a verifier run under (Samba's quirk). */
  private defaultConnect: AuthState | undefined;
  private explicitConnect = false;

  constructor(private readonly opts: {
    readonly providers: readonly AuthProvider[];
    readonly connectionId: number;
    readonly caller: CallerIdentity;
    readonly onEvent?: (e: SecurityEvent) => void;
  }) {}

  /**
   * The context a PDU belongs to (Samba does this first, for every PDU): without a verifier the
   * connection's own; with one, the context of that auth_context_id, or a new one — which, for a
   * request, can never become valid. `invalid` says the PDU's type/level differ from the context.
   * Undefined when the connection already has too many contexts.
   */
  pick(pdu: Pdu, raw: Uint8Array): { auth: AuthState; invalid: boolean } | undefined {
    const h = pdu.header;
    if (h.authLength === 0) {
      if (pdu.kind === 'request' && this.defaultConnect !== undefined) return { auth: this.defaultConnect, invalid: false };
      return { auth: this.connectionDefault, invalid: false };
    }
    const peek = peekSecTrailer(raw, h.fragLength, h.authLength, isLittleEndian(h.drep));
    let checkTypeLevel = true;
    if (pdu.kind === 'request') {
      // Later fragments follow the first one's settings, whatever they carry.
      if (!(h.pfcFlags & PFC.FIRST_FRAG)) checkTypeLevel = false;
      this.defaultConnect = undefined;
      if (peek.authLevel === AUTH_LEVEL.connect) this.explicitConnect = true;
    }
    const found = this.states.find((a) => a.authContextId === peek.authContextId);
    if (found !== undefined) {
      const invalid = found.authType !== peek.authType || found.authLevel !== peek.authLevel;
      if (invalid && checkTypeLevel) found.invalid = true;
      return { auth: found, invalid };
    }
    if (this.states.length >= MAX_AUTH_STATES) return undefined;
    const fresh = newAuthState();
    this.states.push(fresh);
    if (pdu.kind === 'request') fresh.invalid = true;
    return { auth: fresh, invalid: pdu.kind === 'request' };
  }

  /** "No auth" settled for a context: type none, level none, finished. */
  settleNoAuth(a: AuthState): void {
    a.authType = AUTH_TYPE.none;
    a.authLevel = AUTH_LEVEL.none;
    a.authContextId = 0;
    a.started = true;
    a.finished = true;
  }

  /**
   * Samba's dcesrv_auth_prepare_gensec: starts a context from a bind/alter verifier, or says which
   * bind_nak reason refuses it (alter answers any refusal with fault 5).
   */
  start(a: AuthState, v: AuthVerifier, pfcFlags: number): AuthRefusal | undefined {
    if (a.started) return { reason: BIND_NAK_REASON.not_specified, why: 'security context already started' };
    a.started = true;
    if (a.invalid || a.finished || a.session !== undefined) {
      return { reason: BIND_NAK_REASON.not_specified, why: 'security context not startable' };
    }
    // The level is checked before the type: 0, 1 and anything above 6 are not levels to bind at.
    if (!isValidBindAuthLevel(v.authLevel)) return { reason: BIND_NAK_REASON.not_specified, why: `auth_level ${v.authLevel}` };
    const provider = this.opts.providers.find((p) => p.authType === v.authType);
    // No mechanism for the type: "authentication type not recognized".
    if (provider === undefined) {
      return { reason: BIND_NAK_REASON.authentication_type_not_recognized, why: `auth_type ${v.authType} not supported` };
    }
    const session = provider.start({
      authLevel: v.authLevel,
      authContextId: v.authContextId,
      connectionId: this.opts.connectionId,
      transportCaller: this.opts.caller,
      headerSigning: (pfcFlags & PFC.SUPPORT_HEADER_SIGN) !== 0,
    });
    // A known mechanism that cannot start: Samba answers "invalid checksum".
    if (session === undefined) return { reason: BIND_NAK_REASON.invalid_checksum, why: `${provider.name} failed to start` };
    a.authType = v.authType;
    a.authLevel = v.authLevel;
    a.authContextId = v.authContextId;
    a.session = session;
    return undefined;
  }

  /** One handshake leg through the provider; marks the context finished when it completes. */
  async update(a: AuthState, token: Uint8Array): Promise<AuthStep> {
    if (a.session === undefined) return { status: 'rejected', reason: 'no security context' };
    let step: AuthStep;
    try {
      step = await a.session.update(token);
    } catch (e) {
      step = { status: 'rejected', reason: String(e instanceof Error ? e.message : e) };
    }
    const connectionId = this.opts.connectionId;
    if (step.status === 'rejected') this.opts.onEvent?.({ kind: 'rejected', connectionId, authType: a.authType, reason: step.reason });
    if (step.status === 'done') {
      this.opts.onEvent?.({ kind: 'established', connectionId, authType: a.authType, authLevel: a.authLevel, identity: step.identity });
      a.finished = true;
      a.identity = step.identity;
      if (a.authLevel === AUTH_LEVEL.connect && !this.explicitConnect) this.defaultConnect = a;
    }
    return step;
  }

  /** sec_trailer + token for bind_ack / alter_resp (Samba sends no auth pad there). */
  verifier(a: AuthState, token: Uint8Array): Uint8Array {
    return buildAuthVerifier({ authType: a.authType, authLevel: a.authLevel, authContextId: a.authContextId, credentials: token });
  }
}

/** Samba's dcerpc_get_auth_{type,level,context_id}: sec_trailer fields read straight from the PDU. */
function peekSecTrailer(raw: Uint8Array, fragLength: number, authLength: number, le: boolean): {
  authType: number; authLevel: number; authContextId: number;
} {
  const none = { authType: 0, authLevel: 0, authContextId: 0 };
  if (authLength === 0 || fragLength > raw.length || authLength > fragLength) return none;
  const offset = fragLength - authLength;
  if (offset < HEADER_LENGTH + SEC_TRAILER_LENGTH) return none;
  const at = offset - SEC_TRAILER_LENGTH;
  return {
    authType: raw[at] as number,
    authLevel: raw[at + 1] as number,
    authContextId: new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(at + 4, le),
  };
}
