import { describe, expect, it } from 'vitest';
import { md4 } from '../../src/security/crypto/md4.js';
import { Rc4, rc4 } from '../../src/security/crypto/rc4.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

describe('MD4 (RFC 1320 appendix A.5)', () => {
  const vectors: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  it.each(vectors)('md4(%j)', (input, digest) => expect(hex(md4(ascii(input)))).toBe(digest));
  it('NT hash of "Password" (MS-NLMP 4.2.4.1.1 ResponseKeyNT input)', () => {
    expect(hex(md4(new Uint8Array(Buffer.from('Password', 'utf16le'))))).toBe('a4f49c406510bdcab6824ee7c30fd852');
  });
  it('lengths around the 56-byte padding edge', () => {
    // 55 bytes fit one block, 56 need two: both must differ from each other and be 16 bytes.
    expect(md4(new Uint8Array(55)).length).toBe(16);
    expect(hex(md4(new Uint8Array(55)))).not.toBe(hex(md4(new Uint8Array(56))));
  });
});

describe('RC4', () => {
  it('the classic Key/Plaintext, Wiki/pedia and Secret/Attack at dawn vectors', () => {
    expect(hex(rc4(ascii('Key'), ascii('Plaintext')))).toBe('bbf316e8d940af0ad3');
    expect(hex(rc4(ascii('Wiki'), ascii('pedia')))).toBe('1021bf0420');
    expect(hex(rc4(ascii('Secret'), ascii('Attack at dawn')))).toBe('45a01f645fc35b383552544b9bf5');
  });
  it('RFC 6229 40-bit key, first 16 key-stream bytes', () => {
    expect(hex(rc4(new Uint8Array([1, 2, 3, 4, 5]), new Uint8Array(16)))).toBe('b2396305f03dc027ccc3524a0a1118a8');
  });
  it('a stream continues across calls', () => {
    const s = new Rc4(ascii('Key'));
    const joined = Buffer.concat([s.update(ascii('Plain')), s.update(ascii('text'))]);
    expect(joined.toString('hex')).toBe('bbf316e8d940af0ad3');
  });
  it('refuses an empty key', () => expect(() => new Rc4(new Uint8Array(0))).toThrow(RangeError));
});
