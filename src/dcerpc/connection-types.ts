/** The options, outcomes and call records of an RpcConnection (connection.ts). */
import type { AuthProvider, AuthState, SecurityEvent } from './auth.js';
import type { CallerIdentity, InterfaceRegistry } from './interface.js';
import type { AssocGroupTable } from './assoc-group.js';
import type { BoundContext } from './negotiate.js';
import type { RequestPdu } from './pdu-types.js';

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
export interface CallRef {
  readonly callId: number;
  readonly context: BoundContext | undefined;
}

/** A request whose fragments are still arriving (or that is complete and about to dispatch). */
export interface IncomingCall extends CallRef {
  readonly context: BoundContext;
  readonly first: RequestPdu;
  readonly auth: AuthState;
  readonly chunks: Uint8Array[];
  length: number;
  last: boolean;
}

export const KEEP: PduOutcome = { replies: [], after: 'keep' };

/** What a bind_ack can carry as secondary address (sent as ASCII with a NUL; at most 255 here). */
export function isValidSecondaryAddress(s: string): boolean {
  return s.length < 256 && /^[\x20-\x7e]*$/.test(s);
}
