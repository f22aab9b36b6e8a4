/**
 * Connection-oriented PDUs as values (docs/DCERPC.md §1, §4). One interface per body layout; a PDU
 * is its common header plus the body of its PTYPE. Trailing blobs (stub, auth verifier) stay bytes:
 * their meaning depends on connection state, which the codec does not know.
 */
import type { SyntaxId } from './syntax.js';

export type Drep = readonly [number, number, number, number];

/** The 16-byte common header. Numbers are as on the wire (byte order per drep[0]). */
export interface PduHeader {
  readonly rpcVers: number;
  readonly rpcVersMinor: number;
  readonly ptype: number;
  readonly pfcFlags: number;
  readonly drep: Drep;
  readonly fragLength: number;
  readonly authLength: number;
  readonly callId: number;
}

/** p_cont_elem_t: one proposed presentation context. */
export interface PresentationContext {
  readonly contextId: number;
  readonly abstractSyntax: SyntaxId;
  readonly transferSyntaxes: readonly SyntaxId[];
}

/** p_result_t: the answer to one presentation context, in request order. */
export interface ContextResult {
  readonly result: number;
  /** Provider reason, or the granted feature bits when result is negotiate_ack (3). */
  readonly reason: number;
  readonly transferSyntax: SyntaxId;
}

export interface BindVersion {
  readonly major: number;
  readonly minor: number;
}

interface Base {
  readonly header: PduHeader;
}

/** bind (11) and alter_context (14): §4.1. */
export interface BindPdu extends Base {
  readonly kind: 'bind' | 'alter_context';
  readonly maxXmitFrag: number;
  readonly maxRecvFrag: number;
  readonly assocGroupId: number;
  readonly contexts: readonly PresentationContext[];
  /** Everything after the context list: [auth pad] sec_trailer auth_value when auth_length > 0. */
  readonly authInfo: Uint8Array;
}

/** bind_ack (12) and alter_context_resp (15): §4.2. */
export interface BindAckPdu extends Base {
  readonly kind: 'bind_ack' | 'alter_context_resp';
  readonly maxXmitFrag: number;
  readonly maxRecvFrag: number;
  readonly assocGroupId: number;
  /** ASCII; sent NUL-terminated with a length that counts the NUL, or length 0 when empty. */
  readonly secondaryAddress: string;
  readonly results: readonly ContextResult[];
  readonly authInfo: Uint8Array;
}

/** bind_nak (13): §4.3. */
export interface BindNakPdu extends Base {
  readonly kind: 'bind_nak';
  readonly rejectReason: number;
  readonly versions: readonly BindVersion[];
  /** Bytes after the version list (Samba sends 3 zero bytes). */
  readonly pad: Uint8Array;
}

/** request (0): §4.4. */
export interface RequestPdu extends Base {
  readonly kind: 'request';
  readonly allocHint: number;
  readonly contextId: number;
  readonly opnum: number;
  /** Present exactly when PFC_OBJECT_UUID is set. */
  readonly object?: string;
  /** Stub data, then (when auth_length > 0) auth pad, sec_trailer and auth_value. */
  readonly stubAndVerifier: Uint8Array;
}

/** response (2): §4.5. */
export interface ResponsePdu extends Base {
  readonly kind: 'response';
  readonly allocHint: number;
  readonly contextId: number;
  readonly cancelCount: number;
  readonly reserved: number;
  readonly stubAndVerifier: Uint8Array;
}

/** fault (3): §4.6. */
export interface FaultPdu extends Base {
  readonly kind: 'fault';
  readonly allocHint: number;
  readonly contextId: number;
  readonly cancelCount: number;
  readonly flags: number;
  readonly status: number;
  readonly reserved: number;
  readonly errorAndVerifier: Uint8Array;
}

/** rpc_auth_3 (16): §4.7. */
export interface Auth3Pdu extends Base {
  readonly kind: 'auth3';
  /** The 4 bytes MS-RPCE says to ignore, as a u32. */
  readonly pad: number;
  readonly authInfo: Uint8Array;
}

/** co_cancel (18) and orphaned (19): header plus optional auth verifier. */
export interface CancelPdu extends Base {
  readonly kind: 'co_cancel' | 'orphaned';
  readonly authInfo: Uint8Array;
}

/**
 * PDUs a server never acts on except to refuse them: shutdown (17), the connectionless types
 * (1, 4–10) and rts (20). The decoder checks the minimum body size of each (as Samba's parser
 * does) and keeps the body bytes.
 */
export interface OpaquePdu extends Base {
  readonly kind:
    | 'shutdown' | 'ping' | 'working' | 'nocall' | 'reject' | 'ack' | 'cl_cancel' | 'fack'
    | 'cancel_ack' | 'rts';
  readonly body: Uint8Array;
}

export type Pdu =
  | BindPdu
  | BindAckPdu
  | BindNakPdu
  | RequestPdu
  | ResponsePdu
  | FaultPdu
  | Auth3Pdu
  | CancelPdu
  | OpaquePdu;

export type PduKind = Pdu['kind'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * What `encodePdu` takes: a PDU without its header, plus header fields to set. Unset fields
 * default to version 5.0, the kind's PTYPE, FIRST|LAST, little-endian drep, auth_length 0,
 * call_id 0 and the computed frag_length. Overriding ptype/fragLength/authLength lets tests build
 * malformed PDUs.
 */
export type PduInit = DistributiveOmit<Pdu, 'header'> & { readonly header?: Partial<PduHeader> };
