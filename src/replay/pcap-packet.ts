/**
 * From a captured frame to a TCP segment: link layers (Ethernet with VLAN tags, Linux cooked
 * SLL and SLL2, raw IPv4/IPv6, BSD loopback NULL/LOOP), IPv4 and IPv6 (hop-by-hop, routing and
 * destination options skipped), fragments reassembled by PacketDecoder (pcap-ipfrag.ts), then
 * the TCP header. Total: every input gives a segment, a held fragment or the reason it is not
 * one (never an exception).
 */
import { FragmentReassembler, type FragmentLimits, type FragmentStats, type IpFragment } from './pcap-ipfrag.js';

export const LINKTYPE = {
  NULL: 0, ETHERNET: 1, RAW: 101, RAW_12: 12, RAW_14: 14, LOOP: 108, LINUX_SLL: 113,
  IPV4: 228, IPV6: 229, LINUX_SLL2: 276,
} as const;

export interface TcpSegment {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly payload: Uint8Array;
}

export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export type PacketResult = { readonly ok: true; readonly segment: TcpSegment } | { readonly ok: false; readonly reason: string };

const no = (reason: string): PacketResult => ({ ok: false, reason });
const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The network-layer bytes and their EtherType, or why there are none. */
function network(linkType: number, d: Uint8Array): { type: number; bytes: Uint8Array } | string {
  const dv = view(d);
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      if (d.length < 14) return 'short Ethernet header';
      let off = 12;
      let type = dv.getUint16(off);
      // At most two stacked tags (802.1ad QinQ), as seen in practice.
      for (let i = 0; i < 2 && VLAN_TAGS.has(type); i++) {
        off += 4;
        if (d.length < off + 2) return 'short VLAN tag';
        type = dv.getUint16(off);
      }
      return { type, bytes: d.subarray(off + 2) };
    }
    case LINKTYPE.LINUX_SLL:
      if (d.length < 16) return 'short Linux cooked header';
      return { type: dv.getUint16(14), bytes: d.subarray(16) };
    case LINKTYPE.LINUX_SLL2:
      if (d.length < 20) return 'short Linux cooked v2 header';
      return { type: dv.getUint16(0), bytes: d.subarray(20) };
    case LINKTYPE.RAW: case LINKTYPE.RAW_12: case LINKTYPE.RAW_14: {
      const v = d.length > 0 ? (d[0] as number) >> 4 : 0;
      return v === 4 ? { type: ETH_IPV4, bytes: d } : v === 6 ? { type: ETH_IPV6, bytes: d } : 'raw IP of unknown version';
    }
    case LINKTYPE.IPV4:
      return { type: ETH_IPV4, bytes: d };
    case LINKTYPE.IPV6:
      return { type: ETH_IPV6, bytes: d };
    case LINKTYPE.NULL: case LINKTYPE.LOOP: {
      if (d.length < 4) return 'short loopback header';
      // NULL: the family in the capturing host's byte order; LOOP: big-endian. Try both.
      const fam = linkType === LINKTYPE.LOOP ? dv.getUint32(0) : Math.min(dv.getUint32(0, true), dv.getUint32(0, false));
      if (fam === 2) return { type: ETH_IPV4, bytes: d.subarray(4) };
      if (fam === 10 || fam === 24 || fam === 28 || fam === 30) return { type: ETH_IPV6, bytes: d.subarray(4) };
      return `loopback family ${fam}`;
    }
    default:
      return `link type ${linkType} not supported`;
  }
}

function ipv4Text(d: Uint8Array, off: number): string {
  return `${d[off]}.${d[off + 1]}.${d[off + 2]}.${d[off + 3]}`;
}

function ipv6Text(d: Uint8Array, off: number): string {
  const dv = view(d);
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) parts.push(dv.getUint16(off + 2 * i).toString(16));
  return `[${parts.join(':')}]`;
}

interface IpPacket {
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly payload: Uint8Array;
}

const IPV6_SKIPPED = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

/**
 * Walks IPv6 extension headers from `next` at `off`: hop-by-hop, routing and destination options
 * are skipped; a Fragment header ends the walk (`fragmentAt`). At most 16 headers.
 */
function ipv6Chain(d: Uint8Array, next: number, off: number, end: number): { next: number; off: number; fragmentAt?: number } | string {
  for (let hops = 0; hops < 16 && (IPV6_SKIPPED.has(next) || next === IPV6_FRAGMENT); hops++) {
    if (next === IPV6_FRAGMENT) return { next, off, fragmentAt: off };
    if (off + 2 > end) return 'truncated IPv6 extension header';
    const len = ((d[off + 1] as number) + 1) * 8;
    next = d[off] as number;
    off += len;
    if (off > end) return 'truncated IPv6 extension header';
  }
  return { next, off };
}

/** An IP packet, one fragment of a datagram, or why it is neither. */
function ip(type: number, d: Uint8Array): IpPacket | IpFragment | string {
  const dv = view(d);
  if (type === ETH_IPV4) {
    if (d.length < 20 || (d[0] as number) >> 4 !== 4) return 'not an IPv4 header';
    const ihl = ((d[0] as number) & 0x0f) * 4;
    if (ihl < 20 || ihl > d.length) return 'bad IPv4 header length';
    const total = dv.getUint16(2);
    const fragment = dv.getUint16(6);
    // total 0 happens with segmentation offload: take what was captured.
    const end = total === 0 ? d.length : Math.min(total, d.length);
    if (end < ihl) return 'IPv4 total length below its header';
    const proto = d[9] as number;
    const src = ipv4Text(d, 12);
    const dst = ipv4Text(d, 16);
    if ((fragment & 0x3fff) === 0) return { proto, src, dst, payload: d.subarray(ihl, end) };
    return {
      version: 4, key: `4 ${src} ${dst} ${proto} ${dv.getUint16(4)}`, src, dst, next: proto,
      offset: (fragment & 0x1fff) * 8, more: (fragment & 0x2000) !== 0, data: d.subarray(ihl, end),
      truncated: total > d.length, maxPayload: 0xffff - ihl,
    };
  }
  if (type === ETH_IPV6) {
    if (d.length < 40 || (d[0] as number) >> 4 !== 6) return 'not an IPv6 header';
    const plen = dv.getUint16(4);
    const end = plen === 0 ? d.length : Math.min(40 + plen, d.length);
    const src = ipv6Text(d, 8);
    const dst = ipv6Text(d, 24);
    const c = ipv6Chain(d, d[6] as number, 40, end);
    if (typeof c === 'string') return c;
    if (c.fragmentAt === undefined) return { proto: c.next, src, dst, payload: d.subarray(c.off, end) };
    const at = c.fragmentAt;
    if (at + 8 > end) return 'truncated IPv6 fragment header';
    const id = dv.getUint32(at + 4);
    const field = dv.getUint16(at + 2);
    return {
      version: 6, key: `6 ${src} ${dst} ${id}`, src, dst, next: d[at] as number,
      offset: field & 0xfff8, more: (field & 1) !== 0, data: d.subarray(at + 8, end),
      truncated: plen !== 0 && 40 + plen > d.length, maxPayload: 0xffff - (at - 40),
    };
  }
  return `EtherType 0x${type.toString(16)} is not IP`;
}

/** The TCP segment in an IP packet's payload. */
function tcp(p: IpPacket): PacketResult {
  if (p.proto !== 6) return no(`IP protocol ${p.proto} is not TCP`);
  const t = p.payload;
  if (t.length < 20) return no('short TCP header');
  const dv = view(t);
  const hlen = ((t[12] as number) >> 4) * 4;
  if (hlen < 20 || hlen > t.length) return no('bad TCP header length');
  return {
    ok: true,
    segment: {
      src: p.src, dst: p.dst, srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), seq: dv.getUint32(4), ack: dv.getUint32(8),
      flags: t[13] as number, payload: t.subarray(hlen),
    },
  };
}

/** Decodes one frame down to its TCP segment; IP fragments are refused (PacketDecoder reassembles them). */
export function tcpSegment(linkType: number, frame: Uint8Array): PacketResult {
  const n = network(linkType, frame);
  if (typeof n === 'string') return no(n);
  const p = ip(n.type, n.bytes);
  if (typeof p === 'string') return no(p);
  if ('key' in p) return no(`IPv${p.version} fragment`);
  return tcp(p);
}

/** What PacketDecoder makes of a frame: a segment, why not, or a fragment taken for reassembly. */
export type DecodedFrame = PacketResult | { readonly ok: false; readonly held: true };

/**
 * Frames to TCP segments with IP fragment reassembly (pcap-ipfrag.ts): a fragment is held, and
 * the frame that completes a datagram yields its segment. Fragments of datagrams that are not TCP
 * (IPv4 protocol, or an IPv6 first header other than TCP and the skipped extension headers) are
 * refused at once instead of held.
 */
export class PacketDecoder {
  private readonly frags: FragmentReassembler;

  constructor(limits: FragmentLimits = {}) {
    this.frags = new FragmentReassembler(limits);
  }

  get fragmentStats(): FragmentStats {
    return this.frags.stats;
  }

  decode(linkType: number, frame: Uint8Array, time: number): DecodedFrame {
    const n = network(linkType, frame);
    if (typeof n === 'string') return no(n);
    const p = ip(n.type, n.bytes);
    if (typeof p === 'string') return no(p);
    if (!('key' in p)) return tcp(p);
    if (p.next !== 6 && (p.version === 4 || !IPV6_SKIPPED.has(p.next))) return no(`IP protocol ${p.next} is not TCP`);
    const whole = this.frags.push(p, time);
    if (whole === undefined) return { ok: false, held: true };
    if (whole.version === 4) return tcp({ proto: whole.next, src: whole.src, dst: whole.dst, payload: whole.payload });
    const c = ipv6Chain(whole.payload, whole.next, 0, whole.payload.length);
    if (typeof c === 'string') return no(c);
    if (c.fragmentAt !== undefined) return no('IPv6 fragment header inside a fragmented datagram');
    return tcp({ proto: c.next, src: whole.src, dst: whole.dst, payload: whole.payload.subarray(c.off) });
  }

  /** The capture ended: datagrams still waiting count as incomplete. */
  finish(): void {
    this.frags.finish();
  }
}
