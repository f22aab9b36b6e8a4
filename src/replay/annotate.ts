/**
 * Turns the PDUs of one RPC connection into capture records (src/replay/capture.ts format):
 * ptype and call_id from the header, opnum from requests (and, by call_id, for their responses
 * and faults), the FSRVP operation name. Used by the pcap importer and the agent's recorder.
 */
import { HEADER_LENGTH, ptypeName } from '../dcerpc/constants.js';
import { isLittleEndian } from '../dcerpc/pdu.js';
import { FSRVP_OPERATIONS } from '../fsrvp/idl.js';
import type { CapturedPdu } from './capture.js';

/** A capture record with the optional fields the fixtures carry too. */
export interface CaptureRecord extends CapturedPdu {
  /** The pipe name (named-pipe transports). */
  pipe?: string;
  /** Seconds since the capture started. */
  t?: number;
}

const REQUEST = 0;
const RESPONSE = 2;
const FAULT = 3;
/** Calls remembered per connection for naming their responses. */
const MAX_CALLS = 4096;

const u16 = (b: Uint8Array, off: number, le: boolean): number =>
  le ? (b[off] as number) | ((b[off + 1] as number) << 8) : ((b[off] as number) << 8) | (b[off + 1] as number);
const u32 = (b: Uint8Array, off: number, le: boolean): number =>
  le
    ? ((b[off] as number) | ((b[off + 1] as number) << 8) | ((b[off + 2] as number) << 16) | ((b[off + 3] as number) << 24)) >>> 0
    : (((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0;

/** Record builder for one RPC connection. */
export class PduAnnotator {
  private n = 0;
  private readonly opnums = new Map<number, number>();

  /**
   * @param fsrvp whether the connection carries FileServerVssAgent (op names are filled in)
   */
  constructor(
    private readonly conn: number,
    private readonly fid: string,
    private readonly fsrvp: boolean,
    private readonly pipe?: string,
  ) {}

  /** The record of one complete PDU (at least a 16-byte header; shorter ones get ptype "?"). */
  record(dir: 'c2s' | 's2c', pdu: Uint8Array, t?: number): CaptureRecord {
    const rec: CaptureRecord = { conn: this.conn, fid: this.fid, n: this.n++, dir, ptype: '?', call_id: 0, hex: Buffer.from(pdu).toString('hex') };
    if (this.pipe !== undefined) rec.pipe = this.pipe;
    if (t !== undefined) rec.t = Math.round(t * 1e6) / 1e6;
    if (pdu.length < HEADER_LENGTH) return this.ordered(rec);
    const le = isLittleEndian(pdu.subarray(4, 8));
    const ptype = pdu[2] as number;
    rec.ptype = ptypeName(ptype);
    rec.call_id = u32(pdu, 12, le);
    let opnum: number | undefined;
    if (ptype === REQUEST && pdu.length >= 24) {
      opnum = u16(pdu, 22, le);
      if (this.opnums.size >= MAX_CALLS) this.opnums.delete(this.opnums.keys().next().value as number);
      this.opnums.set(rec.call_id, opnum);
    } else if (ptype === RESPONSE || ptype === FAULT) {
      opnum = this.opnums.get(rec.call_id);
      // The last fragment of the response ends the call.
      if ((pdu[3] as number) & 0x02) this.opnums.delete(rec.call_id);
    }
    if (opnum !== undefined) {
      rec.opnum = opnum;
      const op = this.fsrvp ? FSRVP_OPERATIONS[opnum] : undefined;
      if (op) rec.op = op.name;
    }
    return this.ordered(rec);
  }

  /** The fixtures' key order: conn, pipe, fid, n, dir, ptype, call_id, t, opnum, op, hex. */
  private ordered(r: CaptureRecord): CaptureRecord {
    const o: CaptureRecord = { conn: r.conn, ...(r.pipe !== undefined ? { pipe: r.pipe } : {}), fid: r.fid, n: r.n, dir: r.dir, ptype: r.ptype, call_id: r.call_id } as CaptureRecord;
    if (r.t !== undefined) o.t = r.t;
    if (r.opnum !== undefined) o.opnum = r.opnum;
    if (r.op !== undefined) o.op = r.op;
    o.hex = r.hex;
    return o;
  }
}
