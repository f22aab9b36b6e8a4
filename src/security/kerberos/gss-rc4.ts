/**
 * RFC 4757 §7 per-message tokens for rc4-hmac, in RFC 1964's framing: MIC (TOK_ID 01 01, SGN_ALG
 * 11 00) and Wrap (02 01, SEAL_ALG 10 00, or ff ff without confidentiality), each behind the
 * RFC 2743 §3.1 mechanism header (60 len 06 09 <krb5 OID>). SND_SEQ is the 32-bit big-endian
 * sequence number and four direction bytes (00 from the initiator, ff from the acceptor),
 * RC4-encrypted under HMAC(HMAC(K, 0), SGN_CKSUM). SGN_CKSUM is the first 8 bytes of the
 * hmac-md5 checksum with T = 15 (MIC) or 13 (Wrap: header, confounder, data); Wrap data and
 * the 8-byte confounder are RC4-encrypted under HMAC(HMAC(K ^ f0, 0), SND_SEQ[0..4]).
 *
 * The DCE/RPC form (gss_wrap_iov, HEADER only) leaves out the data and its padding: a 45-byte
 * header whose DER length (0x2b) counts the 32 token bytes alone, the data sealed in place, and
 * the sign-only regions (PDU header, sec_trailer) inside the checksum after the data's order.
 */
import { pooledRandom } from '../crypto/random-pool.js';
import { rc4, Rc4 } from '../crypto/rc4.js';
import { KerberosCryptoError } from './errors.js';
import type { IovRegions, KrbMessageContext } from './gss-context.js';
import { hmacMd5, hmacMd5Checksum } from './rc4-hmac.js';
import { bytesEqual, concat, u32be, u32le } from './rfc3961.js';

const KRB5_OID = Uint8Array.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]);
const MIC_HDR = Uint8Array.from([0x01, 0x01, 0x11, 0x00, 0xff, 0xff, 0xff, 0xff]);
const TOKEN = 32;
export const RC4_MIC_SIZE = 2 + KRB5_OID.length + 24;
export const RC4_DCE_WRAP_SIZE = 2 + KRB5_OID.length + TOKEN;

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  return Uint8Array.of(0x80 | b.length, ...b);
}

/** The mechanism header `60 len OID` claiming `inner` bytes after the OID. */
const frame = (inner: number): Uint8Array => concat(Uint8Array.of(0x60), derLength(KRB5_OID.length + inner), KRB5_OID);

/** Strips the mechanism header; the token bytes after the OID (which may be followed by nothing else), or why not. */
function unframe(t: Uint8Array, claimedInner?: number): Uint8Array | KerberosCryptoError {
  if (t.length < 2 || t[0] !== 0x60) return new KerberosCryptoError('token', 'no GSS mechanism header');
  let off = 2;
  let len = t[1]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || t.length < 2 + n) return new KerberosCryptoError('token', 'bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + t[2 + i]!;
    off += n;
  }
  if (!bytesEqual(t.subarray(off, off + KRB5_OID.length), KRB5_OID)) return new KerberosCryptoError('token', 'not the Kerberos 5 mechanism');
  const inner = t.subarray(off + KRB5_OID.length);
  if (len !== KRB5_OID.length + (claimedInner ?? inner.length)) return new KerberosCryptoError('token', `DER length ${len} for ${inner.length} token bytes`);
  return inner;
}

const direction = (fromAcceptor: boolean): Uint8Array => new Uint8Array(4).fill(fromAcceptor ? 0xff : 0x00);
const seqKey = (ctx: KrbMessageContext, cksum: Uint8Array): Uint8Array => hmacMd5(hmacMd5(ctx.key, u32le(0)), cksum);
const dataKey = (ctx: KrbMessageContext, seq4: Uint8Array): Uint8Array =>
  hmacMd5(hmacMd5(ctx.key.map((b) => b ^ 0xf0), u32le(0)), seq4);

/** Decrypts and checks SND_SEQ (direction bytes from the peer, the number we expect); the plain 8 bytes, or why not. */
function openSeq(ctx: KrbMessageContext, encSeq: Uint8Array, cksum: Uint8Array): Uint8Array | KerberosCryptoError {
  const seq = rc4(seqKey(ctx, cksum), encSeq);
  if (!bytesEqual(seq.subarray(4), direction(!ctx.isAcceptor))) return new KerberosCryptoError('token', 'direction bytes of SND_SEQ are wrong (bad key or reflected token)');
  return seq;
}
const checkSeqNumber = (ctx: KrbMessageContext, seq: Uint8Array): KerberosCryptoError | undefined => {
  const n = new DataView(seq.buffer, seq.byteOffset, 4).getUint32(0, false);
  return n === (ctx.recvSeq >>> 0) ? undefined : new KerberosCryptoError('sequence', `SND_SEQ ${n}, expected ${ctx.recvSeq}`);
};

export function rc4GetMic(ctx: KrbMessageContext, data: Uint8Array): Uint8Array {
  const cksum = hmacMd5Checksum(ctx.key, 15, concat(MIC_HDR, data)).subarray(0, 8);
  const seq = concat(u32be(ctx.sendSeq), direction(ctx.isAcceptor));
  ctx.sendSeq++;
  return concat(frame(24), MIC_HDR, rc4(seqKey(ctx, cksum), seq), cksum);
}

export function rc4VerifyMic(ctx: KrbMessageContext, data: Uint8Array, token: Uint8Array): KerberosCryptoError | undefined {
  const t = unframe(token);
  if (t instanceof KerberosCryptoError) return t;
  if (t.length !== 24) return new KerberosCryptoError('short', `MIC token of ${t.length} bytes`);
  if (!bytesEqual(t.subarray(0, 8), MIC_HDR)) return new KerberosCryptoError('token', 'not an RC4-HMAC MIC header');
  const cksum = t.subarray(16, 24);
  if (!bytesEqual(hmacMd5Checksum(ctx.key, 15, concat(MIC_HDR, data)).subarray(0, 8), cksum)) return new KerberosCryptoError('integrity', 'MIC checksum mismatch');
  const seq = openSeq(ctx, t.subarray(8, 16), cksum);
  if (seq instanceof KerberosCryptoError) return seq;
  const bad = checkSeqNumber(ctx, seq);
  if (bad) return bad;
  ctx.recvSeq++;
  return undefined;
}

const wrapHeader = (confidential: boolean): Uint8Array =>
  Uint8Array.of(0x02, 0x01, 0x11, 0x00, confidential ? 0x10 : 0xff, confidential ? 0x00 : 0xff, 0xff, 0xff);

/** Builds the 32 token bytes and the (sealed) data; `signed` are the checksummed regions in order after the confounder. */
function seal(ctx: KrbMessageContext, confidential: boolean, data: Uint8Array, signed: readonly Uint8Array[], confounder?: Uint8Array): { token: Uint8Array; out: Uint8Array } {
  const hdr = wrapHeader(confidential);
  const conf = confounder ?? pooledRandom(8);
  const seq = concat(u32be(ctx.sendSeq), direction(ctx.isAcceptor));
  const cksum = hmacMd5Checksum(ctx.key, 13, concat(hdr, conf, ...signed)).subarray(0, 8);
  let encConf = conf;
  let out: Uint8Array = Uint8Array.from(data);
  if (confidential) {
    const s = new Rc4(dataKey(ctx, seq.subarray(0, 4)));
    encConf = s.update(conf);
    out = s.update(data);
  }
  ctx.sendSeq++;
  return { token: concat(hdr, rc4(seqKey(ctx, cksum), seq), cksum, encConf), out };
}

/** Checks the 32 token bytes; returns the plain data after `open`ing it, or why not. */
function unseal(ctx: KrbMessageContext, t: Uint8Array, data: Uint8Array, signedOf: (plain: Uint8Array) => readonly Uint8Array[], needConf: boolean): { data: Uint8Array; confidential: boolean } | KerberosCryptoError {
  if (t.length < TOKEN) return new KerberosCryptoError('short', `Wrap token of ${t.length} bytes`);
  const sealed = t[4] === 0x10 && t[5] === 0x00;
  if (!bytesEqual(t.subarray(0, 8), wrapHeader(sealed))) return new KerberosCryptoError('token', 'not an RC4-HMAC Wrap header');
  if (needConf && !sealed) return new KerberosCryptoError('token', 'Wrap token without confidentiality');
  const cksum = t.subarray(16, 24);
  const seq = openSeq(ctx, t.subarray(8, 16), cksum);
  if (seq instanceof KerberosCryptoError) return seq;
  let conf = t.subarray(24, 32);
  let plain = data;
  if (sealed) {
    const s = new Rc4(dataKey(ctx, seq.subarray(0, 4)));
    conf = s.update(conf);
    plain = s.update(data);
  }
  if (!bytesEqual(hmacMd5Checksum(ctx.key, 13, concat(t.subarray(0, 8), conf, ...signedOf(plain))).subarray(0, 8), cksum)) {
    return new KerberosCryptoError('integrity', 'Wrap checksum mismatch');
  }
  const bad = checkSeqNumber(ctx, seq);
  if (bad) return bad;
  ctx.recvSeq++;
  return { data: Uint8Array.from(plain), confidential: sealed };
}

/** GSS_Wrap (RFC 4757 §7.3) with RFC 1964's one byte of padding. */
export function rc4Wrap(ctx: KrbMessageContext, data: Uint8Array, confidential: boolean, confounder?: Uint8Array): Uint8Array {
  const padded = concat(data, Uint8Array.of(1));
  const { token, out } = seal(ctx, confidential, padded, [padded], confounder);
  return concat(frame(TOKEN + padded.length), token, out);
}

/** GSS_Unwrap; padding of 1..8 bytes, each holding the pad length, is removed. */
export function rc4Unwrap(ctx: KrbMessageContext, token: Uint8Array): { data: Uint8Array; confidential: boolean } | KerberosCryptoError {
  const t = unframe(token);
  if (t instanceof KerberosCryptoError) return t;
  if (t.length < TOKEN + 1) return new KerberosCryptoError('short', `Wrap token of ${t.length} bytes`);
  const r = unseal(ctx, t.subarray(0, TOKEN), t.subarray(TOKEN), (p) => [p], false);
  if (r instanceof KerberosCryptoError) return r;
  const pad = r.data[r.data.length - 1]!;
  if (pad < 1 || pad > 8 || pad > r.data.length || r.data.subarray(r.data.length - pad).some((b) => b !== pad)) {
    return new KerberosCryptoError('token', 'bad Wrap padding');
  }
  return { data: r.data.subarray(0, r.data.length - pad), confidential: r.confidential };
}

/** gss_wrap_iov, DCE style: the 45-byte header (the DCE/RPC signature) and the sealed data. */
export function rc4WrapIov(ctx: KrbMessageContext, r: IovRegions, confounder?: Uint8Array): { header: Uint8Array; sealed: Uint8Array } {
  const { token, out } = seal(ctx, true, r.data, [r.before, r.data, r.after], confounder);
  return { header: concat(frame(TOKEN), token), sealed: out };
}

export function rc4UnwrapIov(ctx: KrbMessageContext, headerBuf: Uint8Array, r: IovRegions): Uint8Array | KerberosCryptoError {
  const t = unframe(headerBuf, TOKEN);
  if (t instanceof KerberosCryptoError) return t;
  if (t.length !== TOKEN) return new KerberosCryptoError('short', `DCE Wrap token of ${t.length} bytes`);
  const u = unseal(ctx, t, r.data, (p) => [r.before, p, r.after], true);
  return u instanceof KerberosCryptoError ? u : u.data;
}
