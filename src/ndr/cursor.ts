import { allocBytes, viewOf } from './alloc.js';
import { NdrError, type NdrErrorCode } from './error.js';

/** Limits that keep decoding bounded by the input. */
export interface NdrLimits {
  /** Deepest nesting of constructed types and pointers. Samba's guard is 128. */
  maxDepth: number;
  /** Largest element count any single array may declare. */
  maxCount: number;
}

export const DEFAULT_LIMITS: NdrLimits = { maxDepth: 64, maxCount: 1 << 22 };

/**
 * Reads NDR20 from a byte buffer. Alignment is measured from the start of the buffer
 * (the stub start). Every failure is an NdrError with the offset and the field path.
 */
export class NdrReader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  readonly le: boolean;
  readonly limits: NdrLimits;
  pos = 0;
  private depth = 0;
  private readonly conformance: number[] = [];
  /** Full-pointer referents already decoded in this message, by referent id. */
  readonly fullReferents = new Map<number, unknown>();

  constructor(buf: Uint8Array, opts: { littleEndian?: boolean; limits?: Partial<NdrLimits> } = {}) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.le = opts.littleEndian ?? true;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(code: NdrErrorCode, message: string, offset = this.pos): never {
    throw new NdrError(code, message, offset, '');
  }

  /**
   * Runs fn one level deeper. `name` joins the error's field path only if fn fails, so the
   * success path costs a counter and a try block.
   */
  within<T>(name: string, fn: () => T): T {
    if (++this.depth > this.limits.maxDepth) {
      this.depth--;
      this.fail('MAX_DEPTH', `nesting deeper than ${this.limits.maxDepth}`);
    }
    try {
      return fn();
    } catch (e) {
      if (e instanceof NdrError) e.within(name);
      throw e;
    } finally {
      this.depth--;
    }
  }

  need(n: number): void {
    if (n > this.remaining) this.fail('BUFSIZE', `need ${n} bytes, ${this.remaining} left`);
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.need(pad);
    this.pos += pad;
  }

  /** Checks that `count` elements of at least `unit` bytes each can still be in the input. */
  checkCount(count: number, unit: number): void {
    if (count > this.limits.maxCount) this.fail('ALLOC', `count ${count} exceeds limit ${this.limits.maxCount}`);
    if (count * unit > this.remaining) {
      this.fail('ARRAY_SIZE', `count ${count} needs ${count * unit} bytes, ${this.remaining} left`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    this.align(2);
    this.need(2);
    const v = this.view.getUint16(this.pos, this.le);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.view.getUint32(this.pos, this.le);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.align(4);
    this.need(4);
    const v = this.view.getInt32(this.pos, this.le);
    this.pos += 4;
    return v;
  }
  u64(align = 8): bigint {
    this.align(align);
    this.need(8);
    const v = this.view.getBigUint64(this.pos, this.le);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Conformance (max_count) read at the front of a conformant struct, for its last member. */
  pushConformance(n: number): void {
    this.conformance.push(n);
  }
  /** The hoisted max_count if the enclosing struct read one for this member, else undefined. */
  takeConformance(): number | undefined {
    return this.conformance.pop();
  }
}

/** Writes NDR20. Grows its buffer as needed; referent ids count from 0x00020000 in steps of 4. */
export class NdrWriter {
  private buf: Uint8Array;
  private view: DataView;
  readonly le: boolean;
  pos = 0;
  private nextReferent: number;
  private readonly conformance: number[] = [];
  /** Full-pointer targets already given a referent id in this message. */
  readonly fullReferents = new Map<unknown, { id: number; sent: boolean }>();

  constructor(opts: { littleEndian?: boolean; initialSize?: number; firstReferent?: number } = {}) {
    this.buf = allocBytes(opts.initialSize ?? 256);
    this.view = viewOf(this.buf);
    this.le = opts.littleEndian ?? true;
    this.nextReferent = opts.firstReferent ?? 0x00020000;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = allocBytes(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = viewOf(next);
  }

  referent(): number {
    const id = this.nextReferent;
    this.nextReferent = (this.nextReferent + 4) >>> 0;
    return id;
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.ensure(pad);
    this.buf.fill(0, this.pos, this.pos + pad);
    this.pos += pad;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.align(2);
    this.ensure(2);
    this.view.setUint16(this.pos, v, this.le);
    this.pos += 2;
  }
  u32(v: number): void {
    this.align(4);
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, this.le);
    this.pos += 4;
  }
  i32(v: number): void {
    this.align(4);
    this.ensure(4);
    this.view.setInt32(this.pos, v | 0, this.le);
    this.pos += 4;
  }
  u64(v: bigint, align = 8): void {
    this.align(align);
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), this.le);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  pushConformance(n: number): void {
    this.conformance.push(n);
  }
  /** True when the enclosing conformant struct already wrote this array's max_count. */
  takeHoisted(): boolean {
    return this.conformance.pop() !== undefined;
  }

  /** The bytes written so far (a copy-free view). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
