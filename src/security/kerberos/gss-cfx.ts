/**
 * RFC 4121 per-message tokens for the AES enctypes: MIC (TOK_ID 04 04) and Wrap (05 04), with
 * and without confidentiality, plus the DCE/RPC form of Wrap (gss_wrap_iov with a HEADER buffer
 * only, MS-KILE 3.4.5.4.1): EC = 16 bytes of filler, RRC = 28, and — Windows' rule — the trailer
 * rotated by RRC + EC, so the 76-byte header holds token header | E(filler | header copy) |
 * HMAC | E(confounder) and the sealed data stays in place in the PDU.
 *
 * Key usages (RFC 4121 §2): acceptor seal 22, acceptor sign 23, initiator seal 24, initiator sign 25.
 */
import { createHmac } from 'node:crypto';
import { pooledRandom } from '../crypto/random-pool.js';
import { aesUsageKey, ctsDecrypt, ctsEncrypt } from './aes.js';
import { getEnctype } from './crypto.js';
import { KerberosCryptoError } from './errors.js';
import type { IovRegions, KrbMessageContext } from './gss-context.js';
import { DERIVE, bytesEqual, concat } from './rfc3961.js';

export const KG_USAGE = { acceptorSeal: 22, acceptorSign: 23, initiatorSeal: 24, initiatorSign: 25 } as const;
export const CFX_FLAGS = { sentByAcceptor: 0x01, sealed: 0x02, acceptorSubkey: 0x04 } as const;

const HDR = 16;
const MAC = 12;
/** DCE/RPC: filler bytes and rotation count Windows uses (MS-KILE 3.4.5.4.1). */
const DCE_EC = 16;
const DCE_RRC = 28;
export const CFX_MIC_SIZE = HDR + MAC;
export const CFX_DCE_WRAP_SIZE = HDR + DCE_EC + HDR + MAC + HDR;

const sealUsage = (fromAcceptor: boolean): number => (fromAcceptor ? KG_USAGE.acceptorSeal : KG_USAGE.initiatorSeal);
const signUsage = (fromAcceptor: boolean): number => (fromAcceptor ? KG_USAGE.acceptorSign : KG_USAGE.initiatorSign);

function sendFlags(ctx: KrbMessageContext, sealed: boolean): number {
  return (ctx.isAcceptor ? CFX_FLAGS.sentByAcceptor : 0) | (ctx.acceptorSubkey ? CFX_FLAGS.acceptorSubkey : 0) | (sealed ? CFX_FLAGS.sealed : 0);
}

function writeSeq(view: DataView, off: number, seq: number): void {
  view.setUint32(off, Math.floor(seq / 2 ** 32), false);
  view.setUint32(off + 4, seq >>> 0, false);
}
const readSeq = (t: Uint8Array, off: number): number => {
  const v = new DataView(t.buffer, t.byteOffset + off, 8);
  return v.getUint32(0, false) * 2 ** 32 + v.getUint32(4, false);
};

function header(tokId: number, flags: number, ec: number, rrc: number, seq: number): Uint8Array {
  const h = new Uint8Array(HDR);
  const v = new DataView(h.buffer);
  v.setUint16(0, tokId, false);
  h[2] = flags;
  if (tokId === 0x0404) {
    h.fill(0xff, 3, 8);
  } else {
    h[3] = 0xff;
    v.setUint16(4, ec, false);
    v.setUint16(6, rrc, false);
  }
  writeSeq(v, 8, seq);
  return h;
}

/** Checks TOK_ID, filler and the direction/subkey flags of a received token header; returns its flags. */
function checkHeader(ctx: KrbMessageContext, t: Uint8Array, tokId: number): number | KerberosCryptoError {
  if (t.length < HDR) return new KerberosCryptoError('short', `token of ${t.length} bytes`);
  if (((t[0]! << 8) | t[1]!) !== tokId) return new KerberosCryptoError('token', `TOK_ID ${t[0]!.toString(16)} ${t[1]!.toString(16)}`);
  const flags = t[2]!;
  const fillerEnd = tokId === 0x0404 ? 8 : 4;
  for (let i = 3; i < fillerEnd; i++) if (t[i] !== 0xff) return new KerberosCryptoError('token', 'filler is not ff');
  if (Boolean(flags & CFX_FLAGS.sentByAcceptor) === ctx.isAcceptor) return new KerberosCryptoError('token', 'token sent in our own direction (SentByAcceptor)');
  if (Boolean(flags & CFX_FLAGS.acceptorSubkey) !== ctx.acceptorSubkey) return new KerberosCryptoError('token', 'AcceptorSubkey flag does not match the context');
  return flags;
}

function checkSeq(ctx: KrbMessageContext, t: Uint8Array): KerberosCryptoError | undefined {
  const seq = readSeq(t, 8);
  return seq === ctx.recvSeq ? undefined : new KerberosCryptoError('sequence', `SND_SEQ ${seq}, expected ${ctx.recvSeq}`);
}

const enctypeOf = (ctx: KrbMessageContext) => {
  const e = getEnctype(ctx.etype);
  if (e === undefined || ctx.etype === 23) throw new KerberosCryptoError('unsupported', `RFC 4121 tokens for etype ${ctx.etype}`);
  return e;
};

export function cfxGetMic(ctx: KrbMessageContext, data: Uint8Array): Uint8Array {
  const h = header(0x0404, sendFlags(ctx, false), 0, 0, ctx.sendSeq);
  const mac = enctypeOf(ctx).checksum(ctx.key, signUsage(ctx.isAcceptor), concat(data, h));
  ctx.sendSeq++;
  return concat(h, mac);
}

/** Undefined when the MIC is good (and the receive sequence advances), else why not. */
export function cfxVerifyMic(ctx: KrbMessageContext, data: Uint8Array, token: Uint8Array): KerberosCryptoError | undefined {
  const flags = checkHeader(ctx, token, 0x0404);
  if (flags instanceof KerberosCryptoError) return flags;
  if (token.length !== CFX_MIC_SIZE) return new KerberosCryptoError('short', `MIC token of ${token.length} bytes`);
  const h = token.subarray(0, HDR);
  if (!enctypeOf(ctx).verifyChecksum(ctx.key, signUsage(!ctx.isAcceptor), concat(data, h), token.subarray(HDR))) {
    return new KerberosCryptoError('integrity', 'MIC checksum mismatch');
  }
  const seq = checkSeq(ctx, token);
  if (seq) return seq;
  ctx.recvSeq++;
  return undefined;
}

const rotateRight = (b: Uint8Array, n: number): Uint8Array => {
  if (b.length === 0) return b;
  const k = n % b.length;
  return concat(b.subarray(b.length - k), b.subarray(0, b.length - k));
};
const rotateLeft = (b: Uint8Array, n: number): Uint8Array => (b.length === 0 ? b : rotateRight(b, b.length - (n % b.length)));

/** GSS_Wrap as RFC 4121 §4.2.4 sends it (RRC 0; no filler needed with CTS). */
export function cfxWrap(ctx: KrbMessageContext, data: Uint8Array, confidential: boolean): Uint8Array {
  const e = enctypeOf(ctx);
  const usage = sealUsage(ctx.isAcceptor);
  let out: Uint8Array;
  if (confidential) {
    const h = header(0x0504, sendFlags(ctx, true), 0, 0, ctx.sendSeq);
    out = concat(h, e.encrypt(ctx.key, usage, concat(data, h)));
  } else {
    const h = header(0x0504, sendFlags(ctx, false), 0, 0, ctx.sendSeq);
    const mac = e.checksum(ctx.key, usage, concat(data, h));
    out = concat(header(0x0504, sendFlags(ctx, false), MAC, 0, ctx.sendSeq), data, mac);
  }
  ctx.sendSeq++;
  return out;
}

export interface Unwrapped { readonly data: Uint8Array; readonly confidential: boolean }

/** GSS_Unwrap of an RFC 4121 Wrap token (any RRC and EC). */
export function cfxUnwrap(ctx: KrbMessageContext, token: Uint8Array): Unwrapped | KerberosCryptoError {
  const flags = checkHeader(ctx, token, 0x0504);
  if (flags instanceof KerberosCryptoError) return flags;
  const e = enctypeOf(ctx);
  const v = new DataView(token.buffer, token.byteOffset, token.length);
  const ec = v.getUint16(4, false);
  const rrc = v.getUint16(6, false);
  const body = rotateLeft(token.subarray(HDR), rrc);
  const usage = sealUsage(!ctx.isAcceptor);
  const h0 = Uint8Array.from(token.subarray(0, HDR));
  h0[6] = 0; h0[7] = 0;
  let data: Uint8Array;
  const sealed = (flags & CFX_FLAGS.sealed) !== 0;
  if (sealed) {
    const plain = e.decrypt(ctx.key, usage, body);
    if (plain instanceof KerberosCryptoError) return plain;
    if (plain.length < ec + HDR) return new KerberosCryptoError('short', 'sealed body shorter than EC + header');
    if (!bytesEqual(plain.subarray(plain.length - HDR), h0)) return new KerberosCryptoError('integrity', 'encrypted header copy differs');
    data = plain.subarray(0, plain.length - HDR - ec);
  } else {
    if (ec !== e.checksumSize || body.length < ec) return new KerberosCryptoError('token', `EC ${ec} in an integrity-only Wrap token`);
    data = body.subarray(0, body.length - ec);
    h0[4] = 0; h0[5] = 0;
    if (!e.verifyChecksum(ctx.key, usage, concat(data, h0), body.subarray(data.length))) return new KerberosCryptoError('integrity', 'Wrap checksum mismatch');
  }
  const seq = checkSeq(ctx, token);
  if (seq) return seq;
  ctx.recvSeq++;
  return { data: Uint8Array.from(data), confidential: sealed };
}

const hmac12 = (key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array => {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest().subarray(0, MAC));
};

/**
 * gss_wrap_iov, DCE style: returns the 76-byte HEADER buffer (the DCE/RPC signature) and the
 * sealed data; the HMAC covers confounder | before | data | after | filler | header copy.
 */
export function cfxWrapIov(ctx: KrbMessageContext, r: IovRegions, confounder?: Uint8Array): { header: Uint8Array; sealed: Uint8Array } {
  enctypeOf(ctx);
  const usage = sealUsage(ctx.isAcceptor);
  const conf = confounder ?? pooledRandom(16);
  const flags = sendFlags(ctx, true);
  const hcopy = header(0x0504, flags, DCE_EC, 0, ctx.sendSeq);
  const filler = new Uint8Array(DCE_EC).fill(0xff);
  const ke = aesUsageKey(ctx.key, usage, DERIVE.encryption);
  const ki = aesUsageKey(ctx.key, usage, DERIVE.integrity);
  const c = ctsEncrypt(ke, new Uint8Array(16), concat(conf, r.data, filler, hcopy));
  const mac = hmac12(ki, [conf, r.before, r.data, r.after, filler, hcopy]);
  const n = r.data.length;
  const out = concat(header(0x0504, flags, DCE_EC, DCE_RRC, ctx.sendSeq), c.subarray(16 + n), mac, c.subarray(0, 16));
  ctx.sendSeq++;
  return { header: out, sealed: c.subarray(16, 16 + n) };
}

/**
 * gss_unwrap_iov, DCE style: checks a HEADER buffer (EC of filler, RRC 28, rotated by RRC + EC)
 * against the regions; the plaintext, or why not. Accepts any EC (impacket sends 0).
 */
export function cfxUnwrapIov(ctx: KrbMessageContext, headerBuf: Uint8Array, r: IovRegions): Uint8Array | KerberosCryptoError {
  const flags = checkHeader(ctx, headerBuf, 0x0504);
  if (flags instanceof KerberosCryptoError) return flags;
  enctypeOf(ctx);
  if ((flags & CFX_FLAGS.sealed) === 0) return new KerberosCryptoError('token', 'DCE Wrap token without confidentiality');
  const v = new DataView(headerBuf.buffer, headerBuf.byteOffset, headerBuf.length);
  const ec = v.getUint16(4, false);
  const rrc = v.getUint16(6, false);
  if (rrc !== DCE_RRC) return new KerberosCryptoError('token', `DCE Wrap token with RRC ${rrc}`);
  if (headerBuf.length !== HDR + ec + HDR + MAC + 16) return new KerberosCryptoError('short', `DCE Wrap header of ${headerBuf.length} bytes for EC ${ec}`);
  const usage = sealUsage(!ctx.isAcceptor);
  const ke = aesUsageKey(ctx.key, usage, DERIVE.encryption);
  const ki = aesUsageKey(ctx.key, usage, DERIVE.integrity);
  const tail = headerBuf.subarray(HDR, HDR + ec + HDR);
  const mac = headerBuf.subarray(HDR + ec + HDR, HDR + ec + HDR + MAC);
  const econf = headerBuf.subarray(HDR + ec + HDR + MAC);
  const p = ctsDecrypt(ke, new Uint8Array(16), concat(econf, r.data, tail));
  const n = r.data.length;
  const conf = p.subarray(0, 16);
  const data = p.subarray(16, 16 + n);
  const filler = p.subarray(16 + n, 16 + n + ec);
  const hcopy = p.subarray(16 + n + ec);
  if (!bytesEqual(hmac12(ki, [conf, r.before, data, r.after, filler, hcopy]), mac)) return new KerberosCryptoError('integrity', 'DCE Wrap HMAC mismatch');
  const h0 = Uint8Array.from(headerBuf.subarray(0, HDR));
  h0[6] = 0; h0[7] = 0;
  if (!bytesEqual(hcopy, h0)) return new KerberosCryptoError('integrity', 'encrypted header copy differs');
  const seq = checkSeq(ctx, headerBuf);
  if (seq) return seq;
  ctx.recvSeq++;
  return Uint8Array.from(data);
}
