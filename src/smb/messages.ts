/**
 * SMB2 request bodies the client sends and the response decoders (MS-SMB2 2.2.5–2.2.32):
 * SESSION_SETUP, LOGOFF, TREE_CONNECT, TREE_DISCONNECT, CREATE, CLOSE, READ, WRITE, IOCTL and
 * the ERROR response. Each decoder takes the whole message (header included, as offsets count
 * from the header) and throws only SmbError.
 */
import { SmbError } from './errors.js';
import { HEADER_SIZE, body, pointed } from './header.js';
import { Writer, fromUtf16le, utf16le } from './wire.js';

const B = HEADER_SIZE;

export interface FileId {
  readonly persistent: bigint;
  readonly volatile: bigint;
}
const putFileId = (w: Writer, f: FileId): Writer => w.u64(f.persistent).u64(f.volatile);

// SESSION_SETUP
export const SESSION_FLAG = { IS_GUEST: 0x0001, IS_NULL: 0x0002, ENCRYPT_DATA: 0x0004 } as const;

export function encodeSessionSetupRequest(securityMode: number, capabilities: number, token: Uint8Array): Uint8Array {
  // StructureSize 25, the buffer right after the 24 fixed bytes.
  return new Writer().u16(25).u8(0).u8(securityMode).u32(capabilities).u32(0).u16(B + 24).u16(token.length).u64(0n)
    .bytes(token.length > 0 ? token : new Uint8Array(0)).finish();
}

export interface SessionSetupResponse {
  readonly sessionFlags: number;
  readonly token: Uint8Array;
}
export function decodeSessionSetupResponse(msg: Uint8Array): SessionSetupResponse {
  const r = body(msg, 9, 'SESSION_SETUP response');
  return { sessionFlags: r.u16(B + 2), token: pointed(r, r.u16(B + 4), r.u16(B + 6), 'SESSION_SETUP security buffer') };
}

// LOGOFF, TREE_DISCONNECT (and other 4-byte bodies)
export const encodeEmpty4 = (): Uint8Array => new Writer().u16(4).u16(0).finish();
export function decodeEmpty4(msg: Uint8Array, what: string): void {
  body(msg, 4, what);
}

// TREE_CONNECT
export const SHARE_TYPE = { DISK: 1, PIPE: 2, PRINT: 3 } as const;
export const SHARE_FLAG = { ENCRYPT_DATA: 0x00008000 } as const;

export function encodeTreeConnectRequest(path: string): Uint8Array {
  const p = utf16le(path);
  return new Writer().u16(9).u16(0).u16(B + 8).u16(p.length).bytes(p).finish();
}
export interface TreeConnectResponse {
  readonly shareType: number;
  readonly shareFlags: number;
  readonly capabilities: number;
  readonly maximalAccess: number;
}
export function decodeTreeConnectResponse(msg: Uint8Array): TreeConnectResponse {
  const r = body(msg, 16, 'TREE_CONNECT response');
  return { shareType: r.u8(B + 2), shareFlags: r.u32(B + 4), capabilities: r.u32(B + 8), maximalAccess: r.u32(B + 12) };
}

// CREATE
export const ACCESS = {
  FILE_READ_DATA: 0x00000001,
  FILE_WRITE_DATA: 0x00000002,
  FILE_APPEND_DATA: 0x00000004,
  FILE_READ_EA: 0x00000008,
  FILE_WRITE_EA: 0x00000010,
  FILE_READ_ATTRIBUTES: 0x00000080,
  FILE_WRITE_ATTRIBUTES: 0x00000100,
  READ_CONTROL: 0x00020000,
  SYNCHRONIZE: 0x00100000,
} as const;
export const IMPERSONATION = { ANONYMOUS: 0, IDENTIFICATION: 1, IMPERSONATION: 2, DELEGATE: 3 } as const;
export const SHARE_ACCESS = { READ: 1, WRITE: 2, DELETE: 4 } as const;
export const DISPOSITION = { SUPERSEDE: 0, OPEN: 1, CREATE: 2, OPEN_IF: 3, OVERWRITE: 4, OVERWRITE_IF: 5 } as const;
export const CREATE_OPTION = { NON_DIRECTORY_FILE: 0x00000040 } as const;

export interface CreateRequest {
  readonly name: string;
  readonly desiredAccess: number;
  readonly shareAccess: number;
  readonly disposition: number;
  readonly options: number;
  readonly impersonation: number;
}
export function encodeCreateRequest(c: CreateRequest): Uint8Array {
  const name = utf16le(c.name);
  const w = new Writer().u16(57).u8(0).u8(0).u32(c.impersonation).u64(0n).u64(0n).u32(c.desiredAccess).u32(0)
    .u32(c.shareAccess).u32(c.disposition).u32(c.options).u16(B + 56).u16(name.length).u32(0).u32(0);
  // The buffer is at least one byte even for an empty name.
  w.bytes(name.length > 0 ? name : new Uint8Array(1));
  return w.finish();
}
export interface CreateResponse {
  readonly oplockLevel: number;
  readonly createAction: number;
  readonly endOfFile: bigint;
  readonly fileAttributes: number;
  readonly fileId: FileId;
}
export function decodeCreateResponse(msg: Uint8Array): CreateResponse {
  const r = body(msg, 89, 'CREATE response');
  return {
    oplockLevel: r.u8(B + 2),
    createAction: r.u32(B + 4),
    endOfFile: r.u64(B + 48),
    fileAttributes: r.u32(B + 56),
    fileId: { persistent: r.u64(B + 64), volatile: r.u64(B + 72) },
  };
}

// CLOSE
export const encodeCloseRequest = (f: FileId): Uint8Array => putFileId(new Writer().u16(24).u16(0).u32(0), f).finish();
export function decodeCloseResponse(msg: Uint8Array): void {
  body(msg, 60, 'CLOSE response');
}

// READ
export interface ReadRequest {
  readonly fileId: FileId;
  readonly length: number;
  readonly offset: bigint;
  readonly minimumCount?: number;
}
export function encodeReadRequest(q: ReadRequest): Uint8Array {
  const w = new Writer().u16(49).u8(0x50).u8(0).u32(q.length).u64(q.offset);
  return putFileId(w, q.fileId).u32(q.minimumCount ?? 0).u32(0).u32(0).u16(0).u16(0).u8(0).finish();
}
export interface ReadResponse {
  readonly data: Uint8Array;
  readonly remaining: number;
}
export function decodeReadResponse(msg: Uint8Array): ReadResponse {
  const r = body(msg, 17, 'READ response');
  return { data: pointed(r, r.u8(B + 2), r.u32(B + 4), 'READ data'), remaining: r.u32(B + 8) };
}

// WRITE
export function encodeWriteRequest(fileId: FileId, offset: bigint, data: Uint8Array): Uint8Array {
  const w = new Writer(B + 48 + data.length).u16(49).u16(B + 48).u32(data.length).u64(offset);
  // Channel, RemainingBytes, WriteChannelInfoOffset/Length, Flags; the buffer has at least one byte.
  return putFileId(w, fileId).u32(0).u32(0).u16(0).u16(0).u32(0).bytes(data.length > 0 ? data : new Uint8Array(1)).finish();
}
export function decodeWriteResponse(msg: Uint8Array): { count: number } {
  const r = body(msg, 17, 'WRITE response');
  return { count: r.u32(B + 4) };
}

// IOCTL
export const FSCTL_PIPE_TRANSCEIVE = 0x0011c017;
export const FSCTL_VALIDATE_NEGOTIATE_INFO = 0x00140204;
export const IOCTL_IS_FSCTL = 0x00000001;

export function encodeIoctlRequest(ctlCode: number, fileId: FileId, input: Uint8Array, maxOutput: number): Uint8Array {
  const w = new Writer(B + 56 + input.length).u16(57).u16(0).u32(ctlCode);
  putFileId(w, fileId).u32(input.length > 0 ? B + 56 : 0).u32(input.length).u32(0) // MaxInputResponse
    .u32(0).u32(0).u32(maxOutput).u32(IOCTL_IS_FSCTL).u32(0);
  return w.bytes(input.length > 0 ? input : new Uint8Array(1)).finish();
}
export interface IoctlResponse {
  readonly ctlCode: number;
  readonly output: Uint8Array;
}
export function decodeIoctlResponse(msg: Uint8Array): IoctlResponse {
  const r = body(msg, 49, 'IOCTL response');
  return { ctlCode: r.u32(B + 4), output: pointed(r, r.u32(B + 32), r.u32(B + 36), 'IOCTL output') };
}

// ERROR
export interface ErrorResponse {
  readonly contextCount: number;
  readonly data: Uint8Array;
}
/** An ERROR response body (StructureSize 9); servers may omit the one-byte buffer. */
export function decodeErrorResponse(msg: Uint8Array): ErrorResponse {
  const r = body(msg, 9, 'ERROR response');
  const count = r.u32(B + 4);
  if (count > msg.length) throw new SmbError(`ERROR response ByteCount ${count} exceeds the message`, B + 4);
  return { contextCount: r.u8(B + 2), data: count > 0 ? r.bytesAt(B + 8, count, 'ERROR data') : new Uint8Array(0) };
}

export { fromUtf16le };
