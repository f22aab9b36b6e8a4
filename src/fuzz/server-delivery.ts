/**
 * How one case of `fsrvp-fuzz server` reaches the server over each transport, and how its outcome
 * is read back.
 *  - TCP (a byte stream): the case's PDUs as they are, then a canary request, then a half-close.
 *    From then on the server cannot be waiting for more bytes: it must answer or close.
 *  - SMB pipe and external pipe socket (message mode, no end of input): the same bytes, re-cut by
 *    frag_length into one message per PDU. An empty PDU sends nothing; a PDU left short at the end
 *    is completed with zero bytes (and a second canary follows, the first one being inside it);
 *    once a frag_length below 16 shows up, the rest goes as one message (the server must drop it).
 *    So the server sees the byte stream TCP would carry, and every message is a whole frame.
 * A closed pipe (STATUS_PIPE_BROKEN, STATUS_PIPE_DISCONNECTED, STATUS_PIPE_CLOSING, or
 * STATUS_CONNECTION_DISCONNECTED / STATUS_CONNECTION_RESET, which smbd 4.17 answers a transceive
 * or READ with once the server behind the pipe closed or reset its socket; a socket the server
 * closed) is the server's "close";
 * no answer and no close within the time is a hang.
 */
import type { RpcClient } from '../dcerpc/client.js';
import { HEADER_LENGTH } from '../dcerpc/constants.js';
import { peekFragLength } from '../dcerpc/pdu.js';
import { NpaClientError } from '../transport/npa-client.js';
import { SmbConnectionError, SmbStatusError } from '../smb/index.js';

export type ServerTransport = 'tcp' | 'smb' | 'unix';

export const CANARY_CALL_ID = 0x7ffffff0;

/** What a message transport gets for a case. */
export interface MessagePlan {
  readonly messages: Uint8Array[];
  /** Zero bytes added to complete the last frame. */
  readonly filler: number;
  /** A frag_length below 16 ended the framing (the rest went as one message). */
  readonly broken: boolean;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cuts the case's bytes (PDUs, then the canary) into one message per frame, as described above. */
export function planMessages(pdus: readonly Uint8Array[], canary: Uint8Array): MessagePlan {
  let buf = concat([...pdus, canary]);
  const messages: Uint8Array[] = [];
  let filler = 0;
  let broken = false;
  let off = 0;
  // Each round either emits a frame or pads: a header, then a body; never more than two pads.
  while (off < buf.length) {
    const rest = buf.subarray(off);
    const len = peekFragLength(rest);
    const need = len === undefined ? HEADER_LENGTH : len;
    if (len !== undefined && len < HEADER_LENGTH) {
      messages.push(rest);
      broken = true;
      break;
    }
    if (rest.length < need) {
      filler += need - rest.length;
      buf = concat([buf, new Uint8Array(need - rest.length)]);
      continue;
    }
    messages.push(buf.subarray(off, off + need));
    off += need;
  }
  if (filler > 0 && !broken) messages.push(canary);
  return { messages: messages.map((m) => new Uint8Array(m)), filler, broken };
}

/** Sends the case: returns the messages (or stream writes) as sent, and the plan for messages. */
export function deliver(rpc: RpcClient, transport: ServerTransport, pdus: readonly Uint8Array[], canary: Uint8Array): { sent: Uint8Array[]; plan?: MessagePlan } {
  if (transport === 'tcp') {
    for (const p of pdus) rpc.sendRaw(p);
    rpc.sendRaw(canary);
    rpc.endWrite();
    return { sent: [...pdus, canary] };
  }
  const plan = planMessages(pdus, canary);
  for (const m of plan.messages) rpc.sendRaw(m);
  return { sent: plan.messages, plan };
}

/** True when `e` says the server closed the pipe or connection (not that the session failed). */
export function isServerClose(e: unknown): boolean {
  if (e instanceof SmbStatusError) return e.is('PIPE_BROKEN') || e.is('PIPE_DISCONNECTED') || e.is('PIPE_CLOSING') || e.is('CONNECTION_DISCONNECTED') || e.is('CONNECTION_RESET');
  if (e instanceof NpaClientError) return /closed/.test(e.message);
  if (e instanceof SmbConnectionError) return false;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

export type Outcome = 'answered' | 'closed' | 'hang' | { error: string };

/** Reads until the canary's answer, a close, an error, or the deadline. */
export async function observe(rpc: RpcClient, deadline: number): Promise<Outcome> {
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return 'hang';
    let pdu: Uint8Array | null;
    try {
      pdu = await rpc.readPdu(left);
    } catch (e) {
      if (!rpc.isClosed) return 'hang';
      return isServerClose(e) ? 'closed' : { error: e instanceof Error ? e.message : String(e) };
    }
    if (pdu === null) return 'closed';
    if (pdu.length >= 16 && new DataView(pdu.buffer, pdu.byteOffset).getUint32(12, true) === CANARY_CALL_ID) return 'answered';
  }
}
