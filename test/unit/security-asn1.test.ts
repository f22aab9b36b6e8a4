import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Asn1Error, any, application, bigInteger, bitString, boolean, choice, decode, encode, enumerated, explicit,
  generalString, generalizedTime, ia5, implicit, int32, integer, kerberosFlags, nullType, octetString, oid,
  optional, seq, seqOf, uint32, utf8, withDer, type Asn1Type, type Infer,
} from '../../src/security/asn1/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

function decodeError(t: Asn1Type<unknown>, b: Uint8Array): Asn1Error {
  try {
    decode(t, b);
  } catch (e) {
    expect(e).toBeInstanceOf(Asn1Error);
    return e as Asn1Error;
  }
  throw new Error(`decoded ${hex(b)}`);
}

describe('DER primitives: hand-checked encodings (X.690 8.3, 8.19, 10.1)', () => {
  it.each([
    [0, '020100'], [127, '02017f'], [128, '02020080'], [256, '02020100'], [-128, '020180'], [-129, '0202ff7f'],
    [0x7fffffff, '02047fffffff'], [-0x80000000, '020480000000'],
  ])('INTEGER %d', (n, h) => {
    expect(hex(encode(integer(), n))).toBe(h);
    expect(decode(integer(), bytes(h))).toBe(n);
  });
  it('UInt32 0xffffffff takes five octets; Int32 refuses it', () => {
    expect(hex(encode(uint32(), 0xffffffff))).toBe('020500ffffffff');
    expect(decodeError(int32(), bytes('020500ffffffff')).code).toBe('RANGE');
    expect(() => encode(int32(), 0x80000000)).toThrow(Asn1Error);
  });
  it('bigint INTEGER beyond 2^53', () => {
    expect(hex(encode(bigInteger(), 2n ** 64n))).toBe('0209010000000000000000');
    expect(decode(bigInteger(), bytes('0209010000000000000000'))).toBe(2n ** 64n);
    expect(decodeError(integer(), bytes('0209010000000000000000')).code).toBe('RANGE');
  });
  it.each([
    ['1.2.840.113549', '06062a864886f70d'],
    ['1.3.6.1.5.5.2', '06062b0601050502'],
    ['1.2.840.113554.1.2.2', '06092a864886f712010202'],
    ['1.2.840.48018.1.2.2', '06092a864882f712010202'],
    ['1.3.6.1.4.1.311.2.2.10', '060a2b06010401823702020a'],
    ['2.999.3', '0603883703'],
  ])('OID %s', (o, h) => {
    expect(hex(encode(oid(), o))).toBe(h);
    expect(decode(oid(), bytes(h))).toBe(o);
  });
  it('BOOLEAN, NULL, ENUMERATED, strings', () => {
    expect(hex(encode(boolean(), true))).toBe('0101ff');
    expect(decodeError(boolean(), bytes('010101')).code).toBe('NON_DER');
    expect(hex(encode(nullType(), null))).toBe('0500');
    expect(hex(encode(enumerated(), 3))).toBe('0a0103');
    expect(hex(encode(generalString(), 'EXAMPLE.COM'))).toBe('1b0b4558414d504c452e434f4d');
    expect(hex(encode(ia5(), 'a'))).toBe('160161');
    expect(hex(encode(utf8(), 'é'))).toBe('0c02c3a9');
    expect(decodeError(ia5(), bytes('160180')).code).toBe('CONTENT');
    expect(decodeError(utf8(), bytes('0c01ff')).code).toBe('CONTENT');
    // A leading BOM is content, kept: decoding then encoding gives the same bytes.
    expect(hex(encode(utf8(), decode(utf8(), bytes('0c04efbbbf41'))))).toBe('0c04efbbbf41');
  });
  it('KerberosTime and KerberosFlags (RFC 4120 5.2.3, 5.2.8)', () => {
    const t = new Date(Date.UTC(2026, 11, 6, 14, 26, 5));
    expect(Buffer.from(encode(generalizedTime(), t)).subarray(2).toString()).toBe('20261206142605Z');
    expect(decode(generalizedTime(), encode(generalizedTime(), t)).getTime()).toBe(t.getTime());
    expect(decodeError(generalizedTime(), new Uint8Array([0x18, 15, ...Buffer.from('20260231000000Z')])).code).toBe('CONTENT');
    expect(decodeError(generalizedTime(), new Uint8Array([0x18, 17, ...Buffer.from('20260201000000.5Z')])).code).toBe('CONTENT');
    expect(hex(encode(kerberosFlags(), 0x40810010))).toBe('03050040810010');
    expect(decode(kerberosFlags(), bytes('03050040810010'))).toBe(0x40810010);
    expect(hex(encode(bitString(), { bytes: bytes('6e5d c0'), unusedBits: 6 }))).toBe('0304066e5dc0'); // X.690 8.6.4.2
    expect(decodeError(bitString(), bytes('0304066e5dc1')).code).toBe('NON_DER');
    expect(decodeError(kerberosFlags(), bytes('0304004081 00'.replace(' ', ''))).code).toBe('NON_DER');
    expect(decodeError(kerberosFlags(), bytes('030501408100 10'.replace(' ', ''))).code).toBe('NON_DER');
  });
  it('lengths: long form, DER minimality, indefinite refused, bounds checked', () => {
    const big = new Uint8Array(300).fill(7);
    const enc = encode(octetString(), big);
    expect(hex(enc.subarray(0, 4))).toBe('0482012c');
    expect(decode(octetString(), enc)).toEqual(big);
    expect(decodeError(octetString(), bytes('048105' + '00'.repeat(5))).code).toBe('NON_DER');
    expect(decodeError(octetString(), bytes('0480000000')).code).toBe('INDEFINITE');
    expect(decodeError(octetString(), bytes('0405aabb')).code).toBe('TRUNCATED');
    expect(decodeError(octetString(), bytes('0484ffffffff00')).code).toBe('TRUNCATED');
    expect(decodeError(octetString(), bytes('0401aabb')).code).toBe('TRAILING');
    expect(decodeError(integer(), bytes('02020001')).code).toBe('NON_DER');
  });
});

const ticketish = application(1, seq({
  tktVno: explicit(0, integer()),
  realm: explicit(1, generalString()),
  names: explicit(2, seqOf(generalString())),
  flags: optional(explicit(3, kerberosFlags())),
  when: optional(explicit(4, generalizedTime())),
  raw: optional(explicit(5, any())),
  pick: optional(explicit(6, choice({ n: integer(), s: octetString(), b: implicit(0, boolean()) }))),
}, 'Ticketish'));
type Ticketish = Infer<typeof ticketish>;

describe('constructed types', () => {
  const v: Ticketish = { tktVno: 5, realm: 'EXAMPLE.COM', names: ['host', 'srv'], flags: 0x40000000, raw: bytes('0500'), pick: { type: 'b', value: true } };
  it('SEQUENCE with [APPLICATION 1], EXPLICIT tags, OPTIONAL, CHOICE with an IMPLICIT alternative', () => {
    const enc = encode(ticketish, v);
    expect(enc[0]).toBe(0x61);
    expect(decode(ticketish, enc)).toEqual(v);
    const min = encode(ticketish, { tktVno: 5, realm: 'R', names: [] });
    expect(hex(min)).toBe('6110300ea003020105a1031b0152a2023000');
  });
  it('errors carry the field path and offset', () => {
    const enc = encode(ticketish, v);
    const bad = Uint8Array.from(enc);
    const at = hex(bad).indexOf('1b04686f7374') / 2; // "host"
    bad[at + 2] = 0xff;
    const e = decodeError(ticketish, bad);
    expect(e.code).toBe('CONTENT');
    expect(e.path).toBe('names.[0]');
    expect(e.offset).toBe(at + 2);
    expect(decodeError(ticketish, bytes('6105 3003 a10100')).code).toBe('MISSING');
  });
  it('withDer keeps the exact bytes of a sub-element', () => {
    const t = seq({ a: explicit(0, withDer(seqOf(oid()))) });
    const enc = encode(t, { a: { value: ['1.3.6.1.5.5.2'] } });
    const d = decode(t, enc);
    expect(hex(d.a.der!)).toBe('300806062b0601050502');
    expect(d.a.value).toEqual(['1.3.6.1.5.5.2']);
  });
  it('nesting depth is bounded', () => {
    let nested: Asn1Type<unknown> = integer();
    for (let i = 0; i < 40; i++) nested = explicit(0, nested);
    const enc = encode(nested, 1);
    expect(decodeError(nested, enc).code).toBe('MAX_DEPTH');
    expect(decode(nested, enc, { maxDepth: 64 })).toBe(1);
  });
});

describe('properties', () => {
  const arbV: fc.Arbitrary<Ticketish> = fc.record({
    tktVno: fc.maxSafeInteger(),
    realm: fc.string(),
    names: fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
    flags: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
    when: fc.option(fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000)), { nil: undefined }),
    raw: fc.option(fc.uint8Array({ maxLength: 20 }).map((b) => encode(octetString(), b)), { nil: undefined }),
    pick: fc.option(fc.oneof(
      fc.maxSafeInteger().map((n) => ({ type: 'n' as const, value: n })),
      fc.uint8Array({ maxLength: 10 }).map((b) => ({ type: 's' as const, value: b })),
      fc.boolean().map((b) => ({ type: 'b' as const, value: b })),
    ), { nil: undefined }),
  }, { requiredKeys: ['tktVno', 'realm', 'names'] }) as fc.Arbitrary<Ticketish>;

  it('decode(encode(v)) = v and encode(decode(b)) = b', () => {
    fc.assert(fc.property(arbV, (v) => {
      const enc = encode(ticketish, v);
      const d = decode(ticketish, enc);
      expect(d).toEqual(v);
      expect(hex(encode(ticketish, d))).toBe(hex(enc));
    }), { numRuns: 300 });
  });
  it('totality: random and mutated bytes give a value or an Asn1Error, and what decodes re-encodes to the same DER', () => {
    const mutated = fc.tuple(arbV, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat())
      .map(([v, muts, cut]) => {
        const b = Uint8Array.from(encode(ticketish, v));
        for (const [i, x] of muts) b[i % b.length] = x;
        return cut % 5 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
      });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated), (b) => {
      let d: Ticketish;
      try {
        d = decode(ticketish, b);
      } catch (e) {
        expect(e).toBeInstanceOf(Asn1Error);
        return;
      }
      expect(hex(encode(ticketish, d))).toBe(hex(b));
    }), { numRuns: 2000 });
  });
});
