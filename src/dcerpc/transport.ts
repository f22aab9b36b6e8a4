/**
 * A message transport RpcClient can run over instead of its own TCP socket: an SMB named pipe,
 * say (src/smb/pipe.ts implements it; dcerpc never imports smb). `receive` is called only while
 * the client waits for a PDU; it yields bytes (one or more PDUs, or part of one: RpcClient frames
 * them by frag_length) or null once the transport is closed.
 */
export interface PduTransport {
  /** Sends bytes (a whole PDU); sends are delivered in call order. */
  send(bytes: Uint8Array): Promise<void>;
  receive(): Promise<Uint8Array | null>;
  close(): Promise<void>;
}
