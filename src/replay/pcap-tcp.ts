/**
 * TCP reassembly for captured traffic: per flow and direction, segments are put back in sequence
 * order (32-bit wrap-around included); retransmitted and overlapping bytes are dropped (the first
 * copy wins), segments ahead of the next expected byte wait in a bounded buffer, and when that
 * buffer overflows the missing bytes are declared a gap. SYN starts a flow (and tells the client
 * apart), FIN ends a direction, RST ends the flow; a fresh SYN on the same address pair starts a
 * new flow. Only flows with a server port of interest are followed.
 */
import { TCP_FLAG, type TcpSegment } from './pcap-packet.js';

export type StreamEvent =
  | { readonly kind: 'data'; readonly flow: number; readonly fromClient: boolean; readonly bytes: Uint8Array; readonly time: number; readonly frame: number }
  | { readonly kind: 'gap' | 'end'; readonly flow: number; readonly fromClient: boolean; readonly time: number; readonly frame: number };

export interface FlowInfo {
  readonly id: number;
  /** "address:port" of each side. */
  readonly client: string;
  readonly server: string;
  readonly serverPort: number;
}

export interface ReassemblyStats {
  /** Bytes seen again (retransmissions, overlaps) and dropped. */
  duplicateBytes: number;
  /** Bytes never seen: the gaps declared. */
  gaps: number;
  /** Out-of-order segments still waiting when the capture ended. */
  unfinished: number;
}

export interface ReassemblyOptions {
  /** Which TCP ports are servers to follow. */
  readonly isServerPort: (port: number) => boolean;
  /** Out-of-order bytes kept per direction before a gap is declared (default 4 MiB). */
  readonly maxBuffered?: number;
}

interface Pending {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

interface Direction {
  /** Next expected sequence number (unsigned 32-bit), once known. */
  next: number | undefined;
  pending: Pending[];
  pendingBytes: number;
  ended: boolean;
}

interface Flow {
  readonly info: FlowInfo;
  readonly isn: number | undefined;
  readonly dirs: readonly [Direction, Direction]; // [from client, from server]
}

/** Bytes ahead of the next expected one beyond which a segment is taken for garbage. */
const MAX_AHEAD = 1 << 30;
const MAX_PENDING_SEGMENTS = 4096;

const newDirection = (): Direction => ({ next: undefined, pending: [], pendingBytes: 0, ended: false });
const diff32 = (a: number, b: number): number => (a - b) | 0;

export class TcpReassembler {
  readonly flows = new Map<number, FlowInfo>();
  readonly stats: ReassemblyStats = { duplicateBytes: 0, gaps: 0, unfinished: 0 };
  private readonly open = new Map<string, Flow>();
  private nextId = 0;
  private readonly maxBuffered: number;

  constructor(private readonly opts: ReassemblyOptions) {
    this.maxBuffered = opts.maxBuffered ?? 4 << 20;
  }

  /** Feeds one segment; returns the stream events it causes, in order. */
  push(seg: TcpSegment, time: number, frame: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    const a = `${seg.src}:${seg.srcPort}`;
    const b = `${seg.dst}:${seg.dstPort}`;
    const syn = (seg.flags & TCP_FLAG.SYN) !== 0;
    const ackFlag = (seg.flags & TCP_FLAG.ACK) !== 0;
    let flow = this.open.get(`${a}>${b}`) ?? this.open.get(`${b}>${a}`);
    let fromClient: boolean;
    if (flow) {
      fromClient = flow.info.client === a;
      // A new connection on the same address pair (the client's SYN with another ISN).
      if (syn && !ackFlag && fromClient && flow.isn !== seg.seq) {
        this.close(flow, out, time, frame);
        flow = undefined;
      }
    }
    if (!flow) {
      if (syn && !ackFlag) fromClient = true;
      else if (syn) fromClient = false;
      else if (this.opts.isServerPort(seg.dstPort)) fromClient = true;
      else if (this.opts.isServerPort(seg.srcPort)) fromClient = false;
      else return out;
      const server = fromClient ? seg.dstPort : seg.srcPort;
      if (!this.opts.isServerPort(server)) return out;
      if ((seg.flags & TCP_FLAG.RST) !== 0) return out;
      const info: FlowInfo = { id: this.nextId++, client: fromClient ? a : b, server: fromClient ? b : a, serverPort: server };
      flow = { info, isn: syn && fromClient ? seg.seq : undefined, dirs: [newDirection(), newDirection()] };
      this.flows.set(info.id, info);
      this.open.set(`${info.client}>${info.server}`, flow);
    }
    fromClient = flow.info.client === a;
    if ((seg.flags & TCP_FLAG.RST) !== 0) {
      this.close(flow, out, time, frame);
      return out;
    }
    const d = flow.dirs[fromClient ? 0 : 1];
    if (d.ended) {
      if (seg.payload.length > 0) this.stats.duplicateBytes += seg.payload.length;
      return out;
    }
    let dataSeq = seg.seq;
    if (syn) {
      dataSeq = (seg.seq + 1) >>> 0;
      if (d.next === undefined) d.next = dataSeq;
    }
    // Picked up mid-stream: the first segment seen sets the origin.
    if (d.next === undefined) d.next = dataSeq;
    const fin = (seg.flags & TCP_FLAG.FIN) !== 0;
    this.accept(flow.info.id, fromClient, d, { seq: dataSeq, data: seg.payload, fin }, out, time, frame);
    if (flow.dirs[0].ended && flow.dirs[1].ended) this.open.delete(`${flow.info.client}>${flow.info.server}`);
    return out;
  }

  /** Ends every open flow (the capture is over); out-of-order leftovers count as unfinished. */
  finish(time: number, frame: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const flow of [...this.open.values()]) this.close(flow, out, time, frame);
    return out;
  }

  private close(flow: Flow, out: StreamEvent[], time: number, frame: number): void {
    flow.dirs.forEach((d, i) => {
      if (d.ended) return;
      this.stats.unfinished += d.pending.length;
      d.pending = [];
      d.pendingBytes = 0;
      d.ended = true;
      out.push({ kind: 'end', flow: flow.info.id, fromClient: i === 0, time, frame });
    });
    this.open.delete(`${flow.info.client}>${flow.info.server}`);
  }

  private accept(id: number, fromClient: boolean, d: Direction, p: Pending, out: StreamEvent[], time: number, frame: number): void {
    const ev = { flow: id, fromClient, time, frame };
    const ahead = diff32(p.seq, d.next as number);
    if (ahead > 0) {
      if (ahead > MAX_AHEAD) {
        this.stats.duplicateBytes += p.data.length;
        return;
      }
      d.pending.push({ ...p, data: new Uint8Array(p.data) });
      d.pendingBytes += p.data.length;
      if (d.pendingBytes <= this.maxBuffered && d.pending.length <= MAX_PENDING_SEGMENTS) return;
      // Too much waits on bytes that never came: skip to the earliest buffered segment.
      d.pending.sort((x, y) => diff32(x.seq, y.seq));
      const first = d.pending[0] as Pending;
      this.stats.gaps += diff32(first.seq, d.next as number);
      out.push({ kind: 'gap', ...ev });
      d.next = first.seq;
    } else {
      this.deliver(d, p, out, ev);
    }
    this.drain(d, out, ev);
  }

  /** Delivers the part of `p` at or after the next expected byte (p starts at or before it). */
  private deliver(d: Direction, p: Pending, out: StreamEvent[], ev: { flow: number; fromClient: boolean; time: number; frame: number }): void {
    const behind = -diff32(p.seq, d.next as number);
    if (behind >= p.data.length && !(p.fin && behind === p.data.length)) {
      this.stats.duplicateBytes += p.data.length;
      return;
    }
    this.stats.duplicateBytes += behind;
    const fresh = p.data.subarray(behind);
    if (fresh.length > 0) {
      out.push({ kind: 'data', ...ev, bytes: fresh });
      d.next = ((d.next as number) + fresh.length) >>> 0;
    }
    if (p.fin) {
      d.ended = true;
      this.stats.unfinished += d.pending.length;
      d.pending = [];
      d.pendingBytes = 0;
      out.push({ kind: 'end', ...ev });
    }
  }

  /** Delivers buffered segments that have become due. */
  private drain(d: Direction, out: StreamEvent[], ev: { flow: number; fromClient: boolean; time: number; frame: number }): void {
    for (;;) {
      if (d.ended || d.pending.length === 0) return;
      let best = -1;
      for (let i = 0; i < d.pending.length; i++) {
        if (diff32((d.pending[i] as Pending).seq, d.next as number) <= 0) {
          best = i;
          break;
        }
      }
      if (best < 0) return;
      const [p] = d.pending.splice(best, 1) as [Pending];
      d.pendingBytes -= p.data.length;
      this.deliver(d, p, out, ev);
    }
  }
}
