import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  KerberosCryptoError, aes128CtsHmacSha196, aes256CtsHmacSha196, ctsDecrypt, ctsEncrypt, defaultSalt, getEnctype, nfold, rc4Hmac,
} from '../../src/security/kerberos/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

describe('n-fold (RFC 3961 appendix A.1)', () => {
  const vectors: Array<[number, string, string]> = [
    [64, '012345', 'be072631276b1955'],
    [56, 'password', '78a07b6caf85fa'],
    [64, 'Rough Consensus, and Running Code', 'bb6ed30870b7f0e0'],
    [168, 'password', '59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e'],
    [192, 'MASSACHVSETTS INSTITVTE OF TECHNOLOGY', 'db3b0d8f0b061e603282b308a50841229ad798fab9540c1b'],
    [168, 'Q', '518a54a215a8452a518a54a215a8452a518a54a215'],
    [168, 'ba', 'fb25d531ae8974499f52fd92ea9857c4ba24cf297e'],
    [64, 'kerberos', '6b65726265726f73'],
    [128, 'kerberos', '6b65726265726f737b9b5b2b93132b93'],
    [168, 'kerberos', '8372c236344e5f1550cd0747e15d62ca7a5a3bcea4'],
    [256, 'kerberos', '6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4'],
  ];
  it.each(vectors)('%i-fold(%j)', (bits, input, out) => expect(hex(nfold(ascii(input), bits / 8))).toBe(out));
});

describe('AES string-to-key (RFC 3962 appendix B; the AES key is DK(PBKDF2 output, "kerberos"))', () => {
  const iter = (n: number): Uint8Array => unhex(n.toString(16).padStart(8, '0'));
  const raeburn = 'ATHENA.MIT.EDUraeburn';
  const vectors: Array<[string, string | Uint8Array, string | Uint8Array, number, string, string]> = [
    ['count 1', 'password', raeburn, 1, '42263c6e89f4fc28b8df68ee09799f15', 'fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161'],
    ['count 2', 'password', raeburn, 2, 'c651bf29e2300ac27fa469d693bdda13', 'a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff'],
    ['count 1200', 'password', raeburn, 1200, '4c01cd46d632d01e6dbe230a01ed642a', '55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a'],
    ['count 5, binary salt', 'password', unhex('1234567878563412'), 5, 'e9b23d52273747dd5c35cb55be619d8e', '97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31'],
    ['64-char pass phrase', 'X'.repeat(64), 'pass phrase equals block size', 1200, '59d1bb789a828b1aa54ef9c2883f69ed', '89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34'],
    ['65-char pass phrase', 'X'.repeat(65), 'pass phrase exceeds block size', 1200, 'cb8005dc5f90179a7f02104c0018751d', 'd78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b'],
    ['g-clef (UTF-8 f09d849e)', '\u{1D11E}', 'EXAMPLE.COMpianist', 50, 'f149c1f2e154a73452d43e7fe62a56e5', '4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e'],
  ];
  it.each(vectors)('%s', (_n, password, salt, count, k128, k256) => {
    expect(hex(aes128CtsHmacSha196.stringToKey!(password, salt, iter(count)))).toBe(k128);
    expect(hex(aes256CtsHmacSha196.stringToKey!(password, salt, iter(count)))).toBe(k256);
  });
  it('defaults to 4096 iterations and refuses malformed s2kparams', () => {
    const salt = defaultSalt('EXAMPLE.COM', ['host', 'fsrvp']);
    expect(salt).toBe('EXAMPLE.COMhostfsrvp');
    expect(hex(aes128CtsHmacSha196.stringToKey!('pw', salt))).toBe(hex(aes128CtsHmacSha196.stringToKey!('pw', salt, iter(4096))));
    expect(() => aes128CtsHmacSha196.stringToKey!('pw', salt, new Uint8Array(3))).toThrow(KerberosCryptoError);
    expect(() => aes128CtsHmacSha196.stringToKey!('pw', salt, iter(0))).toThrow(KerberosCryptoError);
  });
});

describe('AES-CBC with ciphertext stealing (RFC 3962 appendix B)', () => {
  const key = unhex('636869636b656e207465726979616b69');
  const input = ascii("I would like the General Gau's Chicken, please, and wonton soup.");
  const vectors: Array<[number, string]> = [
    [17, 'c6353568f2bf8cb4d8a580362da7ff7f97'],
    [31, 'fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5'],
    [32, '39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584'],
    [47, '97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5'],
    [48, '97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8'],
    [64, '97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8'],
  ];
  it.each(vectors)('%i bytes', (len, out) => {
    const iv = new Uint8Array(16);
    expect(hex(ctsEncrypt(key, iv, input.subarray(0, len)))).toBe(out);
    expect(hex(ctsDecrypt(key, iv, unhex(out)))).toBe(hex(input.subarray(0, len)));
  });
  it('one block is plain CBC and round-trips; under one block is refused', () => {
    const iv = new Uint8Array(16);
    expect(hex(ctsDecrypt(key, iv, ctsEncrypt(key, iv, input.subarray(0, 16))))).toBe(hex(input.subarray(0, 16)));
    expect(() => ctsEncrypt(key, iv, input.subarray(0, 15))).toThrow(KerberosCryptoError);
  });
});

describe('encrypt / decrypt / checksum for etypes 17, 18, 23', () => {
  const keys = { 17: 16, 18: 32, 23: 16 } as const;
  for (const [etype, size] of Object.entries(keys)) {
    const e = getEnctype(Number(etype))!;
    it(`etype ${etype}: round trip, tamper, wrong usage, short input, wrong key size`, () => {
      fc.assert(fc.property(fc.uint8Array({ minLength: size, maxLength: size }), fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 1, max: 30 }),
        (key, plain, usage) => {
          const c = e.encrypt(key, usage, plain);
          expect(c.length).toBe(plain.length + e.overhead);
          expect(hex(e.decrypt(key, usage, c) as Uint8Array)).toBe(hex(plain));
          const t = Uint8Array.from(c);
          t[t.length >> 1]! ^= 1;
          expect(e.decrypt(key, usage, t)).toBeInstanceOf(KerberosCryptoError);
          // usage 9 also decrypts rc4-hmac under 8 (RFC 4757 errata), so skip the 8/9 pair there
          if (!(etype === '23' && (usage === 8 || usage === 9))) expect(e.decrypt(key, usage + 1, c)).toBeInstanceOf(KerberosCryptoError);
          const mac = e.checksum(key, usage, plain);
          expect(mac.length).toBe(e.checksumSize);
          expect(e.verifyChecksum(key, usage, plain, mac)).toBe(true);
          expect(e.verifyChecksum(key, usage + 1, plain, mac)).toBe(etype === '23' && rc4Same(usage, usage + 1));
        }), { numRuns: 30 });
      const key = new Uint8Array(size);
      for (let n = 0; n < e.overhead; n++) expect((e.decrypt(key, 1, new Uint8Array(n)) as KerberosCryptoError).code).toBe('short');
      expect((e.decrypt(new Uint8Array(size + 1), 1, new Uint8Array(64)) as KerberosCryptoError).code).toBe('key-size');
      expect(() => e.encrypt(new Uint8Array(size - 1), 1, new Uint8Array(4))).toThrow(KerberosCryptoError);
      expect(e.verifyChecksum(new Uint8Array(3), 1, new Uint8Array(4), new Uint8Array(12))).toBe(false);
    });
    it(`etype ${etype}: decrypt of any byte string is a value or a KerberosCryptoError`, () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 0xffffffff }), (c, usage) => {
        const r = e.decrypt(new Uint8Array(size), usage, c);
        expect(r instanceof Uint8Array || r instanceof KerberosCryptoError).toBe(true);
      }), { numRuns: 200 });
    });
  }
});

const rc4Same = (a: number, b: number): boolean => {
  const t = (u: number): number => (u === 3 ? 8 : u === 23 ? 13 : u);
  return t(a) === t(b);
};

describe('rc4-hmac (RFC 4757)', () => {
  it('string-to-key is the NT hash (MD4 of UTF-16LE), salt ignored', () => {
    expect(hex(rc4Hmac.stringToKey!('Password', 'ignored'))).toBe('a4f49c406510bdcab6824ee7c30fd852');
  });
  it('a fixed confounder gives a fixed ciphertext whose first 16 bytes are the HMAC of confounder | plaintext', () => {
    const key = unhex('a4f49c406510bdcab6824ee7c30fd852');
    const a = rc4Hmac.encrypt(key, 7, ascii('hello'), unhex('0102030405060708'));
    const b = rc4Hmac.encrypt(key, 7, ascii('hello'), unhex('0102030405060708'));
    expect(hex(a)).toBe(hex(b));
    expect(a.length).toBe(16 + 8 + 5);
  });
  it('usage 3 is sent as T=8 and usage 9 is accepted under T=8', () => {
    const key = unhex('a4f49c406510bdcab6824ee7c30fd852');
    const conf = unhex('0102030405060708');
    expect(hex(rc4Hmac.encrypt(key, 3, ascii('x'), conf))).toBe(hex(rc4Hmac.encrypt(key, 8, ascii('x'), conf)));
    expect(hex(rc4Hmac.decrypt(key, 9, rc4Hmac.encrypt(key, 8, ascii('x'), conf)) as Uint8Array)).toBe('78');
  });
});

describe('AES usage keys derived once per base key', () => {
  it('a key changed in place is derived again: ciphertexts open only with the key they were made with', () => {
    for (const e of [aes128CtsHmacSha196, aes256CtsHmacSha196]) {
      const key = new Uint8Array(e.keySize).fill(0x11);
      const conf = new Uint8Array(16).fill(7);
      const first = e.encrypt(key, 24, new Uint8Array([1, 2, 3]), conf);
      const again = e.encrypt(key, 24, new Uint8Array([1, 2, 3]), conf);
      expect(hex(again)).toBe(hex(first));
      key.fill(0x22);
      const second = e.encrypt(key, 24, new Uint8Array([1, 2, 3]), conf);
      expect(hex(second)).not.toBe(hex(first));
      // Fresh key objects (no remembered derivation) agree with what the changed key produced.
      expect(e.decrypt(new Uint8Array(e.keySize).fill(0x22), 24, second)).toEqual(new Uint8Array([1, 2, 3]));
      expect(e.decrypt(new Uint8Array(e.keySize).fill(0x11), 24, first)).toEqual(new Uint8Array([1, 2, 3]));
      expect(e.decrypt(key, 24, first)).toBeInstanceOf(KerberosCryptoError);
      expect(hex(e.checksum(key, 25, first))).toBe(hex(e.checksum(new Uint8Array(e.keySize).fill(0x22), 25, first)));
    }
  });
});

describe('CTS decryption through the cached ECB decipher', () => {
  it('inverts ctsEncrypt for any length of 16 bytes or more, any IV, both key sizes', () => {
    fc.assert(fc.property(
      fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 200 }),
      (long, iv, data) => {
        const key = new Uint8Array(long ? 32 : 16).fill(0x5a);
        expect(hex(ctsDecrypt(key, iv, ctsEncrypt(key, iv, data)))).toBe(hex(data));
      },
    ), { numRuns: 300 });
  });
  it('a key changed in place gets a decipher of its own', () => {
    const key = new Uint8Array(32).fill(1);
    const iv = new Uint8Array(16);
    const data = new Uint8Array(40).fill(3);
    const c1 = ctsEncrypt(key, iv, data);
    expect(hex(ctsDecrypt(key, iv, c1))).toBe(hex(data));
    key.fill(2);
    const c2 = ctsEncrypt(key, iv, data);
    expect(hex(ctsDecrypt(key, iv, c2))).toBe(hex(data));
    expect(hex(ctsDecrypt(key, iv, c1))).not.toBe(hex(data));
  });
});

describe('CTS encryption through the long-lived CBC cipher of a key', () => {
  it('gives every message the ciphertext a fresh cipher gives it, whatever was encrypted before under the key', () => {
    fc.assert(fc.property(
      fc.boolean(), fc.array(fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 120 })), { minLength: 1, maxLength: 8 }),
      (long, messages) => {
        const shared = new Uint8Array(long ? 32 : 16).fill(0x6b);
        for (const [iv, data] of messages) {
          // A key object of its own has a cipher of its own that has encrypted nothing yet.
          const fresh = ctsEncrypt(new Uint8Array(shared), iv, data);
          expect(hex(ctsEncrypt(shared, iv, data))).toBe(hex(fresh));
        }
      },
    ), { numRuns: 200 });
  });
  it('leaves the caller\'s plaintext and IV as they were', () => {
    const key = new Uint8Array(16).fill(9);
    const iv = new Uint8Array(16).fill(4);
    const data = new Uint8Array(33).fill(7);
    ctsEncrypt(key, iv, data);
    expect([...new Set(data)]).toEqual([7]);
    expect([...new Set(iv)]).toEqual([4]);
  });
});
