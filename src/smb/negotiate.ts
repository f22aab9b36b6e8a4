/**
 * SMB2 NEGOTIATE (MS-SMB2 2.2.3, 2.2.4) with the 3.1.1 negotiate contexts the client offers:
 * PREAUTH_INTEGRITY_CAPABILITIES (SHA-512, 32-byte salt), ENCRYPTION_CAPABILITIES and
 * SIGNING_CAPABILITIES. Contexts are 8-byte aligned; offsets count from the header start.
 */
import { SmbError } from './errors.js';
import { HEADER_SIZE, body, pointed, type Dialect } from './header.js';
import { Reader, Writer } from './wire.js';

export const SECURITY_MODE = { SIGNING_ENABLED: 0x0001, SIGNING_REQUIRED: 0x0002 } as const;
export const CAP = {
  DFS: 0x00000001,
  LEASING: 0x00000002,
  LARGE_MTU: 0x00000004,
  MULTI_CHANNEL: 0x00000008,
  PERSISTENT_HANDLES: 0x00000010,
  DIRECTORY_LEASING: 0x00000020,
  ENCRYPTION: 0x00000040,
} as const;
export const NEG_CTX = {
  PREAUTH_INTEGRITY: 0x0001,
  ENCRYPTION: 0x0002,
  COMPRESSION: 0x0003,
  NETNAME: 0x0005,
  TRANSPORT: 0x0006,
  RDMA_TRANSFORM: 0x0007,
  SIGNING: 0x0008,
} as const;
export const HASH_SHA512 = 0x0001;

export interface NegotiateContext {
  readonly type: number;
  readonly data: Uint8Array;
}

export interface NegotiateRequest {
  readonly dialects: readonly Dialect[];
  readonly securityMode: number;
  readonly capabilities: number;
  readonly clientGuid: Uint8Array;
  /** Only sent when 3.1.1 is among the dialects. */
  readonly contexts: readonly NegotiateContext[];
}

export function encodeNegotiateRequest(req: NegotiateRequest): Uint8Array {
  const w = new Writer();
  const with311 = req.dialects.includes(0x0311) && req.contexts.length > 0;
  w.u16(36).u16(req.dialects.length).u16(req.securityMode).u16(0).u32(req.capabilities).bytes(req.clientGuid);
  const ctxOffsetAt = w.offset;
  w.u32(0).u16(with311 ? req.contexts.length : 0).u16(0); // or ClientStartTime (zero)
  for (const d of req.dialects) w.u16(d);
  if (with311) {
    // Offsets are from the header start; the body starts at 64, a multiple of 8.
    w.align(8);
    w.patchU32(ctxOffsetAt, HEADER_SIZE + w.offset);
    req.contexts.forEach((c, i) => {
      if (i > 0) w.align(8);
      w.u16(c.type).u16(c.data.length).u32(0).bytes(c.data);
    });
  }
  return w.finish();
}

export const preauthContext = (salt: Uint8Array): NegotiateContext =>
  ({ type: NEG_CTX.PREAUTH_INTEGRITY, data: new Writer().u16(1).u16(salt.length).u16(HASH_SHA512).bytes(salt).finish() });

export function listContext(type: number, ids: readonly number[]): NegotiateContext {
  const w = new Writer().u16(ids.length);
  for (const id of ids) w.u16(id);
  return { type, data: w.finish() };
}

export interface NegotiateResponse {
  readonly securityMode: number;
  readonly dialect: number;
  readonly serverGuid: Uint8Array;
  readonly capabilities: number;
  readonly maxTransactSize: number;
  readonly maxReadSize: number;
  readonly maxWriteSize: number;
  readonly securityBuffer: Uint8Array;
  readonly contexts: readonly NegotiateContext[];
}

/** At most this many negotiate contexts are read (bounded work on hostile input). */
const MAX_CONTEXTS = 64;

export function decodeNegotiateResponse(msg: Uint8Array): NegotiateResponse {
  const r = body(msg, 65, 'NEGOTIATE response');
  const b = HEADER_SIZE;
  const dialect = r.u16(b + 4);
  const ctxCount = r.u16(b + 6);
  const res = {
    securityMode: r.u16(b + 2),
    dialect,
    serverGuid: r.bytesAt(b + 8, 16),
    capabilities: r.u32(b + 24),
    maxTransactSize: r.u32(b + 28),
    maxReadSize: r.u32(b + 32),
    maxWriteSize: r.u32(b + 36),
    securityBuffer: pointed(r, r.u16(b + 56), r.u16(b + 58), 'NEGOTIATE security buffer'),
    contexts: [] as NegotiateContext[],
  };
  if (dialect === 0x0311 && ctxCount > 0) {
    if (ctxCount > MAX_CONTEXTS) throw new SmbError(`${ctxCount} negotiate contexts`, b + 6);
    let off = r.u32(b + 60);
    if (off < HEADER_SIZE || off % 8 !== 0) throw new SmbError(`negotiate context offset ${off}`, b + 60);
    for (let i = 0; i < ctxCount; i++) {
      if (i > 0) off += (8 - (off % 8)) % 8;
      const type = r.u16(off, 'negotiate context type');
      const len = r.u16(off + 2, 'negotiate context length');
      res.contexts.push({ type, data: r.bytesAt(off + 8, len, 'negotiate context data') });
      off += 8 + len;
    }
  }
  return res;
}

/** The single id a server's ENCRYPTION or SIGNING context chose (the response carries exactly one). */
export function chosenId(ctx: NegotiateContext, what: string): number {
  const r = new Reader(ctx.data);
  const n = r.u16(0, `${what} count`);
  if (n !== 1) throw new SmbError(`the server's ${what} context lists ${n} algorithms, not one`);
  return r.u16(2, what);
}

/** The hash algorithm and salt of a server's PREAUTH_INTEGRITY context. */
export function decodePreauthContext(ctx: NegotiateContext): { hashes: number[]; salt: Uint8Array } {
  const r = new Reader(ctx.data);
  const n = r.u16(0, 'hash algorithm count');
  const saltLen = r.u16(2, 'salt length');
  const hashes: number[] = [];
  for (let i = 0; i < n; i++) hashes.push(r.u16(4 + 2 * i, 'hash algorithm'));
  return { hashes, salt: r.bytesAt(4 + 2 * n, saltLen, 'salt') };
}
