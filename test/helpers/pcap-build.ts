/** Handcrafted capture files for the pcap importer's tests: containers, frames and SMB2 messages. */
import { encodeHeader, COMMAND, HDR_FLAGS } from '../../src/smb/header.js';
import { encodeCreateRequest, encodeIoctlRequest, encodeReadRequest, encodeWriteRequest, FSCTL_PIPE_TRANSCEIVE, type FileId } from '../../src/smb/messages.js';

export const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const be32 = (v: number): number[] => le32(v).reverse();
const u32 = (v: number, le: boolean): number[] => (le ? le32(v) : be32(v));
const u16 = (v: number, le: boolean): number[] => (le ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff]);

export interface RawFrame {
  readonly data: Uint8Array;
  /** Seconds. */
  readonly time: number;
}

/** Classic pcap, either byte order, micro- or nanosecond timestamps. */
export function pcapFile(linkType: number, frames: RawFrame[], opts: { le?: boolean; nano?: boolean } = {}): Uint8Array {
  const le = opts.le ?? true;
  const magic = opts.nano ? 0xa1b23c4d : 0xa1b2c3d4;
  const head = [...u32(magic, le), ...u16(2, le), ...u16(4, le), ...u32(0, le), ...u32(0, le), ...u32(65535, le), ...u32(linkType, le)];
  const recs = frames.map((f) => {
    const sec = Math.floor(f.time);
    const frac = Math.round((f.time - sec) * (opts.nano ? 1e9 : 1e6));
    return cat(Uint8Array.from([...u32(sec, le), ...u32(frac, le), ...u32(f.data.length, le), ...u32(f.data.length, le)]), f.data);
  });
  return cat(Uint8Array.from(head), ...recs);
}

function block(type: number, body: Uint8Array, le: boolean): Uint8Array {
  const pad = (4 - (body.length % 4)) % 4;
  const total = 12 + body.length + pad;
  return cat(Uint8Array.from([...u32(type, le), ...u32(total, le)]), body, new Uint8Array(pad), Uint8Array.from(u32(total, le)));
}

/** pcapng: one section, one interface (tsresol 10^-6 unless `nanoRes`), EPBs, optional extras. */
export function pcapngFile(linkType: number, frames: RawFrame[], opts: { le?: boolean; nanoRes?: boolean; extraBlock?: boolean; spb?: Uint8Array } = {}): Uint8Array {
  const le = opts.le ?? true;
  const shb = block(0x0a0d0d0a, Uint8Array.from([...u32(0x1a2b3c4d, le), ...u16(1, le), ...u16(0, le), ...u32(0xffffffff, le), ...u32(0xffffffff, le)]), le);
  const options = opts.nanoRes ? [...u16(9, le), ...u16(1, le), 9, 0, 0, 0, ...u16(0, le), ...u16(0, le)] : [];
  const idb = block(1, Uint8Array.from([...u16(linkType, le), ...u16(0, le), ...u32(0, le), ...options]), le);
  const units = opts.nanoRes ? 1e9 : 1e6;
  const epbs = frames.map((f) => {
    const ts = BigInt(Math.round(f.time * units));
    const hi = Number(ts >> 32n);
    const lo = Number(ts & 0xffffffffn);
    return block(6, cat(Uint8Array.from([...u32(0, le), ...u32(hi, le), ...u32(lo, le), ...u32(f.data.length, le), ...u32(f.data.length, le)]), f.data), le);
  });
  const extra = opts.extraBlock ? [block(4, Uint8Array.from([0, 0, 0, 0]), le)] : [];
  const spb = opts.spb ? [block(3, cat(Uint8Array.from(u32(opts.spb.length, le)), opts.spb), le)] : [];
  return cat(shb, idb, ...extra, ...epbs, ...spb);
}

export interface Seg {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags?: number;
  payload?: Uint8Array;
}

const ip4 = (a: string): number[] => a.split('.').map(Number);

/** IPv4 + TCP bytes (checksums left zero: the importer does not check them). */
export function ipv4Tcp(s: Seg): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const tcp = Uint8Array.from([
    ...u16(s.sport, false), ...u16(s.dport, false), ...be32(s.seq >>> 0), ...be32((s.ack ?? 0) >>> 0), 0x50, s.flags ?? 0x18, 0xff, 0xff, 0, 0, 0, 0,
  ]);
  const total = 20 + tcp.length + payload.length;
  const ip = Uint8Array.from([0x45, 0, ...u16(total, false), 0, 0, 0x40, 0, 64, 6, 0, 0, ...ip4(s.src ?? '127.0.0.1'), ...ip4(s.dst ?? '127.0.0.1')]);
  return cat(ip, tcp, payload);
}

/** IPv6 (with one destination-options extension header) + TCP. */
export function ipv6Tcp(s: Seg): Uint8Array {
  const v4 = ipv4Tcp(s);
  const tcp = v4.subarray(20);
  const ext = Uint8Array.from([6, 0, 1, 4, 0, 0, 0, 0]);
  const addr = new Uint8Array(16);
  addr[15] = 1;
  const head = Uint8Array.from([0x60, 0, 0, 0, ...u16(ext.length + tcp.length, false), 60, 64]);
  return cat(head, addr, addr, ext, tcp);
}

export const ethernet = (ip: Uint8Array, vlan = false): Uint8Array =>
  cat(new Uint8Array(12), Uint8Array.from(vlan ? [0x81, 0, 0, 5] : []), Uint8Array.from([(ip[0] as number) >> 4 === 6 ? 0x86 : 0x08, (ip[0] as number) >> 4 === 6 ? 0xdd : 0x00]), ip);
export const sll = (ip: Uint8Array): Uint8Array => cat(Uint8Array.from([0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]), ip);
export const sll2 = (ip: Uint8Array): Uint8Array => cat(Uint8Array.from([0x08, 0x00, 0, 0, 0, 0, 0, 1, 3, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]), ip);
export const nullLoop = (ip: Uint8Array): Uint8Array => cat(Uint8Array.from([2, 0, 0, 0]), ip);

// --- SMB2 ------------------------------------------------------------------------------------

export const fileId = (n: number): FileId => ({ persistent: BigInt(n), volatile: BigInt(n) << 32n });
export const fidHex = (f: FileId): string => {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(f.persistent, 0);
  b.writeBigUInt64LE(f.volatile, 8);
  return b.toString('hex');
};

interface Hdr {
  command: number;
  messageId: bigint;
  response?: boolean;
  status?: number;
  related?: boolean;
  sessionId?: bigint;
}

const smb = (h: Hdr, body: Uint8Array): Uint8Array =>
  cat(encodeHeader({
    command: h.command, messageId: h.messageId, status: h.status ?? 0, sessionId: h.sessionId ?? 1n, treeId: 1,
    flags: (h.response ? HDR_FLAGS.SERVER_TO_REDIR : 0) | (h.related ? HDR_FLAGS.RELATED_OPERATIONS : 0),
  }), body);

export const createReq = (mid: bigint, name: string, related = false): Uint8Array =>
  smb({ command: COMMAND.CREATE, messageId: mid, related }, encodeCreateRequest({ name, desiredAccess: 0x12019f, shareAccess: 3, disposition: 1, options: 0, impersonation: 2 }));

export function createResp(mid: bigint, f: FileId, status = 0): Uint8Array {
  const body = new Uint8Array(89);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, 89, true);
  dv.setBigUint64(64, f.persistent, true);
  dv.setBigUint64(72, f.volatile, true);
  return smb({ command: COMMAND.CREATE, messageId: mid, response: true, status }, body);
}

export const writeReq = (mid: bigint, f: FileId, data: Uint8Array, related = false): Uint8Array =>
  smb({ command: COMMAND.WRITE, messageId: mid, related }, encodeWriteRequest(f, 0n, data));
export const readReq = (mid: bigint, f: FileId): Uint8Array =>
  smb({ command: COMMAND.READ, messageId: mid }, encodeReadRequest({ fileId: f, length: 4280, offset: 0n }));

export function readResp(mid: bigint, data: Uint8Array, status = 0): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, 17, true);
  dv.setUint8(2, 80);
  dv.setUint32(4, data.length, true);
  return smb({ command: COMMAND.READ, messageId: mid, response: true, status }, cat(body, data));
}

export const ioctlReq = (mid: bigint, f: FileId, data: Uint8Array): Uint8Array =>
  smb({ command: COMMAND.IOCTL, messageId: mid }, encodeIoctlRequest(FSCTL_PIPE_TRANSCEIVE, f, data, 1024));

export function ioctlResp(mid: bigint, f: FileId, data: Uint8Array, status = 0): Uint8Array {
  const body = new Uint8Array(48);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, 49, true);
  dv.setUint32(4, FSCTL_PIPE_TRANSCEIVE, true);
  dv.setBigUint64(8, f.persistent, true);
  dv.setBigUint64(16, f.volatile, true);
  dv.setUint32(32, 112, true);
  dv.setUint32(36, data.length, true);
  return smb({ command: COMMAND.IOCTL, messageId: mid, response: true, status }, cat(body, data));
}

/** An interim STATUS_PENDING answer. */
export const pendingResp = (command: number, mid: bigint): Uint8Array =>
  smb({ command, messageId: mid, response: true, status: 0x103 }, Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0, 0]));

/** Chains messages into one compound (NextCommand, 8-byte aligned). */
export function compound(...msgs: Uint8Array[]): Uint8Array {
  const parts = msgs.map((m, i) => {
    if (i === msgs.length - 1) return m;
    const padded = new Uint8Array((m.length + 7) & ~7);
    padded.set(m);
    new DataView(padded.buffer).setUint32(20, padded.length, true);
    return padded;
  });
  return cat(...parts);
}

/** NetBIOS session message framing. */
export const nbt = (msg: Uint8Array): Uint8Array => cat(Uint8Array.from([0, (msg.length >> 16) & 0xff, (msg.length >> 8) & 0xff, msg.length & 0xff]), msg);

// --- IP fragments ----------------------------------------------------------------------------

/**
 * Cuts an IPv4 packet (header without options) into fragments at `cuts` (byte offsets into its
 * payload, multiples of 8), each with identification `id`. Checksums stay zero.
 */
export function ipv4Fragments(packet: Uint8Array, cuts: readonly number[], id: number): Uint8Array[] {
  const head = packet.subarray(0, 20);
  const payload = packet.subarray(20);
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < payload.length), payload.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [a, b] = [bounds[i] as number, bounds[i + 1] as number];
    const h = new Uint8Array(head);
    const dv = new DataView(h.buffer);
    dv.setUint16(2, 20 + b - a);
    dv.setUint16(4, id);
    dv.setUint16(6, (a / 8) | (b < payload.length ? 0x2000 : 0));
    out.push(cat(h, payload.subarray(a, b)));
  }
  return out;
}

/**
 * An IPv6 + TCP packet fragmented: hop-by-hop, routing and destination-options headers before
 * the Fragment header (the unfragmentable part), a destination-options header and TCP after it
 * (the fragmentable part, cut at `cuts`, multiples of 8).
 */
export function ipv6Fragments(s: Seg, cuts: readonly number[], id: number): Uint8Array[] {
  const tcp = ipv4Tcp(s).subarray(20);
  const fragmentable = cat(Uint8Array.from([6, 0, 1, 4, 0, 0, 0, 0]), tcp);
  // Hop-by-hop (next: routing), routing (next: destination options), destination options (next: Fragment).
  const unfrag = Uint8Array.from([43, 0, 1, 4, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0]);
  const addr = new Uint8Array(16);
  addr[15] = 1;
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < fragmentable.length), fragmentable.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [a, b] = [bounds[i] as number, bounds[i + 1] as number];
    const frag = Uint8Array.from([60, 0, ...u16(a | (b < fragmentable.length ? 1 : 0), false), ...be32(id)]);
    const body = cat(unfrag, frag, fragmentable.subarray(a, b));
    out.push(cat(Uint8Array.from([0x60, 0, 0, 0, ...u16(body.length, false), 0, 64]), addr, addr, body));
  }
  return out;
}
