/**
 * From a pcap/pcapng capture to capture records (src/replay/capture.ts): frames -> (IP fragments
 * reassembled) -> TCP segments -> reassembled streams -> (SMB2 named pipes | ncacn_ip_tcp) -> DCE/RPC PDUs cut by frag_length
 * per pipe handle and direction -> records in time order. Connections are numbered in the order
 * their first PDU appears; every (conn, fid) is one RPC connection.
 */
import { PduFramer } from '../dcerpc/framing.js';
import { PduAnnotator, type CaptureRecord } from './annotate.js';
import { readCaptureFile } from './pcap.js';
import { PacketDecoder } from './pcap-packet.js';
import { newFragmentStats, type FragmentLimits, type FragmentStats } from './pcap-ipfrag.js';
import { TcpReassembler, type ReassemblyStats } from './pcap-tcp.js';
import { newSmbStats, SmbFlow, type SmbSessionKeys, type SmbStats } from './pcap-smb.js';

export interface ImportOptions {
  /** TCP ports carrying SMB (default 445 and 139). */
  readonly smbPorts?: readonly number[];
  /** TCP ports carrying ncacn_ip_tcp (none by default). */
  readonly tcpPorts?: readonly number[];
  /** Pipe names kept (case-insensitive; default FssagentRpc); "*" keeps every pipe. */
  readonly pipes?: readonly string[];
  /** SMB3 keys by session id, for encrypted traffic. */
  readonly keys?: ReadonlyMap<bigint, SmbSessionKeys>;
  /** Bounds of IP fragment reassembly (pending datagrams, bytes, timeout). */
  readonly fragments?: FragmentLimits;
}

export interface ImportStats {
  format: 'pcap' | 'pcapng';
  frames: number;
  skippedBlocks: number;
  /** Frames that are not TCP (or not decodable), by reason. */
  notTcp: Record<string, number>;
  /** IP fragments: seen, datagrams reassembled, duplicates, datagrams dropped by reason and their bytes. */
  ipFragments: FragmentStats;
  flows: number;
  tcp: ReassemblyStats;
  smb: SmbStats;
  pdus: number;
  /** Pipe handles / connections whose byte stream could not be framed (frag_length < 16). */
  unframable: number;
  /** Bytes left over at the end that did not make a whole PDU. */
  partialBytes: number;
}

export interface ImportResult {
  readonly records: CaptureRecord[];
  readonly stats: ImportStats;
}

const FSRVP_PIPE_NAME = 'fssagentrpc';

interface Handle {
  readonly annotator: PduAnnotator;
  readonly framers: [PduFramer, PduFramer];
}

/** Imports the RPC traffic of a capture. Throws PcapError for a damaged container only. */
export function importCapture(bytes: Uint8Array, opts: ImportOptions = {}): ImportResult {
  const file = readCaptureFile(bytes);
  const smbPorts = new Set(opts.smbPorts ?? [445, 139]);
  const tcpPorts = new Set(opts.tcpPorts ?? []);
  const pipes = (opts.pipes ?? ['FssagentRpc']).map((p) => p.toLowerCase());
  const keep = (name: string): boolean => pipes.includes('*') || pipes.includes(name.toLowerCase());
  const stats: ImportStats = {
    format: file.format, frames: file.frames.length, skippedBlocks: file.skippedBlocks, notTcp: {}, ipFragments: newFragmentStats(), flows: 0,
    tcp: { duplicateBytes: 0, gaps: 0, unfinished: 0 }, smb: newSmbStats(), pdus: 0, unframable: 0, partialBytes: 0,
  };
  const reasm = new TcpReassembler({ isServerPort: (p) => smbPorts.has(p) || tcpPorts.has(p) });
  const smb = new Map<number, SmbFlow>();
  const conns = new Map<number, number>();
  const handles = new Map<string, Handle>();
  const records: CaptureRecord[] = [];
  const t0 = file.frames[0]?.time ?? 0;

  const connOf = (flow: number): number => {
    let c = conns.get(flow);
    if (c === undefined) {
      c = conns.size;
      conns.set(flow, c);
    }
    return c;
  };
  const handleOf = (flow: number, fid: string, pipe: string | undefined): Handle => {
    const key = `${flow}/${fid}`;
    let h = handles.get(key);
    if (!h) {
      const fsrvp = pipe === undefined || pipe.toLowerCase() === FSRVP_PIPE_NAME;
      h = { annotator: new PduAnnotator(connOf(flow), fid, fsrvp, pipe), framers: [new PduFramer(), new PduFramer()] };
      handles.set(key, h);
    }
    return h;
  };
  const rpcBytes = (flow: number, fid: string, pipe: string | undefined, fromClient: boolean, data: Uint8Array, time: number): void => {
    const h = handleOf(flow, fid, pipe);
    const framer = h.framers[fromClient ? 0 : 1];
    const wasBroken = framer.broken;
    for (const pdu of framer.push(data)) records.push(h.annotator.record(fromClient ? 'c2s' : 's2c', pdu, time - t0));
    if (framer.broken && !wasBroken) stats.unframable++;
  };

  const handleEvents = (events: ReturnType<TcpReassembler['push']>): void => {
    for (const ev of events) {
      const info = reasm.flows.get(ev.flow);
      if (!info) continue;
      if (tcpPorts.has(info.serverPort) && !smbPorts.has(info.serverPort)) {
        if (ev.kind === 'data') rpcBytes(ev.flow, 'tcp', undefined, ev.fromClient, ev.bytes, ev.time);
        continue;
      }
      let s = smb.get(ev.flow);
      if (!s) {
        s = new SmbFlow({ keep, keys: opts.keys ?? new Map(), stats: stats.smb });
        smb.set(ev.flow, s);
      }
      if (ev.kind === 'gap') s.gap(ev.fromClient);
      else if (ev.kind === 'data') {
        for (const c of s.push(ev.fromClient, ev.bytes)) rpcBytes(ev.flow, c.fid, c.pipe, c.fromClient, c.bytes, ev.time);
      }
    }
  };

  const decoder = new PacketDecoder(opts.fragments);
  for (const f of file.frames) {
    const r = decoder.decode(f.linkType, f.data, f.time);
    if (!r.ok) {
      if ('held' in r) continue;
      // Reasons name the layer; counts stay small (one key per distinct reason).
      stats.notTcp[r.reason] = (stats.notTcp[r.reason] ?? 0) + 1;
      continue;
    }
    handleEvents(reasm.push(r.segment, f.time, f.number));
  }
  const last = file.frames[file.frames.length - 1];
  handleEvents(reasm.finish(last?.time ?? 0, last?.number ?? 0));
  decoder.finish();
  stats.ipFragments = decoder.fragmentStats;
  stats.flows = reasm.flows.size;
  stats.tcp = reasm.stats;
  stats.pdus = records.length;
  for (const h of handles.values()) stats.partialBytes += h.framers[0].buffered + h.framers[1].buffered;
  return { records, stats };
}

/** One JSON line per record, as loadCapture reads them. */
export function formatRecords(records: readonly CaptureRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '');
}

/** Parses `SESSIONID:C2SKEY[:S2CKEY]` (hex; the session id as a number, 0x optional). */
export function parseSmbKey(spec: string): [bigint, SmbSessionKeys] | string {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) return 'takes SESSIONID:C2SKEY[:S2CKEY] in hex';
  const [sid, c2s, s2c] = parts as [string, string, string | undefined];
  if (!/^(0x)?[0-9a-f]{1,16}$/i.test(sid)) return `session id ${sid}: up to 16 hex digits`;
  const key = (k: string): Uint8Array | undefined => (/^([0-9a-f]{32}|[0-9a-f]{64})$/i.test(k) ? new Uint8Array(Buffer.from(k, 'hex')) : undefined);
  const a = key(c2s);
  const b = s2c === undefined ? a : key(s2c);
  if (!a || !b) return 'keys are 16 or 32 bytes in hex';
  return [BigInt(sid.startsWith('0x') || sid.startsWith('0X') ? sid : `0x${sid}`), { c2s: a, s2c: b }];
}
