/**
 * The authentication seam (docs/DCERPC.md §8, §9). The connection state machine parses and
 * validates every auth verifier itself and keeps one `AuthState` per security context, as Samba's
 * `dcesrv_auth` does; an `AuthProvider` (one per auth_type, e.g. NTLMSSP = 10) supplies the
 * mechanism: the handshake tokens and, for levels packet..privacy, signing and sealing.
 *
 * With no provider registered — the state today — every auth_type is unknown: a bind with an
 * auth verifier at a valid level gets bind_nak 8, exactly as Samba answers an auth type it has no
 * mechanism for.
 */
import type { CallerIdentity } from './interface.js';
import { AUTH_LEVEL, AUTH_TYPE } from './constants.js';

/** What a provider is told when a client starts a security context (bind or alter_context). */
export interface AuthStart {
  readonly authLevel: number;
  readonly authContextId: number;
  readonly connectionId: number;
  /** The transport's identity of the peer (e.g. the SMB session user on ncacn_np). */
  readonly transportCaller: CallerIdentity;
  /** True when the client set PFC_SUPPORT_HEADER_SIGN (the mechanism should sign headers too). */
  readonly headerSigning: boolean;
}

export type AuthStep =
  /** More legs follow; send `token` back (bind_ack / alter_context_resp). */
  | { readonly status: 'continue'; readonly token: Uint8Array }
  /** Established; `token` (possibly empty) goes back unless the leg was auth3. */
  | { readonly status: 'done'; readonly token: Uint8Array; readonly identity: CallerIdentity }
  /** The mechanism refuses the token (Samba: bind_nak 0 / fault 0x721 / silent on auth3). */
  | { readonly status: 'rejected'; readonly reason: string };

/** Arguments of packet protection, in Samba's gensec terms. */
export interface PacketProtection {
  readonly authLevel: number;
  /** The whole fragment as it goes on the wire, frag_length and auth_length final. */
  readonly pdu: Uint8Array;
  /** Where the protected payload (stub + auth pad) starts in `pdu`, and its length. */
  readonly payloadOffset: number;
  readonly payloadLength: number;
  /** Bytes 0 .. end of the sec_trailer: what a signature covers. */
  readonly signedLength: number;
}

/** The server side of one established (or establishing) security context. */
export interface AuthSession {
  /** One handshake leg: the client's token in, the server's answer out. */
  update(token: Uint8Array): Promise<AuthStep>;
  /** Signature length on protected PDUs (levels packet..privacy); 0 if none. */
  signatureSize(): number;
  /**
   * Checks a received PDU's signature; for privacy, first unseals the payload in place in `pdu`.
   * False when the check fails (fault 0x721 + close).
   */
  unwrap(p: PacketProtection & { readonly signature: Uint8Array }): boolean;
  /** Signs an outgoing PDU; for privacy, seals the payload in place in `pdu`. Returns the signature. */
  wrap(p: PacketProtection): Uint8Array;
}

/** One mechanism, registered for one auth_type. */
export interface AuthProvider {
  readonly authType: number;
  readonly name: string;
  /** Starts a context; undefined when the mechanism cannot start (bind_nak 9, "failed to start"). */
  start(init: AuthStart): AuthSession | undefined;
}

/** Per-context state, Samba's `struct dcesrv_auth` reduced to what the checks use. */
export interface AuthState {
  authType: number;
  authLevel: number;
  authContextId: number;
  /** A handshake began (or the bind settled "no auth"). */
  started: boolean;
  /** The handshake completed (or "no auth" was settled). */
  finished: boolean;
  /** Refused for good: every later request on it faults and closes. */
  invalid: boolean;
  session?: AuthSession;
  identity?: CallerIdentity;
}

export function newAuthState(): AuthState {
  return {
    authType: AUTH_TYPE.none,
    authLevel: AUTH_LEVEL.none,
    authContextId: 0,
    started: false,
    finished: false,
    invalid: false,
  };
}

/** What the runtime reports about authentication, for the operator's log (never sent to the peer). */
export type SecurityEvent =
  | { readonly kind: 'established'; readonly connectionId: number; readonly authType: number; readonly authLevel: number; readonly identity: CallerIdentity }
  /** The mechanism refused a handshake token (wrong password, bad ticket, replay, ...). */
  | { readonly kind: 'rejected'; readonly connectionId: number; readonly authType: number; readonly reason: string }
  /** A request was refused for its protection: bad signature, level below the minimum, unusable context. */
  | { readonly kind: 'refused'; readonly connectionId: number; readonly reason: string };

/** Levels a bind/alter may ask for: connect (2) through privacy (6). */
export function isValidBindAuthLevel(level: number): boolean {
  return level >= AUTH_LEVEL.connect && level <= AUTH_LEVEL.privacy;
}
