/** The options and results of RpcClient's bind and calls. */
import type { ClientAuth } from './client-auth.js';
import type { FaultPdu, PresentationContext, ResponsePdu } from './pdu-types.js';

export interface BindOptions {
  readonly contexts: readonly PresentationContext[];
  /** Default 5840 each. */
  readonly maxXmitFrag?: number;
  readonly maxRecvFrag?: number;
  /** Default 0 (ask for a new association group). */
  readonly assocGroupId?: number;
  readonly callId?: number;
  /** Default FIRST|LAST. */
  readonly pfcFlags?: number;
  readonly timeoutMs?: number;
  /**
   * Authenticate the association: the bind carries the first leg, then alter_context / auth3
   * legs as the mechanism needs; calls are then signed or sealed at its level.
   * A refusal by either side throws RpcAuthError.
   */
  readonly auth?: ClientAuth;
}

export interface CallOptions {
  /** Largest request PDU to send; default the max_recv_frag the server acknowledged (or 5840). */
  readonly fragmentSize?: number;
  /** Sets PFC_OBJECT_UUID and sends this object UUID. */
  readonly objectUuid?: string;
  readonly callId?: number;
  /** Send the request big-endian (drep 00 00 00 00); the stub must be encoded to match. */
  readonly bigEndian?: boolean;
  readonly timeoutMs?: number;
}

export type CallResult =
  | { readonly stub: Uint8Array; readonly pdus: readonly ResponsePdu[]; readonly fault?: undefined }
  | { readonly fault: FaultPdu; readonly stub?: undefined; readonly pdus?: undefined };
