/**
 * Capture file containers: classic pcap (both byte orders, microsecond and nanosecond
 * timestamps) and pcapng (SHB, IDB, EPB, SPB; other blocks are skipped), yielding the link-layer
 * frames with their link type and time. Total: any bytes give frames or a PcapError; every frame
 * is a view into the input, so memory stays bounded by it.
 */

export type PcapErrorCode = 'SHORT' | 'MAGIC' | 'BLOCK' | 'INTERFACE';

export class PcapError extends Error {
  constructor(readonly code: PcapErrorCode, message: string, readonly offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = 'PcapError';
  }
}

export interface Frame {
  /** 1-based, as Wireshark numbers frames. */
  readonly number: number;
  /** LINKTYPE_* of the interface the frame came from. */
  readonly linkType: number;
  /** Seconds since the epoch (fractional). */
  readonly time: number;
  /** The captured bytes (possibly shorter than on the wire). */
  readonly data: Uint8Array;
  /** The length on the wire. */
  readonly originalLength: number;
}

export interface CaptureFile {
  readonly format: 'pcap' | 'pcapng';
  readonly frames: Frame[];
  /** pcapng blocks of other types (name resolution, statistics, custom…), skipped. */
  readonly skippedBlocks: number;
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IDB = 0x00000001;
const SPB = 0x00000003;
const EPB = 0x00000006;
/** The obsolete pcapng Packet Block, still written by old tools. */
const OLD_PB = 0x00000002;

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Reads a capture file of either format. */
export function readCaptureFile(bytes: Uint8Array): CaptureFile {
  if (bytes.length < 4) throw new PcapError('SHORT', `${bytes.length} bytes cannot hold a capture file header`, 0);
  const dv = view(bytes);
  const magicLe = dv.getUint32(0, true);
  if (magicLe === SHB) return readPcapng(bytes);
  if (magicLe === PCAP_US || magicLe === PCAP_NS) return readPcap(bytes, true, magicLe === PCAP_NS);
  const magicBe = dv.getUint32(0, false);
  if (magicBe === PCAP_US || magicBe === PCAP_NS) return readPcap(bytes, false, magicBe === PCAP_NS);
  throw new PcapError('MAGIC', `not a pcap or pcapng file (magic 0x${magicBe.toString(16).padStart(8, '0')})`, 0);
}

function readPcap(bytes: Uint8Array, le: boolean, nano: boolean): CaptureFile {
  if (bytes.length < 24) throw new PcapError('SHORT', 'pcap file header needs 24 bytes', 0);
  const dv = view(bytes);
  // The FCS-length bits (28..31) of the link-type word are not part of the link type.
  const linkType = dv.getUint32(20, le) & 0x0fffffff;
  const frames: Frame[] = [];
  let off = 24;
  while (off < bytes.length) {
    if (bytes.length - off < 16) throw new PcapError('SHORT', 'truncated pcap record header', off);
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    const orig = dv.getUint32(off + 12, le);
    if (incl > bytes.length - off - 16) throw new PcapError('SHORT', `pcap record of ${incl} bytes runs past the end`, off);
    frames.push({
      number: frames.length + 1, linkType, time: sec + frac / (nano ? 1e9 : 1e6),
      data: bytes.subarray(off + 16, off + 16 + incl), originalLength: orig,
    });
    off += 16 + incl;
  }
  return { format: 'pcap', frames, skippedBlocks: 0 };
}

interface Interface {
  readonly linkType: number;
  /** Timestamp units per second. */
  readonly unitsPerSecond: number;
  readonly offsetSeconds: number;
}

/** if_tsresol (option 9) and if_tsoffset (option 14) of an IDB's options. */
function interfaceOptions(dv: DataView, start: number, end: number, le: boolean): { units: number; offset: number } {
  let units = 1e6;
  let offset = 0;
  let p = start;
  while (p + 4 <= end) {
    const code = dv.getUint16(p, le);
    const len = dv.getUint16(p + 2, le);
    const body = p + 4;
    if (code === 0 || body + len > end) break;
    if (code === 9 && len >= 1) {
      const r = dv.getUint8(body);
      const exp = r & 0x7f;
      // Resolutions finer than 10^-15 or 2^-60 are not meaningful; cap to stay finite.
      units = (r & 0x80) !== 0 ? 2 ** Math.min(exp, 60) : 10 ** Math.min(exp, 15);
    } else if (code === 14 && len >= 8) {
      offset = Number(dv.getBigInt64(body, le));
    }
    p = body + ((len + 3) & ~3);
  }
  return { units, offset };
}

function readPcapng(bytes: Uint8Array): CaptureFile {
  const dv = view(bytes);
  const frames: Frame[] = [];
  let interfaces: Interface[] = [];
  let skipped = 0;
  let le = true;
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 12) throw new PcapError('SHORT', 'truncated pcapng block header', off);
    const typeLe = dv.getUint32(off, true);
    if (typeLe === SHB) {
      // A new section: its byte-order magic decides how everything up to the next SHB is read.
      if (bytes.length - off < 28) throw new PcapError('SHORT', 'truncated section header block', off);
      const bom = dv.getUint32(off + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (dv.getUint32(off + 8, false) === BYTE_ORDER_MAGIC) le = false;
      else throw new PcapError('MAGIC', 'section header block with an unknown byte-order magic', off + 8);
      interfaces = [];
    } else if (off === 0) {
      throw new PcapError('MAGIC', 'a pcapng file starts with a section header block', 0);
    }
    const type = dv.getUint32(off, le);
    const total = dv.getUint32(off + 4, le);
    if (total < 12 || total % 4 !== 0 || total > bytes.length - off) {
      throw new PcapError('BLOCK', `block length ${total} is not a multiple of 4 of at least 12 within the file`, off + 4);
    }
    if (dv.getUint32(off + total - 4, le) !== total) throw new PcapError('BLOCK', 'trailing block length differs from the leading one', off + total - 4);
    const bodyStart = off + 8;
    const bodyEnd = off + total - 4;
    const bodyLen = bodyEnd - bodyStart;
    if (type === SHB) {
      // nothing more needed from it
    } else if (type === IDB) {
      if (bodyLen < 8) throw new PcapError('BLOCK', 'interface description block too short', off);
      const o = interfaceOptions(dv, bodyStart + 8, bodyEnd, le);
      interfaces.push({ linkType: dv.getUint16(bodyStart, le), unitsPerSecond: o.units, offsetSeconds: o.offset });
    } else if (type === EPB || type === OLD_PB) {
      if (bodyLen < 20) throw new PcapError('BLOCK', 'packet block too short', off);
      const ifIndex = type === EPB ? dv.getUint32(bodyStart, le) : dv.getUint16(bodyStart, le);
      const iface = interfaces[ifIndex];
      if (!iface) throw new PcapError('INTERFACE', `packet on interface ${ifIndex}, ${interfaces.length} described`, bodyStart);
      const ts = dv.getUint32(bodyStart + 4, le) * 2 ** 32 + dv.getUint32(bodyStart + 8, le);
      const incl = dv.getUint32(bodyStart + 12, le);
      const orig = dv.getUint32(bodyStart + 16, le);
      if (incl > bodyLen - 20) throw new PcapError('BLOCK', `packet data of ${incl} bytes exceeds its block`, bodyStart + 12);
      frames.push({
        number: frames.length + 1, linkType: iface.linkType, time: iface.offsetSeconds + ts / iface.unitsPerSecond,
        data: bytes.subarray(bodyStart + 20, bodyStart + 20 + incl), originalLength: orig,
      });
    } else if (type === SPB) {
      const iface = interfaces[0];
      if (!iface) throw new PcapError('INTERFACE', 'simple packet block without an interface', bodyStart);
      if (bodyLen < 4) throw new PcapError('BLOCK', 'simple packet block too short', off);
      const orig = dv.getUint32(bodyStart, le);
      const incl = Math.min(orig, bodyLen - 4);
      // SPBs carry no timestamp: take the previous frame's.
      frames.push({ number: frames.length + 1, linkType: iface.linkType, time: frames[frames.length - 1]?.time ?? 0, data: bytes.subarray(bodyStart + 4, bodyStart + 4 + incl), originalLength: orig });
    } else {
      skipped++;
    }
    off += total;
  }
  return { format: 'pcapng', frames, skippedBlocks: skipped };
}
