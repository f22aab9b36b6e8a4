import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeytabError, findKeytabEntry, parseKeytab } from '../../src/security/kerberos/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A test-side keytab writer (the layout of MIT's keytab_file_format). */
function entry(o: { v?: 1 | 2; comps: string[]; realm: string; nt?: number; ts?: number; kvno8: number; etype: number; key: Uint8Array; kvno32?: number }): Buffer {
  const le = o.v === 1;
  const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); if (le) b.writeUInt16LE(n); else b.writeUInt16BE(n); return b; };
  const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); if (le) b.writeUInt32LE(n); else b.writeUInt32BE(n); return b; };
  const str = (s: string | Uint8Array): Buffer => { const b = Buffer.from(s as string); return Buffer.concat([u16(b.length), b]); };
  const body = Buffer.concat([
    u16(o.comps.length + (le ? 1 : 0)), str(o.realm), ...o.comps.map(str), le ? Buffer.alloc(0) : u32(o.nt ?? 1),
    u32(o.ts ?? 1700000000), Buffer.from([o.kvno8]), u16(o.etype), str(o.key), o.kvno32 === undefined ? Buffer.alloc(0) : u32(o.kvno32),
  ]);
  const size = Buffer.alloc(4);
  if (le) size.writeInt32LE(body.length); else size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}
const hole = (n: number): Buffer => { const b = Buffer.alloc(4 + n); b.writeInt32BE(-n); return b; };
const key16 = new Uint8Array(16).fill(0xab);
const key32 = new Uint8Array(32).fill(0xcd);

describe('keytab decoder', () => {
  it('reads version 0x0502 entries, skips holes, takes the 32-bit kvno when present and non-zero', () => {
    const file = Buffer.concat([
      Buffer.from([5, 2]),
      entry({ comps: ['host', 'fsrvp.example.com'], realm: 'EXAMPLE.COM', nt: 3, kvno8: 2, etype: 18, key: key32 }),
      hole(7),
      entry({ comps: ['host', 'fsrvp.example.com'], realm: 'EXAMPLE.COM', nt: 3, kvno8: 300 & 0xff, etype: 18, key: key32.map((x) => x ^ 1), kvno32: 300 }),
      entry({ comps: ['FSRVP$'], realm: 'EXAMPLE.COM', kvno8: 5, etype: 23, key: key16, kvno32: 0 }),
    ]);
    const kt = parseKeytab(file);
    expect(kt.version).toBe(2);
    expect(kt.entries.map((e) => [e.principal.components.join('/'), e.principal.nameType, e.kvno, e.etype])).toEqual([
      ['host/fsrvp.example.com', 3, 2, 18], ['host/fsrvp.example.com', 3, 300, 18], ['FSRVP$', 1, 5, 23],
    ]);
    const q = { components: ['host', 'fsrvp.example.com'], realm: 'EXAMPLE.COM', etype: 18 };
    expect(findKeytabEntry(kt, q)?.kvno).toBe(300);
    expect(hex(findKeytabEntry(kt, { ...q, kvno: 2 })!.key)).toBe(hex(key32));
    expect(findKeytabEntry(kt, { ...q, kvno: 4 })).toBeUndefined();
    expect(findKeytabEntry(kt, { ...q, etype: 17 })).toBeUndefined();
    expect(findKeytabEntry(kt, { ...q, realm: 'example.com' })).toBeUndefined();
    expect(findKeytabEntry(kt, { components: ['FSRVP$'], realm: 'EXAMPLE.COM', etype: 23 })?.timestamp).toBe(1700000000);
    // kvno 261 = 0x105: the FSRVP$ entry has kvno 5 and no 32-bit kvno, so its low 8 bits match.
    expect(findKeytabEntry(kt, { components: ['FSRVP$'], realm: 'EXAMPLE.COM', etype: 23, kvno: 261 })?.kvno).toBe(5);
    expect(findKeytabEntry(kt, { components: ['FSRVP$'], realm: 'EXAMPLE.COM', etype: 23, kvno: 6 })).toBeUndefined();
  });

  it('reads version 0x0501 (little-endian, realm counted among the components, no name type)', () => {
    const kt = parseKeytab(Buffer.concat([Buffer.from([5, 1]), entry({ v: 1, comps: ['cifs', 'srv'], realm: 'R.TEST', kvno8: 9, etype: 17, key: key16 })]));
    expect(kt.version).toBe(1);
    expect(kt.entries[0]).toMatchObject({ principal: { components: ['cifs', 'srv'], realm: 'R.TEST', nameType: 1 }, kvno: 9, etype: 17 });
  });

  it('a zero size ends the file; an empty keytab has no entries', () => {
    expect(parseKeytab(Buffer.from([5, 2])).entries).toEqual([]);
    expect(parseKeytab(Buffer.from([5, 2, 0, 0, 0, 0, 0xff, 0xff])).entries).toEqual([]);
  });

  it('refuses bad versions, truncated records and entries that overrun their record, with offsets', () => {
    const good = entry({ comps: ['a'], realm: 'R', kvno8: 1, etype: 17, key: key16 });
    const cases: Array<[Uint8Array, number]> = [
      [Buffer.from([5]), 0],
      [Buffer.from([5, 3]), 0],
      [Buffer.from([4, 2]), 0],
      [Buffer.concat([Buffer.from([5, 2]), good.subarray(0, good.length - 1)]), 2],
      [Buffer.from([5, 2, 0, 0]), 2],
      [Buffer.from([5, 2, 0x7f, 0xff, 0xff, 0xff]), 2],
      [Buffer.from([5, 2, 0xff, 0xff, 0xff, 0x00, 1]), 2],
      [Buffer.from([5, 2, 0, 0, 0, 3, 0, 1, 0]), 8],
      [Buffer.from([5, 1, 3, 0, 0, 0, 0, 0, 0]), 6],
    ];
    for (const [bytes, offset] of cases) {
      let err: unknown;
      try { parseKeytab(bytes); } catch (e) { err = e; }
      expect(err, hex(bytes)).toBeInstanceOf(KeytabError);
      expect((err as KeytabError).offset, hex(bytes)).toBe(offset);
    }
  });

  it('reads back any keytab the writer above produces (both versions, holes between entries)', () => {
    const name = fc.string({ unit: fc.constantFrom('a', 'B', '/', '$', '.', '-', '9'), minLength: 1, maxLength: 12 });
    const ent = fc.record({
      comps: fc.array(name, { minLength: 1, maxLength: 3 }), realm: name, nt: fc.integer({ min: 0, max: 10 }), ts: fc.integer({ min: 0, max: 0xffffffff }),
      kvno: fc.integer({ min: 1, max: 0xffffffff }), etype: fc.constantFrom(17, 18, 23), key: fc.uint8Array({ maxLength: 32 }), gap: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(fc.property(fc.array(ent, { maxLength: 6 }), fc.constantFrom(1 as const, 2 as const), (ents, v) => {
      const parts: Buffer[] = [Buffer.from([5, v])];
      for (const e of ents) {
        parts.push(entry({ v, comps: e.comps, realm: e.realm, nt: e.nt, ts: e.ts, kvno8: e.kvno & 0xff, etype: e.etype, key: e.key, kvno32: e.kvno }));
        if (e.gap > 0 && v === 2) parts.push(hole(e.gap));
      }
      const kt = parseKeytab(Buffer.concat(parts));
      expect(kt.entries.map((x) => [x.principal.components, x.principal.realm, x.principal.nameType, x.timestamp, x.kvno, x.etype, hex(x.key)]))
        .toEqual(ents.map((e) => [e.comps, e.realm, v === 2 ? e.nt : 1, e.ts, e.kvno, e.etype, hex(e.key)]));
    }), { numRuns: 300 });
  });

  it('is total: any bytes give a Keytab or a KeytabError, never more entries than the file could hold', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, v1) => {
      const bytes = Buffer.concat([Buffer.from([5, v1 ? 1 : 2]), tail]);
      try {
        const kt = parseKeytab(bytes);
        expect(kt.entries.length).toBeLessThanOrEqual(bytes.length / 4);
      } catch (e) {
        expect(e).toBeInstanceOf(KeytabError);
      }
    }), { numRuns: 2000 });
  });
});
