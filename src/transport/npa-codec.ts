/**
 * Encoding and decoding of the named_pipe_auth handshake (see npa-idl.ts for the layout).
 * decodeNpaRequest is total: it returns a checked request or throws NdrError.
 */
import { NdrError, decode, encode, type NdrErrorCode } from '../ndr/index.js';
import {
  namedPipeAuthRep, namedPipeAuthReq, SUPPORTED_LEVELS,
  type NamedPipeAuthReq, type NpaLevel, type ReqInfo7, type ReqInfo8,
} from './npa-idl.js';

export { SUPPORTED_LEVELS, type NpaLevel, type ReqInfo7, type ReqInfo8 } from './npa-idl.js';

export const NPA_MAGIC = Uint8Array.from([0x4e, 0x50, 0x41, 0x4d]); // "NPAM"
/** Size of the reply for every supported level. */
export const NPA_REP_SIZE = 36;

/** A decoded, checked request: counts agree with arrays, level agrees with the union arm. */
export type NpaRequest = { readonly level: 7; readonly info: ReqInfo7 } | { readonly level: 8; readonly info: ReqInfo8 };
export type NpaRequestInfo = ReqInfo7 | ReqInfo8;

/** FILE_TYPE_* of the pipe as smbd reports it to the SMB client. */
export const FILE_TYPE_BYTE_MODE_PIPE = 1;
export const FILE_TYPE_MESSAGE_MODE_PIPE = 2;

export interface NpaReply {
  readonly level: NpaLevel;
  readonly fileType: number;
  readonly deviceState: number;
  readonly allocationSize: bigint;
  readonly status: number;
}

/** What samba-dcerpcd answers for a message-mode pipe (SAMBA.md §2). */
export function defaultReply(level: NpaLevel, mode: 'message' | 'byte' = 'message'): NpaReply {
  return mode === 'message'
    ? { level, fileType: FILE_TYPE_MESSAGE_MODE_PIPE, deviceState: 0x05ff, allocationSize: 4096n, status: 0 }
    : { level, fileType: FILE_TYPE_BYTE_MODE_PIPE, deviceState: 0x00ff, allocationSize: 4096n, status: 0 };
}

function fail(code: NdrErrorCode, message: string, offset = 0, path = 'named_pipe_auth_req'): never {
  throw new NdrError(code, message, offset, path);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The big-endian length prefix of a message (the number of bytes that follow it). */
export function readLengthPrefix(head: Uint8Array): number {
  if (head.length < 4) fail('BUFSIZE', `need 4 bytes for the length prefix, have ${head.length}`);
  return ((head[0] as number) * 0x1000000) + (((head[1] as number) << 16) | ((head[2] as number) << 8) | (head[3] as number));
}

/** Inconsistencies pidl's pull would reject (array sizes against their count fields). */
function checkCounts(info: NpaRequestInfo, code: NdrErrorCode): void {
  const si = info.session_info?.session_info;
  if (!si) return;
  const tok = si.security_token;
  if (tok) {
    if (tok.num_sids !== tok.sids.length) fail(code, `num_sids ${tok.num_sids} but ${tok.sids.length} SIDs`);
    if ('num_device_sids' in tok) {
      if (tok.num_device_sids !== tok.device_sids.length) fail(code, `num_device_sids ${tok.num_device_sids} but ${tok.device_sids.length} SIDs`);
      const claimCounts = [tok.num_local_claims, tok.num_user_claims, tok.num_device_claims];
      const claimArrays = [tok.local_claims, tok.user_claims, tok.device_claims];
      claimCounts.forEach((n, i) => {
        if (n !== (claimArrays[i] as unknown[]).length) fail(code, `claim count ${n} does not match its array`);
      });
    }
  }
  const ut = si.unix_token;
  if (ut && ut.ngroups !== ut.groups.length) fail(code, `ngroups ${ut.ngroups} but ${ut.groups.length} groups`);
}

/** Decodes one whole request message (length prefix included). Throws NdrError only. */
export function decodeNpaRequest(bytes: Uint8Array): NpaRequest {
  const { value, consumed } = decode(namedPipeAuthReq, bytes);
  if (consumed !== bytes.length) fail('BUFSIZE', `${bytes.length - consumed} trailing bytes`, consumed);
  if (value.length !== bytes.length - 4) fail('BUFSIZE', `length field ${value.length}, message has ${bytes.length - 4} bytes after it`);
  if (!sameBytes(value.magic, NPA_MAGIC)) fail('RANGE', `bad magic ${Buffer.from(value.magic).toString('hex')}`, 4);
  if (value.info.tag !== value.level) fail('BAD_SWITCH', `level ${value.level} but union arm ${value.info.tag}`, 12);
  if (value.info.value === undefined) fail('BAD_SWITCH', `unsupported level ${value.level}`, 8);
  const req = { level: value.level, info: value.info.value } as NpaRequest;
  checkCounts(req.info, 'ARRAY_SIZE');
  return req;
}

/** Encodes a request (what smbd sends); used by tests and tools. Counts must match arrays. */
export function encodeNpaRequest(req: NpaRequest): Uint8Array {
  checkCounts(req.info, 'ENCODE');
  const msg = { length: 0, magic: NPA_MAGIC, level: req.level, info: { tag: req.level, value: req.info } } as NamedPipeAuthReq;
  const bytes = encode(namedPipeAuthReq, msg);
  new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, bytes.length - 4, false);
  return bytes;
}

/** Encodes the reply the server sends after accepting the request. */
export function encodeNpaReply(rep: NpaReply): Uint8Array {
  const info = { file_type: rep.fileType, device_state: rep.deviceState, allocation_size: rep.allocationSize };
  const bytes = encode(namedPipeAuthRep, {
    length: 0, magic: NPA_MAGIC, level: rep.level, info: { tag: rep.level, value: info }, status: rep.status,
  });
  new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, bytes.length - 4, false);
  return bytes;
}

/** Decodes a reply (the client side of the handshake; tests and tools). Throws NdrError only. */
export function decodeNpaReply(bytes: Uint8Array): NpaReply {
  const { value, consumed } = decode(namedPipeAuthRep, bytes);
  if (consumed !== bytes.length) fail('BUFSIZE', `${bytes.length - consumed} trailing bytes`, consumed, 'named_pipe_auth_rep');
  if (value.length !== bytes.length - 4) fail('BUFSIZE', `length field ${value.length}`, 0, 'named_pipe_auth_rep');
  if (!sameBytes(value.magic, NPA_MAGIC)) fail('RANGE', 'bad magic', 4, 'named_pipe_auth_rep');
  if (value.info.tag !== value.level || value.info.value === undefined) fail('BAD_SWITCH', `level ${value.level}`, 8, 'named_pipe_auth_rep');
  const i = value.info.value;
  return { level: value.level as NpaLevel, fileType: i.file_type, deviceState: i.device_state, allocationSize: i.allocation_size, status: value.status };
}

/** True when `level` is one this server can decode. */
export function isSupportedLevel(level: number): level is NpaLevel {
  return (SUPPORTED_LEVELS as readonly number[]).includes(level);
}
