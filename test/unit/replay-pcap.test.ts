import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PcapError, readCaptureFile } from '../../src/replay/pcap.js';
import { LINKTYPE, tcpSegment, type TcpSegment } from '../../src/replay/pcap-packet.js';
import { TcpReassembler, type StreamEvent } from '../../src/replay/pcap-tcp.js';
import { importCapture } from '../../src/replay/pcap-import.js';
import { newSmbStats, SmbFlow } from '../../src/replay/pcap-smb.js';
import { PduAnnotator } from '../../src/replay/annotate.js';
import {
  cat, createReq, createResp, ethernet, fileId, ipv4Tcp, ipv6Tcp, nbt, nullLoop, pcapFile, pcapngFile, readReq, readResp, sll, sll2, writeReq, type Seg,
} from '../helpers/pcap-build.js';

const seg = (s: Seg) => ({ ok: true as const, segment: expect.objectContaining({ srcPort: s.sport, dstPort: s.dport, seq: s.seq }) });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('capture containers', () => {
  const f1 = { data: ethernet(ipv4Tcp({ sport: 5000, dport: 445, seq: 1, payload: bytes('abc') })), time: 1700000000.25 };
  const f2 = { data: ethernet(ipv4Tcp({ sport: 445, dport: 5000, seq: 9 })), time: 1700000001.5 };

  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      it(`pcap ${le ? 'little' : 'big'}-endian, ${nano ? 'nano' : 'micro'}seconds`, () => {
        const c = readCaptureFile(pcapFile(LINKTYPE.ETHERNET, [f1, f2], { le, nano }));
        expect(c.format).toBe('pcap');
        expect(c.frames.map((f) => [f.number, f.linkType, f.time, f.data.length])).toEqual([
          [1, 1, 1700000000.25, f1.data.length], [2, 1, 1700000001.5, f2.data.length],
        ]);
        expect(Buffer.from(c.frames[0]!.data).equals(Buffer.from(f1.data))).toBe(true);
      });
    }
    it(`pcapng ${le ? 'little' : 'big'}-endian: SHB, IDB (if_tsresol), EPB, SPB; other blocks skipped`, () => {
      const c = readCaptureFile(pcapngFile(LINKTYPE.ETHERNET, [f1, f2], { le, nanoRes: true, extraBlock: true, spb: f2.data }));
      expect(c.format).toBe('pcapng');
      expect(c.skippedBlocks).toBe(1);
      expect(c.frames.map((f) => f.linkType)).toEqual([1, 1, 1]);
      expect(c.frames[0]!.time).toBeCloseTo(1700000000.25, 6);
      expect(c.frames[1]!.time).toBeCloseTo(1700000001.5, 6);
      expect(c.frames[2]!.data.length).toBe(f2.data.length);
      expect(c.frames[2]!.time).toBe(c.frames[1]!.time);
    });
  }

  it('two pcapng sections (the second big-endian) are read in turn', () => {
    const a = pcapngFile(LINKTYPE.ETHERNET, [f1]);
    const b = pcapngFile(LINKTYPE.LINUX_SLL, [{ data: sll(ipv4Tcp({ sport: 1, dport: 445, seq: 0 })), time: 5 }], { le: false });
    expect(readCaptureFile(cat(a, b)).frames.map((f) => f.linkType)).toEqual([1, 113]);
  });

  it('damage is a typed error naming the offset', () => {
    const good = pcapngFile(LINKTYPE.ETHERNET, [f1]);
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(3), 'SHORT'],
      [Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 'MAGIC'],
      [good.subarray(0, good.length - 2), 'BLOCK'],
      [pcapFile(1, [f1]).subarray(0, 30), 'SHORT'],
    ];
    for (const [b, code] of cases) {
      let err: unknown;
      try {
        readCaptureFile(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PcapError);
      expect((err as PcapError).code).toBe(code);
    }
    // A packet on an interface never described.
    const noIdb = cat(good.subarray(0, 28), good.subarray(28 + 20));
    expect(() => readCaptureFile(noIdb)).toThrow(PcapError);
  });
});

describe('link, IP and TCP layers', () => {
  const s: Seg = { sport: 40000, dport: 445, seq: 0xfffffff0, ack: 7, flags: 0x18, payload: bytes('hello') };
  it.each([
    ['Ethernet', LINKTYPE.ETHERNET, ethernet(ipv4Tcp(s))],
    ['Ethernet with an 802.1Q tag', LINKTYPE.ETHERNET, ethernet(ipv4Tcp(s), true)],
    ['Linux cooked', LINKTYPE.LINUX_SLL, sll(ipv4Tcp(s))],
    ['Linux cooked v2', LINKTYPE.LINUX_SLL2, sll2(ipv4Tcp(s))],
    ['raw IPv4', LINKTYPE.RAW, ipv4Tcp(s)],
    ['IPv4 link type', LINKTYPE.IPV4, ipv4Tcp(s)],
    ['BSD loopback', LINKTYPE.NULL, nullLoop(ipv4Tcp(s))],
    ['raw IPv6 with a destination-options header', LINKTYPE.RAW, ipv6Tcp(s)],
    ['IPv6 over Ethernet', LINKTYPE.ETHERNET, ethernet(ipv6Tcp(s))],
  ])('%s', (_n, link, frame) => {
    const r = tcpSegment(link, frame);
    expect(r).toMatchObject(seg(s));
    if (r.ok) expect(new TextDecoder().decode(r.segment.payload)).toBe('hello');
  });
  it('IPv4 padding past the total length is not payload; fragments and UDP are refused', () => {
    const ip = ipv4Tcp(s);
    const r = tcpSegment(LINKTYPE.RAW, cat(ip, new Uint8Array(6)));
    expect(r.ok && r.segment.payload.length).toBe(5);
    const frag = new Uint8Array(ip);
    frag[6] = 0x20; // more fragments
    expect(tcpSegment(LINKTYPE.RAW, frag)).toEqual({ ok: false, reason: 'IPv4 fragment' });
    const udp = new Uint8Array(ip);
    udp[9] = 17;
    expect(tcpSegment(LINKTYPE.RAW, udp).ok).toBe(false);
    expect(tcpSegment(999, ip)).toEqual({ ok: false, reason: 'link type 999 not supported' });
  });
});

describe('TCP reassembly', () => {
  const C = { src: '127.0.0.1', dst: '127.0.0.2' };
  const mk = (sport: number, dport: number, seq: number, payload = '', flags = 0x18): TcpSegment => ({
    src: sport === 445 ? C.dst : C.src, dst: sport === 445 ? C.src : C.dst, srcPort: sport, dstPort: dport, seq: seq >>> 0, ack: 0, flags, payload: bytes(payload),
  });
  const run = (segs: TcpSegment[], maxBuffered?: number): { events: StreamEvent[]; r: TcpReassembler; text: (fromClient: boolean) => string } => {
    const r = new TcpReassembler({ isServerPort: (p) => p === 445, ...(maxBuffered ? { maxBuffered } : {}) });
    const events = segs.flatMap((x, i) => r.push(x, i, i + 1));
    const text = (fromClient: boolean) => events.filter((e) => e.kind === 'data' && e.fromClient === fromClient).map((e) => (e.kind === 'data' ? new TextDecoder().decode(e.bytes) : '')).join('');
    return { events, r, text };
  };

  it('orders out-of-order segments, drops retransmissions and trims overlaps, across the 32-bit wrap', () => {
    const isn = 0xfffffffa;
    const { text, r, events } = run([
      mk(5000, 445, isn, '', 0x02), // SYN
      mk(445, 5000, 100, '', 0x12), // SYN+ACK
      mk(5000, 445, isn + 1 + 4, 'EFGH'), // ahead, waits
      mk(5000, 445, isn + 1, 'ABCD'), // fills the hole
      mk(5000, 445, isn + 1, 'ABCD'), // retransmission
      mk(5000, 445, isn + 1 + 6, 'GHIJ'), // overlaps two bytes
      mk(445, 5000, 101, 'ok'),
      mk(5000, 445, isn + 11, '', 0x11), // FIN
    ]);
    expect(text(true)).toBe('ABCDEFGHIJ');
    expect(text(false)).toBe('ok');
    expect(r.stats.duplicateBytes).toBe(6);
    expect(events.filter((e) => e.kind === 'end').map((e) => e.fromClient)).toEqual([true]);
  });

  it('a flow picked up mid-stream tells the client by the server port', () => {
    const { text, r } = run([mk(445, 6000, 50, 'srv'), mk(6000, 445, 9, 'cli')]);
    expect(text(true)).toBe('cli');
    expect(text(false)).toBe('srv');
    expect([...r.flows.values()][0]).toMatchObject({ client: '127.0.0.1:6000', serverPort: 445 });
  });

  it('RST ends the flow; a new SYN on the same ports starts another one', () => {
    const { events, r } = run([
      mk(5000, 445, 10, '', 0x02), mk(5000, 445, 11, 'one'), mk(5000, 445, 14, '', 0x04),
      mk(5000, 445, 900, '', 0x02), mk(5000, 445, 901, 'two'),
    ]);
    expect(r.flows.size).toBe(2);
    expect(events.filter((e) => e.kind === 'data').map((e) => e.flow)).toEqual([0, 1]);
    expect(events.filter((e) => e.kind === 'end' && e.flow === 0)).toHaveLength(2);
  });

  it('too much waiting on a missing segment becomes a gap, then bytes flow again', () => {
    const { events, text, r } = run([mk(5000, 445, 0, '', 0x02), mk(5000, 445, 1, 'a'), mk(5000, 445, 10, 'xxxx'), mk(5000, 445, 14, 'yyyy')], 6);
    expect(events.map((e) => e.kind)).toEqual(['data', 'gap', 'data', 'data']);
    expect(text(true)).toBe('axxxxyyyy');
    expect(r.stats.gaps).toBe(8);
  });

  it('ignores flows on other ports', () => {
    expect(run([mk(5000, 80, 0, 'GET')]).events).toEqual([]);
  });
});

describe('totality (fast-check)', () => {
  it('readCaptureFile: any bytes give frames or a PcapError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        readCaptureFile(b);
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
      }
    }), { numRuns: 2000 });
  });
  it('tcpSegment: any link type and bytes give a result', () => {
    fc.assert(fc.property(fc.constantFrom(0, 1, 12, 101, 108, 113, 228, 229, 276, 7), fc.uint8Array({ maxLength: 120 }), (l, b) => {
      expect(typeof tcpSegment(l, b).ok).toBe('boolean');
    }), { numRuns: 3000 });
  });
  it('importCapture: damaged versions of a valid SMB capture give records or a PcapError', () => {
    const payload = cat(Uint8Array.from([0, 0, 0, 68, 0xfe, 0x53, 0x4d, 0x42, 64, 0]), new Uint8Array(62));
    const good = pcapngFile(LINKTYPE.ETHERNET, [
      { data: ethernet(ipv4Tcp({ sport: 5000, dport: 445, seq: 1, flags: 0x02 })), time: 1 },
      { data: ethernet(ipv4Tcp({ sport: 5000, dport: 445, seq: 2, payload })), time: 2 },
    ]);
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(good.length), (flips, cut) => {
      const b = new Uint8Array(good.subarray(0, Math.max(cut, 4)));
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      try {
        const r = importCapture(b, { pipes: ['*'] });
        expect(Array.isArray(r.records)).toBe(true);
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
      }
    }), { numRuns: 1500 });
  });
  it('SmbFlow: damaged SMB2 messages (any direction, any split) are counted, never thrown', () => {
    const f = fileId(3);
    const msgs = [createReq(1n, 'FssagentRpc'), createResp(1n, f), writeReq(2n, f, new Uint8Array(40)), readReq(3n, f), readResp(3n, new Uint8Array(30))];
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(msgs.length - 1), fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(200), fc.boolean()), { maxLength: 8 }),
      (plan) => {
        const s = new SmbFlow({ keep: () => true, keys: new Map(), stats: newSmbStats() });
        for (const [i, flips, cut, fromClient] of plan) {
          const m = new Uint8Array(nbt(msgs[i]!));
          for (const [o, v] of flips) if (o < m.length) m[o] = v;
          s.push(fromClient, m.subarray(0, Math.min(m.length, cut + 4)));
          s.push(fromClient, m.subarray(Math.min(m.length, cut + 4)));
        }
      },
    ), { numRuns: 1500 });
  });
  it('TcpReassembler: any segment sequence is taken, buffering stays within its bound', () => {
    fc.assert(fc.property(fc.array(fc.record({
      fromClient: fc.boolean(), seq: fc.nat(0xffffffff), flags: fc.constantFrom(0x02, 0x12, 0x18, 0x11, 0x04, 0x10), len: fc.nat(64),
    }), { maxLength: 40 }), (segs) => {
      const r = new TcpReassembler({ isServerPort: (p) => p === 445, maxBuffered: 256 });
      let delivered = 0;
      for (const x of segs) {
        const evs = r.push({
          src: '127.0.0.1', dst: '127.0.0.1', srcPort: x.fromClient ? 5000 : 445, dstPort: x.fromClient ? 445 : 5000,
          seq: x.seq, ack: 0, flags: x.flags, payload: new Uint8Array(x.len),
        }, 0, 0);
        for (const e of evs) if (e.kind === 'data') delivered += e.bytes.length;
      }
      r.finish(0, 0);
      expect(delivered).toBeLessThanOrEqual(segs.reduce((n, x) => n + x.len, 0));
    }), { numRuns: 2000 });
  });
  it('PduAnnotator: any bytes make a record whose hex is those bytes', () => {
    const a = new PduAnnotator(0, 'x', true);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (b, c2s) => {
      const r = a.record(c2s ? 'c2s' : 's2c', b);
      expect(r.hex).toBe(Buffer.from(b).toString('hex'));
    }), { numRuns: 2000 });
  });
});
