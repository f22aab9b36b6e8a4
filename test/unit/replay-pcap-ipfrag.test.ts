import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINKTYPE, PacketDecoder, type DecodedFrame } from '../../src/replay/pcap-packet.js';
import { FragmentReassembler, type IpFragment } from '../../src/replay/pcap-ipfrag.js';
import { importCapture } from '../../src/replay/pcap-import.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import { cat, ethernet, ipv4Fragments, ipv4Tcp, ipv6Fragments, pcapFile, type Seg } from '../helpers/pcap-build.js';

const payloadOf = (n: number, salt = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff);
const S: Seg = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 7135, seq: 1000, payload: payloadOf(200) };
const packet = ipv4Tcp(S);

/** Feeds raw IP frames in order; returns every result and the decoder. */
function run(frames: readonly Uint8Array[], limits = {}, times?: readonly number[]): { results: DecodedFrame[]; d: PacketDecoder } {
  const d = new PacketDecoder(limits);
  const results = frames.map((f, i) => d.decode(LINKTYPE.RAW, f, times?.[i] ?? 1));
  return { results, d };
}

const segments = (results: readonly DecodedFrame[]) => results.flatMap((r) => (r.ok ? [r.segment] : []));

describe('IPv4 fragment reassembly', () => {
  const frags = ipv4Fragments(packet, [64, 128], 0x1234); // 20-byte TCP header + 200 bytes: 64 + 64 + 92

  it('in order: the last fragment yields the whole segment', () => {
    expect(frags).toHaveLength(3);
    const { results, d } = run(frags);
    expect(results.slice(0, 2)).toEqual([{ ok: false, held: true }, { ok: false, held: true }]);
    const [s] = segments(results);
    expect(s).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 7135, seq: 1000 });
    expect(Buffer.from(s!.payload).equals(Buffer.from(S.payload!))).toBe(true);
    d.finish();
    expect(d.fragmentStats).toEqual({ fragments: 3, reassembled: 1, duplicates: 0, problems: {}, droppedBytes: 0 });
  });

  it('out of order, and with duplicates: the same segment once; duplicates counted', () => {
    const { results, d } = run([frags[2]!, frags[0]!, frags[0]!, frags[1]!, frags[1]!]);
    const got = segments(results);
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.payload).equals(Buffer.from(S.payload!))).toBe(true);
    expect(d.fragmentStats).toMatchObject({ fragments: 5, reassembled: 1, duplicates: 1 });
    // The duplicate after completion starts a new datagram that never completes.
    d.finish();
    expect(d.fragmentStats.problems).toEqual({ incomplete: 1 });
  });

  it('an overlap with other bytes drops the datagram (typed), and its later fragments quietly', () => {
    const other = ipv4Fragments(ipv4Tcp({ ...S, payload: payloadOf(200, 1) }), [32, 128], 0x1234);
    const { results, d } = run([frags[0]!, other[1]!, frags[1]!, frags[2]!]);
    expect(segments(results)).toEqual([]);
    d.finish();
    expect(d.fragmentStats.problems).toEqual({ overlap: 1 });
    expect(d.fragmentStats.droppedBytes).toBe(64 + other[1]!.length - 20 + 64 + 92);
  });

  it('a missing last fragment: incomplete at the end of the capture', () => {
    const { results, d } = run(frags.slice(0, 2));
    expect(segments(results)).toEqual([]);
    d.finish();
    expect(d.fragmentStats).toMatchObject({ reassembled: 0, problems: { incomplete: 1 }, droppedBytes: 128 });
  });

  it('an oversize datagram (past 65,535 bytes), an unaligned middle fragment, two different ends, a truncated fragment', () => {
    const far = new Uint8Array(frags[2]!);
    new DataView(far.buffer).setUint16(6, 8190); // offset 65,520: its 92 bytes end past 65,515
    const unaligned = ipv4Fragments(packet, [60], 0x1235)[0]!; // 60 bytes, more fragments
    const end1 = ipv4Fragments(packet, [64], 0x1236)[1]!;
    const end2 = new Uint8Array(end1.subarray(0, end1.length - 8));
    new DataView(end2.buffer).setUint16(2, end2.length);
    const cut = frags[1]!.subarray(0, 40).slice();
    new DataView(cut.buffer).setUint16(4, 0x1237);
    const { results, d } = run([far, unaligned, end1, end2, cut]);
    expect(segments(results)).toEqual([]);
    d.finish();
    expect(d.fragmentStats.problems).toEqual({ oversize: 1, unaligned: 1, inconsistent: 1, truncated: 1 });
  });

  it('memory is bounded: beyond maxPending or maxBytes the oldest datagrams are evicted and reported', () => {
    const firsts = [1, 2, 3].map((id) => ipv4Fragments(packet, [64], id)[0]!);
    const a = run(firsts, { maxPending: 2 });
    expect(a.d.fragmentStats.problems).toEqual({ evicted: 1 });
    a.d.finish();
    expect(a.d.fragmentStats.problems).toEqual({ evicted: 1, incomplete: 2 });
    const b = run([...firsts, ipv4Fragments(packet, [64], 3)[1]!], { maxBytes: 250 });
    expect(segments(b.results)).toHaveLength(1); // id 3 completes once ids 1 and 2 made room
    expect(b.d.fragmentStats.problems).toEqual({ evicted: 2 });
    expect(b.d.fragmentStats.droppedBytes).toBe(128);
    const c = run([firsts[0]!], { maxBytes: 10 });
    expect(c.d.fragmentStats.problems).toEqual({ evicted: 1 });
  });

  it('a datagram past its timeout expires; a fragment of the same id then starts afresh', () => {
    const { results, d } = run([frags[0]!, frags[1]!, frags[0]!, frags[1]!, frags[2]!], {}, [1, 2, 40, 40, 41]);
    expect(segments(results)).toHaveLength(1);
    expect(d.fragmentStats.problems).toEqual({ expired: 1 });
  });

  it('fragments of a datagram that is not TCP are refused at once, not held', () => {
    const udp = new Uint8Array(frags[0]!);
    udp[9] = 17;
    expect(run([udp]).results).toEqual([{ ok: false, reason: 'IP protocol 17 is not TCP' }]);
  });
});

describe('IPv6 Fragment headers', () => {
  const s6: Seg = { ...S, payload: payloadOf(300, 3) };
  it('behind hop-by-hop, routing and destination options; a destination-options header inside: in and out of order', () => {
    const frags = ipv6Fragments(s6, [96, 200], 77);
    expect(frags).toHaveLength(3);
    for (const order of [[0, 1, 2], [2, 0, 1], [1, 2, 1, 0]]) {
      const { results, d } = run(order.map((i) => frags[i]!));
      const got = segments(results);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ srcPort: 40000, dstPort: 7135, seq: 1000, src: '[0:0:0:0:0:0:0:1]' });
      expect(Buffer.from(got[0]!.payload).equals(Buffer.from(s6.payload!))).toBe(true);
      expect(d.fragmentStats.reassembled).toBe(1);
    }
  });

  it('an atomic fragment (offset 0, no more) is a datagram by itself', () => {
    const [whole] = ipv6Fragments(s6, [], 78);
    expect(segments(run([whole!]).results)).toHaveLength(1);
  });

  it('overlap is dropped, as RFC 5722 says', () => {
    const a = ipv6Fragments(s6, [96, 200], 79);
    const b = ipv6Fragments({ ...s6, payload: payloadOf(300, 9) }, [48, 200], 79);
    const { results, d } = run([a[0]!, b[1]!, a[1]!, a[2]!]);
    expect(segments(results)).toEqual([]);
    expect(d.fragmentStats.problems).toEqual({ overlap: 1 });
  });
});

describe('reassembly properties', () => {
  /** Random cut points (multiples of 8), a random order, some fragments twice. */
  const plan = fc.record({
    size: fc.integer({ min: 1, max: 3000 }),
    cuts: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 12 }),
    order: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
    dups: fc.array(fc.nat(), { maxLength: 3 }),
    v6: fc.boolean(),
  });

  it('any split of a datagram, in any order (with duplicates), reassembles to the original', () => {
    fc.assert(fc.property(plan, ({ size, cuts, order, dups, v6 }) => {
      const seg: Seg = { ...S, payload: payloadOf(size, size) };
      const offsets = [...new Set(cuts.map((c) => c * 8))].sort((x, y) => x - y);
      const frags = v6 ? ipv6Fragments(seg, offsets, 5) : ipv4Fragments(ipv4Tcp(seg), offsets, 5);
      // Shuffle by sorting on random keys, then repeat a few fragments (never after the last one arrives, which completes it).
      const shuffled = frags.map((f, i) => ({ f, k: order[i % order.length]! + i / 1000 })).sort((x, y) => x.k - y.k).map((x) => x.f);
      const withDups = [...shuffled.slice(0, -1), ...dups.map((i) => shuffled[i % shuffled.length]!).filter((f) => f !== shuffled.at(-1)), shuffled.at(-1)!];
      const { results, d } = run(withDups);
      const got = segments(results);
      expect(got).toHaveLength(1);
      expect(results.at(-1)!.ok).toBe(true);
      expect(Buffer.from(got[0]!.payload).equals(Buffer.from(seg.payload!))).toBe(true);
      d.finish();
      expect(d.fragmentStats.problems).toEqual({});
      // A single IPv4 piece (no cut) is no fragment at all; a single IPv6 one is an atomic fragment.
      expect(d.fragmentStats.reassembled).toBe(v6 || frags.length > 1 ? 1 : 0);
    }), { numRuns: 400 });
  });

  it('any fragments at all: never an exception, and what waits stays within its bounds', () => {
    const frag = fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), offset: fc.nat(70_000), more: fc.boolean(), len: fc.nat(200), truncated: fc.boolean(), time: fc.nat(100),
    });
    fc.assert(fc.property(fc.array(frag, { maxLength: 60 }), (fs) => {
      const r = new FragmentReassembler({ maxPending: 3, maxBytes: 500 });
      let seen = 0;
      for (const x of fs) {
        const f: IpFragment = { version: 4, key: x.key, src: 's', dst: 'd', next: 6, offset: x.offset, more: x.more, data: new Uint8Array(x.len), truncated: x.truncated, maxPayload: 65515 };
        const out = r.push(f, x.time);
        seen += x.len;
        if (out) expect(out.payload.length).toBeLessThanOrEqual(65515);
        expect(r.waiting.datagrams).toBeLessThanOrEqual(3);
        expect(r.waiting.bytes).toBeLessThanOrEqual(500);
      }
      r.finish();
      expect(r.waiting).toEqual({ datagrams: 0, bytes: 0 });
      expect(r.stats.droppedBytes).toBeLessThanOrEqual(seen);
    }), { numRuns: 1500 });
  });

  it('PacketDecoder: damaged fragments give segments, held fragments or reasons', () => {
    const frags = [...ipv4Fragments(packet, [64, 128], 9), ...ipv6Fragments(S, [96], 9)];
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(frags.length - 1), fc.array(fc.tuple(fc.nat(120), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(400)), { maxLength: 10 }), (picks) => {
      const d = new PacketDecoder({ maxPending: 4, maxBytes: 4096 });
      for (const [i, flips, cut] of picks) {
        const b = new Uint8Array(frags[i]!.subarray(0, cut));
        for (const [o, v] of flips) if (o < b.length) b[o] = v;
        const r = d.decode(LINKTYPE.RAW, b, 1);
        expect(r.ok || 'held' in r || typeof r.reason === 'string').toBe(true);
      }
      d.finish();
    }), { numRuns: 1500 });
  });
});

describe('importCapture with fragmented frames', () => {
  it('finds the PDUs of an ncacn_ip_tcp stream whose segments came in IPv4 fragments, and reports the fragments', () => {
    const bind = encodePdu({ kind: 'bind', header: { callId: 1, pfcFlags: 3 }, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0, contexts: [], authInfo: new Uint8Array(0) });
    const req = encodePdu({ kind: 'request', header: { callId: 2, pfcFlags: 3 }, allocHint: 0, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(0) });
    const syn = ipv4Tcp({ ...S, seq: 99, flags: 0x02, payload: new Uint8Array(0) });
    const data = ipv4Tcp({ ...S, seq: 100, payload: cat(bind, req, req) });
    const fr = ipv4Fragments(data, [24, 48], 0x4242);
    const file = pcapFile(LINKTYPE.ETHERNET, [syn, fr[2]!, fr[0]!, fr[1]!, ...ipv4Fragments(data, [40], 0x4243).slice(0, 1)].map((d, i) => ({ data: ethernet(d), time: 1 + i / 10 })));
    const r = importCapture(file, { tcpPorts: [7135] });
    expect(r.records.map((x) => x.ptype)).toEqual(['bind', 'request', 'request']);
    expect(r.stats.ipFragments).toMatchObject({ fragments: 4, reassembled: 1, problems: { incomplete: 1 }, droppedBytes: 40 });
    expect(r.stats.notTcp).toEqual({});
  });
});
