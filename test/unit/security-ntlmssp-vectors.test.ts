/**
 * NTLMv2 key and response computations against MS-NLMP 4.2.4 (User / Domain / Password, server
 * challenge 0123456789abcdef, client challenge aa…, time 0, target info Domain + Server), and
 * totality of the three message decoders.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rc4 } from '../../src/security/crypto/rc4.js';
import { NtlmError } from '../../src/security/ntlmssp/errors.js';
import { lmv2Response, ntHashOf, ntlmv2ClientBlob, ntlmv2Response, ntowfv2 } from '../../src/security/ntlmssp/keys.js';
import { decodeAuthenticate, decodeChallenge, decodeNegotiate } from '../../src/security/ntlmssp/messages.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

const serverChallenge = bytes('0123456789abcdef');
const clientChallenge = new Uint8Array(8).fill(0xaa);
// MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", MsvAvEOL.
const targetInfo = new Uint8Array(Buffer.concat([
  Buffer.from([2, 0, 12, 0]), utf16('Domain'), Buffer.from([1, 0, 12, 0]), utf16('Server'), Buffer.from([0, 0, 0, 0]),
]));

describe('MS-NLMP 4.2.4 NTLMv2', () => {
  const responseKey = ntowfv2(ntHashOf('Password'), 'User', 'Domain');
  const r = ntlmv2Response(responseKey, serverChallenge, ntlmv2ClientBlob(0n, clientChallenge, targetInfo));

  it('ResponseKeyNT = NTOWFv2(Password, User, Domain)', () => expect(hex(responseKey)).toBe('0c868a403bfd7a93a3001ef22ef02e3f'));
  it('NTProofStr', () => expect(hex(r.ntProofStr)).toBe('68cd0ab851e51c96aabc927bebef6a1c'));
  it('SessionBaseKey', () => expect(hex(r.sessionBaseKey)).toBe('8de40ccadbc14a82f15cb0ad0de95ca3'));
  it('LMv2 response', () => {
    expect(hex(lmv2Response(responseKey, serverChallenge, clientChallenge))).toBe('86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
  });
  it('the temp blob: header, time, client challenge, target info, trailing zeros', () => {
    const temp = r.ntResponse.subarray(16);
    expect(hex(temp.subarray(0, 28))).toBe(`0101000000000000${'00'.repeat(8)}${'aa'.repeat(8)}00000000`);
    expect(hex(temp.subarray(28, 28 + targetInfo.length))).toBe(hex(targetInfo));
    expect(hex(temp.subarray(temp.length - 4))).toBe('00000000');
  });
  it('EncryptedRandomSessionKey = RC4(KeyExchangeKey, RandomSessionKey)', () => {
    expect(hex(rc4(r.sessionBaseKey, new Uint8Array(16).fill(0x55)))).toBe('c5dad2544fc9799094ce1ce90bc9d03e');
  });
});

describe('NTLMSSP message decoders are total', () => {
  const onlyNtlmError = (f: () => unknown): void => {
    try { f(); } catch (e) { expect(e).toBeInstanceOf(NtlmError); }
  };
  const header = (type: number): Uint8Array => new Uint8Array([...Buffer.from('NTLMSSP\0', 'latin1'), type, 0, 0, 0]);
  it('random bytes, and random bodies behind a valid signature and type', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 3 }), (body, type) => {
      const withHeader = new Uint8Array([...header(type), ...body]);
      for (const buf of [body, withHeader]) {
        onlyNtlmError(() => decodeNegotiate(buf));
        onlyNtlmError(() => decodeChallenge(buf));
        onlyNtlmError(() => decodeAuthenticate(buf));
      }
    }), { numRuns: 2000 });
  });
});
