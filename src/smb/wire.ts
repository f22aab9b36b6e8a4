/**
 * Bounded little-endian reading and writing for SMB2 messages. A Reader never reads past its
 * buffer: every fault is an SmbError with the offset, so decoders built on it are total.
 */
import { allocBytes, viewOf } from '../ndr/index.js';
import { SmbError } from './errors.js';

export class Reader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.length;
  }
  private need(off: number, n: number, what: string): void {
    if (!Number.isInteger(off) || off < 0 || n < 0 || off + n > this.bytes.length) {
      throw new SmbError(`${what} needs ${n} bytes at ${off}, message has ${this.bytes.length}`, off);
    }
  }
  u8(off: number, what = 'u8'): number {
    this.need(off, 1, what);
    return this.view.getUint8(off);
  }
  u16(off: number, what = 'u16'): number {
    this.need(off, 2, what);
    return this.view.getUint16(off, true);
  }
  u32(off: number, what = 'u32'): number {
    this.need(off, 4, what);
    return this.view.getUint32(off, true);
  }
  u64(off: number, what = 'u64'): bigint {
    this.need(off, 8, what);
    return this.view.getBigUint64(off, true);
  }
  /** A copy of n bytes at off. */
  bytesAt(off: number, n: number, what = 'bytes'): Uint8Array {
    this.need(off, n, what);
    return this.bytes.slice(off, off + n);
  }
  /** A view (no copy) of n bytes at off. */
  sub(off: number, n: number, what = 'bytes'): Uint8Array {
    this.need(off, n, what);
    return this.bytes.subarray(off, off + n);
  }
}

export class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;
  constructor(initial = 128) {
    this.buf = allocBytes(initial);
    this.dv = viewOf(this.buf);
  }
  get offset(): number {
    return this.len;
  }
  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = allocBytes(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = viewOf(next);
  }
  u8(v: number): this {
    this.grow(1);
    this.dv.setUint8(this.len, v);
    this.len += 1;
    return this;
  }
  u16(v: number): this {
    this.grow(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
    return this;
  }
  u32(v: number): this {
    this.grow(4);
    this.dv.setUint32(this.len, v >>> 0, true);
    this.len += 4;
    return this;
  }
  u64(v: bigint): this {
    this.grow(8);
    this.dv.setBigUint64(this.len, BigInt.asUintN(64, v), true);
    this.len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  zeros(n: number): this {
    this.grow(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }
  /** Pads with zeros to a multiple of `n` (relative to the start of this writer). */
  align(n: number): this {
    const r = this.len % n;
    return r === 0 ? this : this.zeros(n - r);
  }
  /** Overwrites a u16/u32 written earlier. */
  patchU16(at: number, v: number): void {
    this.dv.setUint16(at, v, true);
  }
  patchU32(at: number, v: number): void {
    this.dv.setUint32(at, v >>> 0, true);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export const utf16le = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf16le'));

export function fromUtf16le(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength - (b.byteLength % 2)).toString('utf16le');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}
