import { describe, expect, it } from 'vitest';
import {
  NdrError, conformantArray, conformantVaryingArray, cvString, decode, decodeExact, encode, fixedArray, full,
  guid, hyper, params, print, struct, u16, u32, u8, udlong, union, unique, varyingArray, wstring, type NdrType,
} from '../../src/ndr/index.js';
import { hex, toHex } from '../helpers/fixtures.js';

function errorOf(fn: () => unknown): NdrError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NdrError);
    return e as NdrError;
  }
  throw new Error('expected an NdrError');
}

describe('alignment', () => {
  it('aligns primitives to their size from the stub start and pads with zeros', () => {
    const t = params('p', { a: u8, b: u16, c: u32, d: hyper });
    expect(toHex(encode(t, { a: 1, b: 2, c: 3, d: 4n }))).toBe('01000200' + '03000000' + '0400000000000000');
  });
  it('aligns a struct to its largest member; udlong is only 4-aligned', () => {
    const s8 = struct('S8', { a: u8, t: hyper });
    const s4 = struct('S4', { a: u8, t: udlong });
    expect(s8.align).toBe(8);
    expect(toHex(encode(params('p', { x: u8, s: s8 }), { x: 9, s: { a: 1, t: 2n } })))
      .toBe('0900000000000000' + '0100000000000000' + '0200000000000000');
    expect(toHex(encode(params('p', { x: u8, s: s4 }), { x: 9, s: { a: 1, t: 2n } })))
      .toBe('09000000' + '01000000' + '0200000000000000');
  });
  it('reads padding without checking its content, as Samba does', () => {
    const t = params('p', { a: u8, c: u32 });
    expect(decodeExact(t, hex('01 ff ff ff 05 00 00 00'))).toEqual({ a: 1, c: 5 });
  });
});

describe('pointers', () => {
  const Inner = struct('Inner', { b: unique(u32) });
  const Outer = struct('Outer', { a: unique(Inner), c: unique(u32) });

  it('defers pointees after the enclosing construct, depth first in pointer order', () => {
    const bytes = encode(Outer, { a: { b: 0xbb }, c: 0xcc });
    // refA, refC | Inner scalars (refB) | B | C
    expect(toHex(bytes)).toBe('00000200' + '04000200' + '08000200' + 'bb000000' + 'cc000000');
    expect(decodeExact(Outer, bytes)).toEqual({ a: { b: 0xbb }, c: 0xcc });
  });

  it('writes a top-level parameter complete before the next one starts', () => {
    const t = params('p', { x: unique(u32), y: unique(u32) });
    expect(toHex(encode(t, { x: 1, y: 2 }))).toBe('00000200' + '01000000' + '04000200' + '02000000');
  });

  it('encodes NULL as referent 0 with no pointee', () => {
    expect(toHex(encode(Outer, { a: null, c: null }))).toBe('00000000' + '00000000');
  });

  it('sends a full pointer object once and repeats its referent id', () => {
    const shared = { v: 7 };
    const Box = struct('Box', { v: u32 });
    const T = struct('T', { p: full(Box), q: full(Box) });
    const bytes = encode(T, { p: shared, q: shared });
    expect(toHex(bytes)).toBe('00000200' + '00000200' + '07000000');
    const back = decodeExact(T, bytes);
    expect(back.p).toEqual({ v: 7 });
    expect(back.q).toBe(back.p);
  });
});

describe('arrays and conformance', () => {
  it('hoists the max_count of a conformant last member to the front of the struct', () => {
    const S = struct('S', { n: u16, items: conformantArray(u32) });
    const bytes = encode(S, { n: 2, items: [1, 2] });
    expect(toHex(bytes)).toBe('02000000' + '0200' + '0000' + '01000000' + '02000000');
    expect(decodeExact(S, bytes)).toEqual({ n: 2, items: [1, 2] });
  });

  it('keeps an inline conformant array (pidl style) in place', () => {
    const S = struct('S', { n: u32, items: conformantArray(u16, { inline: true }), tail: u32 });
    const bytes = encode(S, { n: 1, items: [5], tail: 9 });
    expect(toHex(bytes)).toBe('01000000' + '01000000' + '0500' + '0000' + '09000000');
    expect(decodeExact(S, bytes)).toEqual({ n: 1, items: [5], tail: 9 });
  });

  it('encodes varying and conformant-varying arrays', () => {
    expect(toHex(encode(varyingArray(u16, 4), [7]))).toBe('00000000' + '01000000' + '0700');
    expect(toHex(encode(conformantVaryingArray(u16), [7, 8]))).toBe('02000000' + '00000000' + '02000000' + '07000800');
    expect(toHex(encode(fixedArray(u8, 3), [1, 2, 3]))).toBe('010203');
  });

  it('rejects a count the input cannot hold before allocating anything', () => {
    const e = errorOf(() => decode(conformantArray(u32), hex('ffffff0f')));
    expect(['ARRAY_SIZE', 'ALLOC']).toContain(e.code);
    expect(e.offset).toBe(4);
  });

  it('rejects a varying array with a non-zero offset or actual > max', () => {
    expect(errorOf(() => decode(conformantVaryingArray(u8), hex('02000000 01000000 01000000 00'))).code).toBe('ARRAY_SIZE');
    expect(errorOf(() => decode(conformantVaryingArray(u8), hex('01000000 00000000 02000000 0000'))).code).toBe('ARRAY_SIZE');
  });
});

describe('strings, with the rules Samba applies', () => {
  it('encodes UTF-16 with the terminator counted', () => {
    expect(toHex(encode(wstring, 'ab'))).toBe('03000000' + '00000000' + '03000000' + '610062000000');
  });
  it('encodes UTF-8 and DOS strings', () => {
    expect(toHex(encode(cvString('utf8'), 'é'))).toBe('03000000' + '00000000' + '03000000' + 'c3a900');
    expect(toHex(encode(cvString('dos'), 'ab'))).toBe('03000000' + '00000000' + '03000000' + '616200');
  });
  it('accepts max_count > actual_count', () => {
    expect(decodeExact(wstring, hex('05000000 00000000 02000000 6100 0000'))).toBe('a');
  });
  const bad: [string, string, string][] = [
    ['non-zero offset', '02000000 01000000 02000000 6100 0000', 'ARRAY_SIZE'],
    ['actual > max', '01000000 00000000 02000000 6100 0000', 'ARRAY_SIZE'],
    ['empty (no terminator)', '00000000 00000000 00000000', 'STRING'],
    ['last unit not NUL', '02000000 00000000 02000000 6100 6200', 'STRING'],
    ['truncated', '02000000 00000000 02000000 6100', 'ARRAY_SIZE'],
    ['stub ending mid-unit', '02000000 00000000 02000000 6100 00', 'ARRAY_SIZE'],
    ['lone high surrogate', '02000000 00000000 02000000 00d8 0000', 'STRING'],
    ['lone low surrogate', '02000000 00000000 02000000 00dc 0000', 'STRING'],
  ];
  it.each(bad)('rejects %s', (_n, bytes, code) => {
    expect(errorOf(() => decode(wstring, hex(bytes))).code).toBe(code);
  });
  it('keeps a surrogate pair', () => {
    expect(decodeExact(wstring, encode(wstring, '\u{1F600}'))).toBe('\u{1F600}');
  });
  it('stops the text at an embedded NUL, as Samba does', () => {
    expect(decodeExact(wstring, hex('04000000 00000000 04000000 6100 0000 6200 0000'))).toBe('a');
  });
  it('reports the field path of a failure', () => {
    const P = params('P', { Id: guid, ShareName: wstring });
    const bytes = encode(P, { Id: '00000000-0000-0000-0000-000000000001', ShareName: 'x' });
    const e = errorOf(() => decode(P, bytes.subarray(0, bytes.length - 1)));
    expect(e.path).toContain('ShareName');
    expect(e.message).toContain('ShareName');
  });
});

describe('byte order', () => {
  it('honours big-endian for integers, GUID fields and UTF-16', () => {
    const P = params('P', { a: u32, g: guid, s: wstring });
    const v = { a: 1, g: 'a8e0653c-2744-4389-a61d-7373df8b2292', s: 'A' };
    const be = encode(P, v, { littleEndian: false });
    expect(toHex(be)).toBe('00000001' + 'a8e0653c27444389a61d7373df8b2292' + '00000002000000000000000200410000');
    expect(decodeExact(P, be, { littleEndian: false })).toEqual(v);
  });
});

describe('unions and bounds', () => {
  it('fails with BAD_SWITCH for an undeclared arm when there is no default', () => {
    const U = union('U', { 1: u32 }, { defaultArm: false });
    expect(errorOf(() => decode(U, hex('02000000'))).code).toBe('BAD_SWITCH');
    expect(decodeExact(U, hex('01000000 05000000'))).toEqual({ tag: 1, value: 5 });
  });

  it('bounds nesting depth', () => {
    let t: NdrType<unknown> = u32 as NdrType<unknown>;
    for (let i = 0; i < 80; i++) t = unique(struct(`L${i}`, { next: t })) as NdrType<unknown>;
    const bytes = new Uint8Array(4 * 82).fill(0);
    for (let i = 0; i < 80; i++) bytes.set([0, 0, 2, 0], 4 * i);
    expect(errorOf(() => decode(t, bytes)).code).toBe('MAX_DEPTH');
  });

  it('prints a readable tree', () => {
    const S = struct('S', { id: u32, name: unique(wstring) });
    expect(print(S, { id: 3, name: 'x' })).toBe('S: \n  id: 3\n  name: "x"');
  });
});
