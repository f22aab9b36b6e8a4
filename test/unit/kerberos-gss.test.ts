import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  KerberosCryptoError, dceSignatureSize, getEnctype, getMic, newMessageContext, unwrap, unwrapDce, unwrapDceChecked, verifyMic, wrap, wrapDce,
  type KrbMessageContext,
} from '../../src/security/kerberos/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ETYPES = [[17, 16], [18, 32], [23, 16]] as const;

/** An acceptor and an initiator context over one key, sequence numbers crossed. */
function pair(etype: number, size: number, headerSigning = false): [KrbMessageContext, KrbMessageContext] {
  const key = new Uint8Array(size).map((_, i) => i * 7 + etype);
  const acc = newMessageContext({ etype, key, isAcceptor: true, acceptorSubkey: true, headerSigning, sendSeq: 1000, recvSeq: 77 });
  const ini = newMessageContext({ etype, key, isAcceptor: false, acceptorSubkey: true, headerSigning, sendSeq: 77, recvSeq: 1000 });
  return [acc, ini];
}

/** A fake DCE/RPC request PDU: 24-byte header, payload, 8-byte sec_trailer, then room for the signature. */
function pdu(payload: Uint8Array, sigSize: number): { pdu: Uint8Array; payloadOffset: number; payloadLength: number; signedLength: number } {
  const b = new Uint8Array(24 + payload.length + 8 + sigSize);
  b.set([5, 0, 0, 3, 0x10, 0, 0, 0]);
  b.set(payload, 24);
  b.set([0x10, 6, 0, 0, 1, 0, 0, 0], 24 + payload.length);
  return { pdu: b, payloadOffset: 24, payloadLength: payload.length, signedLength: 24 + payload.length + 8 };
}

describe.each(ETYPES)('GSS tokens for etype %i', (etype, size) => {
  it('MIC: verifies once, in order; refuses tampering, replay, reflection', () => {
    const [acc, ini] = pair(etype, size);
    const data = new Uint8Array(Buffer.from('mechListMIC input'));
    const mic = getMic(ini, data);
    expect(mic.length).toBe(etype === 23 ? 37 : 28);
    const bad = Uint8Array.from(data); bad[0]! ^= 1;
    expect(verifyMic(acc, bad, mic)?.code).toBe('integrity');
    expect(verifyMic(acc, data, mic)).toBeUndefined();
    expect(verifyMic(acc, data, mic)?.code).toBe('sequence');
    const own = getMic(acc, data);
    expect(verifyMic(acc, data, own)).toBeInstanceOf(KerberosCryptoError);
    expect(verifyMic(ini, data, own)).toBeUndefined();
  });

  it('Wrap / Unwrap with and without confidentiality, both directions', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), fc.boolean(), (data, conf) => {
      const [acc, ini] = pair(etype, size);
      const t = wrap(ini, data, conf);
      const u = unwrap(acc, t);
      expect(u).not.toBeInstanceOf(KerberosCryptoError);
      expect(hex((u as { data: Uint8Array }).data)).toBe(hex(data));
      expect((u as { confidential: boolean }).confidential).toBe(conf);
      const back = unwrap(ini, wrap(acc, data, conf));
      expect(hex((back as { data: Uint8Array }).data)).toBe(hex(data));
      const [acc2, ini2] = pair(etype, size);
      const t2 = wrap(ini2, data, conf);
      // Any byte but RRC (AES bytes 6-7): a rotation count is taken modulo the body length, as
      // MIT and Heimdal take it, so a flip that adds a multiple of that length changes nothing.
      const i = fc.sample(fc.integer({ min: 0, max: t2.length - 1 }).filter((n) => etype === 23 || (n !== 6 && n !== 7)), 1)[0]!;
      t2[i]! ^= 0x40;
      expect(unwrap(acc2, t2)).toBeInstanceOf(KerberosCryptoError);
    }), { numRuns: 40 });
  });

  it('unwrap and verifyMic of arbitrary bytes give a value or a KerberosCryptoError, never a throw', () => {
    const [acc] = pair(etype, size);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (junk) => {
      const u = unwrap(acc, junk);
      expect(u instanceof KerberosCryptoError || u.data instanceof Uint8Array).toBe(true);
      const m = verifyMic(acc, junk, junk);
      expect(m === undefined || m instanceof KerberosCryptoError).toBe(true);
    }), { numRuns: 300 });
  });

  for (const headerSigning of [false, true]) {
    it(`DCE privacy and integrity, header signing ${headerSigning}: round trip, sizes, tampering refused`, () => {
      const [acc, ini] = pair(etype, size, headerSigning);
      expect(dceSignatureSize(acc, 6)).toBe(etype === 23 ? 45 : 76);
      expect(dceSignatureSize(acc, 5)).toBe(etype === 23 ? 37 : 28);
      expect(dceSignatureSize(acc, 4)).toBe(etype === 23 ? 37 : 28);
      expect(dceSignatureSize(acc, 2)).toBe(0);
      for (const level of [6, 5, 4]) {
        for (const len of [0, 1, 16, 31, 32, 200]) {
          const payload = new Uint8Array(len).map((_, i) => (i * 13) & 0xff);
          const p = { authLevel: level, ...pdu(payload, dceSignatureSize(ini, level)) };
          const sig = wrapDce(ini, p);
          expect(sig.length).toBe(dceSignatureSize(ini, level));
          // sealed in place (a 1-byte payload may encrypt to itself by chance, so only longer ones are compared)
          if (level === 6 && len >= 16) expect(hex(p.pdu.subarray(24, 24 + len))).not.toBe(hex(payload));
          // A copy with one bit flipped in the payload, the header or the trailer, or the signature.
          const flips = [24 + (len >> 1), 2, p.signedLength - 3, -1];
          for (const at of flips) {
            if (at === 24 + (len >> 1) && len === 0) continue;
            const copy = { ...p, pdu: Uint8Array.from(p.pdu), signature: Uint8Array.from(sig) };
            if (at >= 0) copy.pdu[at]! ^= 1; else copy.signature[copy.signature.length - 5]! ^= 1;
            const coversIt = at < 0 || (at >= 24 && at < 24 + len) || headerSigning;
            const before = hex(copy.pdu);
            const r = unwrapDceChecked(acc, copy);
            expect(r === undefined, `level ${level} len ${len} flip ${at}`).toBe(!coversIt);
            if (r === undefined) acc.recvSeq--; // undo the accepted one so the real PDU still matches
            else expect(hex(copy.pdu)).toBe(before); // refused: payload not touched
          }
          expect(unwrapDce(acc, { ...p, signature: sig })).toBe(true);
          expect(hex(p.pdu.subarray(24, 24 + len))).toBe(hex(payload));
          expect(unwrapDce(acc, { ...p, signature: sig })).toBe(false);
        }
      }
    });
  }
});

describe('direction and subkey checks', () => {
  it('refuses an AES token whose AcceptorSubkey flag differs from the context', () => {
    const key = new Uint8Array(32).fill(9);
    const ini = newMessageContext({ etype: 18, key, isAcceptor: false, acceptorSubkey: false, sendSeq: 0, recvSeq: 0 });
    const acc = newMessageContext({ etype: 18, key, isAcceptor: true, acceptorSubkey: true, sendSeq: 0, recvSeq: 0 });
    expect(verifyMic(acc, new Uint8Array(4), getMic(ini, new Uint8Array(4)))?.code).toBe('token');
  });
  it('refuses contexts with an unknown etype or a wrong key size', () => {
    expect(() => newMessageContext({ etype: 16, key: new Uint8Array(24), isAcceptor: true, sendSeq: 0, recvSeq: 0 })).toThrow(KerberosCryptoError);
    expect(() => newMessageContext({ etype: 18, key: new Uint8Array(16), isAcceptor: true, sendSeq: 0, recvSeq: 0 })).toThrow(KerberosCryptoError);
  });
});

describe('DCE/RPC token layout', () => {
  it('AES: 05 04, flags SentByAcceptor|Sealed|AcceptorSubkey, EC 16, RRC 28; unrotating by RRC+EC gives an RFC 3961 ciphertext of confounder | data | filler | header', () => {
    const [acc] = pair(18, 32);
    const payload = new Uint8Array(48).map((_, i) => i);
    const p = { authLevel: 6, ...pdu(payload, 76) };
    const sig = wrapDce(acc, p);
    expect(hex(sig.subarray(0, 8))).toBe('050407ff0010001c');
    expect(hex(sig.subarray(8, 16))).toBe('00000000000003e8');
    const logical = Buffer.concat([sig.subarray(16), p.pdu.subarray(24, 24 + 48)]);
    const k = 28 + 16;
    const unrotated = Buffer.concat([logical.subarray(k), logical.subarray(0, k)]);
    const plain = getEnctype(18)!.decrypt(acc.key, 22, unrotated) as Uint8Array;
    expect(hex(plain)).toBe(hex(payload) + 'ff'.repeat(16) + '050407ff00100000' + '00000000000003e8');
  });
  it('RC4: the 45-byte header is 60 2b 06 09 <krb5 OID> 02 01 11 00 10 00 ff ff ...', () => {
    const [acc] = pair(23, 16);
    const sig = wrapDce(acc, { authLevel: 6, ...pdu(new Uint8Array(32), 45) });
    expect(hex(sig.subarray(0, 21))).toBe('602b06092a864886f71201020202011100' + '1000ffff');
    const mic = wrapDce(acc, { authLevel: 5, ...pdu(new Uint8Array(32), 37) });
    expect(hex(mic.subarray(0, 21))).toBe('602306092a864886f71201020201011100' + 'ffffffff');
  });
  it.each(ETYPES)('etype %i: unwrapDce of random signatures and PDUs is false, never a throw, and leaves the PDU alone', (etype, size) => {
    const [acc] = pair(etype, size, true);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 90 }), fc.uint8Array({ minLength: 40, maxLength: 90 }), fc.constantFrom(4, 5, 6), (sig, bytes, level) => {
      const before = hex(bytes);
      expect(unwrapDce(acc, { authLevel: level, pdu: bytes, payloadOffset: 24, payloadLength: bytes.length - 32, signedLength: bytes.length - 8 + 8, signature: sig })).toBe(false);
      expect(hex(bytes)).toBe(before);
    }), { numRuns: 300 });
    expect(unwrapDce(acc, { authLevel: 6, pdu: new Uint8Array(10), payloadOffset: 8, payloadLength: 8, signedLength: 10, signature: new Uint8Array(76) })).toBe(false);
  });
});
