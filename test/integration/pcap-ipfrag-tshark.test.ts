/**
 * `fsrvp-replay import` of a capture whose TCP segments travel in IP fragments, checked against
 * tshark: we write the capture (ncacn_ip_tcp on port 7135 over IPv4 and IPv6, fragments in order,
 * out of order and duplicated, one datagram missing its last fragment), tshark reassembles and
 * dissects it with `-d tcp.port==7135,dcerpc`, and the import must find the same PDUs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import { FSRVP_UUID } from '../../src/fsrvp/codes.js';
import { importCapture } from '../../src/replay/pcap-import.js';
import { LINKTYPE } from '../../src/replay/pcap-packet.js';
import { cat, ethernet, ipv4Fragments, ipv4Tcp, ipv6Fragments, ipv6Tcp, pcapFile, type RawFrame, type Seg } from '../helpers/pcap-build.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);

const bind = (callId: number): Uint8Array => encodePdu({
  kind: 'bind', header: { callId, pfcFlags: 3 }, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
  contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, 1, 0), transferSyntaxes: [NDR20] }], authInfo: new Uint8Array(0),
});
const request = (callId: number, stub: number): Uint8Array => encodePdu({
  kind: 'request', header: { callId, pfcFlags: 3 }, allocHint: stub, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(stub).fill(callId),
});
const response = (callId: number, stub: number): Uint8Array => encodePdu({
  kind: 'response', header: { callId, pfcFlags: 3 }, allocHint: stub, contextId: 0, cancelCount: 0, reserved: 0, stubAndVerifier: new Uint8Array(stub).fill(callId),
});

/** One TCP connection to port 7135; `send` returns the frames of one segment, fragmented as asked. */
function connection(v6: boolean, cport: number) {
  const seq = { c: 1000, s: 5000 };
  let id = cport;
  const seg = (fromClient: boolean, payload: Uint8Array, flags = 0x18): Seg => {
    const s: Seg = {
      src: fromClient ? '10.0.0.1' : '10.0.0.2', dst: fromClient ? '10.0.0.2' : '10.0.0.1',
      sport: fromClient ? cport : 7135, dport: fromClient ? 7135 : cport,
      seq: fromClient ? seq.c : seq.s, ack: fromClient ? seq.s : seq.c, flags, payload,
    };
    const n = payload.length + (flags & 0x02 ? 1 : 0);
    if (fromClient) seq.c += n;
    else seq.s += n;
    return s;
  };
  return {
    handshake: (): Uint8Array[] => [seg(true, new Uint8Array(0), 0x02), seg(false, new Uint8Array(0), 0x12), seg(true, new Uint8Array(0), 0x10)].map((s) => (v6 ? ipv6Tcp(s) : ipv4Tcp(s))),
    /** `cuts` empty: not fragmented; `order`: the fragments' order (indexes may repeat: duplicates). */
    send: (fromClient: boolean, payload: Uint8Array, cuts: number[] = [], order?: number[]): Uint8Array[] => {
      const s = seg(fromClient, payload);
      if (cuts.length === 0) return [v6 ? ipv6Tcp(s) : ipv4Tcp(s)];
      const frags = v6 ? ipv6Fragments(s, cuts, ++id) : ipv4Fragments(ipv4Tcp(s), cuts, ++id);
      return (order ?? frags.map((_, i) => i)).map((i) => frags[i] as Uint8Array);
    },
  };
}

function captureFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [v6, cport] of [[false, 40000], [true, 40001]] as const) {
    const c = connection(v6, cport);
    out.push(...c.handshake());
    out.push(...c.send(true, bind(1), [24, 48]));
    out.push(...c.send(false, response(1, 40)));
    out.push(...c.send(true, cat(request(2, 600), request(3, 64)), [200, 400, 600], [3, 1, 0, 2]));
    out.push(...c.send(false, cat(response(2, 900), response(3, 16)), [256, 512], [0, 1, 1, 2]));
    out.push(...c.send(true, request(4, 2000), [1480]));
    out.push(...c.send(false, response(4, 3000), [1480, 2960], [2, 0, 0, 1]));
    // The last request's datagram never gets its last fragment: neither tshark nor we can see it.
    out.push(...c.send(true, request(5, 500), [256]).slice(0, 1));
  }
  return out;
}

describe('importing a capture with IP fragments, against tshark', () => {
  let dir: string;
  let file: string;
  let bytes: Uint8Array;
  beforeAll(async () => {
    requireTool('tshark', 'tshark');
    dir = await mkdtemp(join(tmpdir(), 'fsrvp-ipfrag-'));
    file = join(dir, 'fragments.pcap');
    bytes = pcapFile(LINKTYPE.ETHERNET, captureFrames().map((d, i): RawFrame => ({ data: ethernet(d), time: 1_700_000_000 + i / 100 })));
    await writeFile(file, bytes);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds the DCE/RPC PDUs tshark finds, of the same types, and reports the fragments', async () => {
    const { stdout } = await run('tshark', ['-r', file, '-d', 'tcp.port==7135,dcerpc', '-Y', 'dcerpc', '-T', 'fields', '-e', 'dcerpc.pkt_type'], { maxBuffer: 16 << 20 });
    const tsharkTypes = stdout.split('\n').filter((l) => l.trim() !== '').flatMap((l) => l.split(','));
    const r = importCapture(bytes, { tcpPorts: [7135] });
    const names: Record<string, string> = { 0: 'request', 2: 'response', 11: 'bind' };
    expect(tsharkTypes.length).toBe(16);
    expect(r.records.length).toBe(tsharkTypes.length);
    expect(r.records.map((x) => x.ptype).sort()).toEqual(tsharkTypes.map((t) => names[t] ?? t).sort());
    const f = r.stats.ipFragments;
    expect(f.reassembled).toBe(10);
    expect(f.duplicates).toBe(4);
    expect(f.problems).toEqual({ incomplete: 2 });
    expect(r.stats.notTcp).toEqual({});
  });
});
