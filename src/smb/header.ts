/**
 * The 64-byte SMB2 packet header (MS-SMB2 2.2.1), sync and async forms, and the protocol
 * constants the client uses: commands, header flags, dialects.
 */
import { SmbError } from './errors.js';
import { Reader, Writer } from './wire.js';

export const HEADER_SIZE = 64;
export const PROTOCOL_SMB2 = 0x424d53fe; // 0xFE 'S' 'M' 'B' read little-endian
export const PROTOCOL_TRANSFORM = 0x424d53fd;
export const PROTOCOL_SMB1 = 0x424d53ff;
export const SIGNATURE_OFFSET = 48;

export const COMMAND = {
  NEGOTIATE: 0x0000,
  SESSION_SETUP: 0x0001,
  LOGOFF: 0x0002,
  TREE_CONNECT: 0x0003,
  TREE_DISCONNECT: 0x0004,
  CREATE: 0x0005,
  CLOSE: 0x0006,
  FLUSH: 0x0007,
  READ: 0x0008,
  WRITE: 0x0009,
  LOCK: 0x000a,
  IOCTL: 0x000b,
  CANCEL: 0x000c,
  ECHO: 0x000d,
  QUERY_DIRECTORY: 0x000e,
  CHANGE_NOTIFY: 0x000f,
  QUERY_INFO: 0x0010,
  SET_INFO: 0x0011,
  OPLOCK_BREAK: 0x0012,
} as const;

const COMMAND_NAMES = new Map<number, string>(Object.entries(COMMAND).map(([k, v]) => [v, k]));
export const commandName = (c: number): string => COMMAND_NAMES.get(c) ?? `command 0x${c.toString(16)}`;

export const HDR_FLAGS = {
  SERVER_TO_REDIR: 0x00000001,
  ASYNC_COMMAND: 0x00000002,
  RELATED_OPERATIONS: 0x00000004,
  SIGNED: 0x00000008,
  DFS_OPERATIONS: 0x10000000,
  REPLAY_OPERATION: 0x20000000,
} as const;

export const DIALECT = {
  SMB202: 0x0202,
  SMB210: 0x0210,
  SMB300: 0x0300,
  SMB302: 0x0302,
  SMB311: 0x0311,
  WILDCARD: 0x02ff,
} as const;
export type Dialect = 0x0202 | 0x0210 | 0x0300 | 0x0302 | 0x0311;
export const ALL_DIALECTS: readonly Dialect[] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
export const isSmb3 = (d: number): boolean => d >= 0x0300;
const DIALECT_NAMES: Readonly<Record<number, string>> = { 0x0202: '2.0.2', 0x0210: '2.1', 0x0300: '3.0', 0x0302: '3.0.2', 0x0311: '3.1.1' };
export const dialectName = (d: number): string => DIALECT_NAMES[d] ?? `0x${d.toString(16).padStart(4, '0')}`;

export interface Smb2Header {
  readonly creditCharge: number;
  /** Status in responses; ChannelSequence (low 16 bits) in 3.x requests. */
  readonly status: number;
  readonly command: number;
  /** CreditRequest (requests) or CreditResponse (responses). */
  readonly credits: number;
  readonly flags: number;
  readonly nextCommand: number;
  readonly messageId: bigint;
  /** Sync form. */
  readonly treeId: number;
  /** Async form (flags & ASYNC_COMMAND). */
  readonly asyncId: bigint;
  readonly sessionId: bigint;
  readonly signature: Uint8Array;
}

export function encodeHeader(h: Partial<Smb2Header> & { command: number; messageId: bigint }): Uint8Array {
  const w = new Writer(HEADER_SIZE);
  w.u32(PROTOCOL_SMB2).u16(HEADER_SIZE).u16(h.creditCharge ?? 0).u32(h.status ?? 0).u16(h.command).u16(h.credits ?? 0)
    .u32(h.flags ?? 0).u32(h.nextCommand ?? 0).u64(h.messageId);
  if (((h.flags ?? 0) & HDR_FLAGS.ASYNC_COMMAND) !== 0) w.u64(h.asyncId ?? 0n);
  else w.u32(0).u32(h.treeId ?? 0);
  w.u64(h.sessionId ?? 0n);
  w.bytes(h.signature ?? new Uint8Array(16));
  return w.finish();
}

/** Decodes the header at the start of `msg` (a whole SMB2 message). */
export function decodeHeader(msg: Uint8Array): Smb2Header {
  const r = new Reader(msg);
  if (msg.length < HEADER_SIZE) throw new SmbError(`message of ${msg.length} bytes is shorter than the SMB2 header`, 0);
  const proto = r.u32(0);
  if (proto === PROTOCOL_SMB1) throw new SmbError('the server answered with SMB1, which this client does not speak', 0);
  if (proto !== PROTOCOL_SMB2) throw new SmbError(`not an SMB2 header (protocol id 0x${proto.toString(16)})`, 0);
  if (r.u16(4) !== HEADER_SIZE) throw new SmbError(`header StructureSize ${r.u16(4)}, expected 64`, 4);
  const flags = r.u32(16);
  const async = (flags & HDR_FLAGS.ASYNC_COMMAND) !== 0;
  return {
    creditCharge: r.u16(6),
    status: r.u32(8),
    command: r.u16(12),
    credits: r.u16(14),
    flags,
    nextCommand: r.u32(20),
    messageId: r.u64(24),
    treeId: async ? 0 : r.u32(36),
    asyncId: async ? r.u64(32) : 0n,
    sessionId: r.u64(40),
    signature: r.bytesAt(SIGNATURE_OFFSET, 16),
  };
}

/** The body (after the header) of a message, with its StructureSize checked. */
export function body(msg: Uint8Array, structureSize: number, what: string): Reader {
  const r = new Reader(msg);
  const size = r.u16(HEADER_SIZE, `${what} StructureSize`);
  if (size !== structureSize) throw new SmbError(`${what}: StructureSize ${size}, expected ${structureSize}`, HEADER_SIZE);
  return r;
}

/**
 * A buffer the message points to with an offset (from the header start) and a length; an
 * empty buffer may have any offset.
 */
export function pointed(r: Reader, offset: number, length: number, what: string): Uint8Array {
  if (length === 0) return new Uint8Array(0);
  if (offset < HEADER_SIZE) throw new SmbError(`${what} offset ${offset} points into the header`, offset);
  return r.bytesAt(offset, length, what);
}
