import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { frameMessages, MAX_MESSAGE, MessageDeframer } from '../../src/transport/npa-framing.js';

describe('message-mode framing', () => {
  it('frames a PDU as one little-endian u16 length and the bytes', () => {
    const [m, ...more] = frameMessages(Uint8Array.of(5, 0, 11, 3));
    expect(more).toHaveLength(0);
    expect([...m!]).toEqual([4, 0, 5, 0, 11, 3]);
  });

  it('splits a PDU larger than 65535 bytes into several messages', () => {
    const big = Buffer.alloc(MAX_MESSAGE * 2 + 10);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const msgs = frameMessages(big);
    expect(msgs.map((m) => m.readUInt16LE(0))).toEqual([MAX_MESSAGE, MAX_MESSAGE, 10]);
    expect(Buffer.concat(msgs.map((m) => m.subarray(2))).equals(big)).toBe(true);
  });

  it('reassembles messages from any split of the byte stream', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.nat(50), { maxLength: 30 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(payloads.flatMap((p) => frameMessages(p)));
        const d = new MessageDeframer();
        const got: Buffer[] = [];
        let at = 0;
        for (const c of cuts) {
          got.push(...d.push(stream.subarray(at, Math.min(stream.length, at + c))));
          at = Math.min(stream.length, at + c);
        }
        got.push(...d.push(stream.subarray(at)));
        expect(got.map((b) => Buffer.from(b).toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
        expect(d.buffered).toBe(0);
      },
    ), { numRuns: 300 });
  });

  it('holds back an incomplete message', () => {
    const d = new MessageDeframer();
    expect(d.push(Uint8Array.of(3, 0, 1))).toEqual([]);
    expect(d.buffered).toBe(3);
    expect(d.push(Uint8Array.of(2, 3, 9)).map((b) => [...b])).toEqual([[1, 2, 3]]);
    expect(d.buffered).toBe(1);
  });
});
