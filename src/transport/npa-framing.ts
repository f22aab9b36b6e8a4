/**
 * Pipe framing after the named_pipe_auth handshake. Message mode (file_type 2): every chunk in
 * both directions is a little-endian u16 length and that many bytes — one SMB write or
 * transceive from the client, one message per response PDU to it. Byte mode (file_type 1): raw.
 */

/** Largest payload of one message (the length is a u16). */
export const MAX_MESSAGE = 0xffff;

/** Splits a byte stream from smbd into message payloads. */
export class MessageDeframer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Feeds bytes; returns the payloads of every message completed by them, in order. */
  push(chunk: Uint8Array): Buffer[] {
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.byteLength;
    const out: Buffer[] = [];
    while (this.pendingBytes >= 2) {
      const head = this.peek(2);
      const len = head.readUInt16LE(0);
      if (this.pendingBytes < 2 + len) break;
      const whole = this.take(2 + len);
      out.push(whole.subarray(2));
    }
    return out;
  }

  /** Bytes held back waiting for the rest of a message. */
  get buffered(): number {
    return this.pendingBytes;
  }

  private peek(n: number): Buffer {
    if ((this.pending[0] as Buffer).length < n) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0] as Buffer;
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

/** Frames one PDU as message(s): one message normally, several if it exceeds MAX_MESSAGE. */
export function frameMessages(pdu: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  do {
    const n = Math.min(MAX_MESSAGE, pdu.length - at);
    const msg = Buffer.allocUnsafe(2 + n);
    msg.writeUInt16LE(n, 0);
    msg.set(pdu.subarray(at, at + n), 2);
    out.push(msg);
    at += n;
  } while (at < pdu.length);
  return out;
}
