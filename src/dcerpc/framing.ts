/**
 * Splits a byte stream into PDUs by frag_length (docs/DCERPC.md §11, transport level): read the
 * 16-byte header, then frag_length − 16 more. A frag_length below 16 cannot frame a PDU; Samba
 * drops such a connection without a reply. Used by the server stream and by the client.
 */
import { copyBytes, joinBytes } from '../ndr/index.js';
import { HEADER_LENGTH } from './constants.js';
import { peekFragLength } from './pdu.js';

const EMPTY = new Uint8Array(0);

export class PduFramer {
  private buf: Uint8Array = EMPTY;
  /** Set once a header with frag_length < 16 was seen; nothing more is framed. */
  broken = false;

  /** Bytes received but not yet part of a complete PDU. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Adds bytes; returns the PDUs completed by them, each a fresh Uint8Array of exactly frag_length
   * bytes (never a view of the caller's Buffer: `Buffer#slice` would not copy). Each byte is
   * copied once into its PDU, or once more when a PDU spans two pushes.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    if (this.broken) return [];
    const data = this.buf.length === 0 ? bytes : joinBytes([this.buf, bytes]);
    const out: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      const rest = data.subarray(off);
      const len = peekFragLength(rest);
      if (len === undefined) break;
      if (len < HEADER_LENGTH) {
        this.broken = true;
        break;
      }
      if (rest.length < len) break;
      out.push(copyBytes(rest.subarray(0, len)));
      off += len;
    }
    // What is left is kept as a copy: the caller may reuse its buffer.
    this.buf = off === data.length ? EMPTY : copyBytes(data.subarray(off));
    return out;
  }
}
