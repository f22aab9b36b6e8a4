/**
 * SMB2/3 crypto: AES-CMAC against RFC 4493's vectors; the SP800-108 KDF, the 3.0 and 3.1.1 key
 * derivations, AES-CMAC, HMAC-SHA256 and AES-GMAC signatures and the CCM/GCM transform against
 * impacket and pycryptodome (independent implementations, run as an oracle).
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { aesCmac, cmacSubkeys } from '../../src/smb/cmac.js';
import { deriveSessionKeys, kdfCounterSha256 } from '../../src/smb/kdf.js';
import { SIGNING_ALG, computeSignature, signMessage, verifySignature } from '../../src/smb/signing.js';
import { CIPHER, NonceSource, decryptMessage, encryptMessage, type CipherId } from '../../src/smb/encryption.js';
import { COMMAND, HDR_FLAGS, encodeHeader } from '../../src/smb/header.js';
import { SmbError } from '../../src/smb/errors.js';
import { run } from '../../src/sys/exec.js';
import { ensureImpacket } from '../helpers/impacket.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const H = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

describe('AES-CMAC (RFC 4493 section 4)', () => {
  const key = H('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const m64 = H(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
    30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  it('subkeys K1 and K2', () => {
    const { k1, k2 } = cmacSubkeys(key);
    expect(hex(k1)).toBe('fbeed618357133667c85e08f7236a8de');
    expect(hex(k2)).toBe('f7ddac306ae266ccf90bc11ee46d513b');
  });
  it.each([
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ])('example with a %i-byte message', (len, mac) => {
    expect(hex(aesCmac(key, m64.subarray(0, len)))).toBe(mac);
  });
  it('gives every message the MAC a fresh key object gives it, whatever was signed before, and leaves the message alone', () => {
    const k = rnd(16);
    for (let i = 0; i < 50; i++) {
      const msg = rnd(i * 7);
      const before = hex(msg);
      expect(hex(aesCmac(k, msg))).toBe(hex(aesCmac(new Uint8Array(k), msg)));
      expect(hex(msg)).toBe(before);
    }
    // The same message again after all that: the same MAC.
    expect(hex(aesCmac(key, m64))).toBe('51f0bebf7e3b9d92fc49741779363cfe');
  });
});

interface Oracle {
  kdf: string[];
  cmac: string[];
  keys311: { sign: string; c2s: string; s2c: string; c2s256: string };
  keys30: { sign: string; c2s: string; s2c: string };
  hmac: string;
  gmac: string;
  ccm: string;
  gcm: string;
  gcm256: string;
  ccm256: string;
}

const SCRIPT = `
import sys, json, hmac, hashlib
from impacket.crypto import KDF_CounterMode, AES_CMAC
from Cryptodome.Cipher import AES
q = json.load(sys.stdin)
H = bytes.fromhex
out = {}
out['kdf'] = [KDF_CounterMode(H(k), H(l), H(c), L).hex() for (k, l, c, L) in q['kdf']]
out['cmac'] = [AES_CMAC(H(k), H(m), len(H(m))).hex() for (k, m) in q['cmac']]
sk = H(q['sessionKey']); ph = H(q['preauth'])
out['keys311'] = {'sign': KDF_CounterMode(sk, b'SMBSigningKey\\x00', ph, 128).hex(),
  'c2s': KDF_CounterMode(sk, b'SMBC2SCipherKey\\x00', ph, 128).hex(),
  's2c': KDF_CounterMode(sk, b'SMBS2CCipherKey\\x00', ph, 128).hex(),
  'c2s256': KDF_CounterMode(sk, b'SMBC2SCipherKey\\x00', ph, 256).hex()}
out['keys30'] = {'sign': KDF_CounterMode(sk, b'SMB2AESCMAC\\x00', b'SmbSign\\x00', 128).hex(),
  'c2s': KDF_CounterMode(sk, b'SMB2AESCCM\\x00', b'ServerIn \\x00', 128).hex(),
  's2c': KDF_CounterMode(sk, b'SMB2AESCCM\\x00', b'ServerOut\\x00', 128).hex()}
msg = bytearray(H(q['msg'])); msg[48:64] = b'\\x00' * 16; msg = bytes(msg)
out['hmac'] = hmac.new(sk, msg, hashlib.sha256).digest()[:16].hex()
nonce = msg[24:32] + (1).to_bytes(4, 'little')
g = AES.new(sk, AES.MODE_GCM, nonce=nonce); g.update(msg); out['gmac'] = g.digest().hex()
def seal(key, mode, nlen, wire):
    th = H(wire)
    c = AES.new(key, mode, nonce=th[20:20+nlen], mac_len=16)
    c.update(th[20:52])
    ct, tag = c.encrypt_and_digest(H(q['plain']))
    return (th[:4] + tag + th[20:52] + ct).hex()
k = H(q['aesKey']); k256 = H(q['aesKey256'])
out['ccm'] = seal(k, AES.MODE_CCM, 11, q['ccmHeader'])
out['gcm'] = seal(k, AES.MODE_GCM, 12, q['gcmHeader'])
out['ccm256'] = seal(k256, AES.MODE_CCM, 11, q['ccmHeader'])
out['gcm256'] = seal(k256, AES.MODE_GCM, 12, q['gcmHeader'])
json.dump(out, sys.stdout)
`;

/** A transform header (52 bytes) with the given nonce, as the oracle's input. */
function transformHeader(nonce: Uint8Array, size: number, sessionId: bigint): string {
  const b = Buffer.alloc(52);
  b.writeUInt32LE(0x424d53fd, 0);
  Buffer.from(nonce).copy(b, 20);
  b.writeUInt32LE(size, 36);
  b.writeUInt16LE(1, 42);
  b.writeBigUInt64LE(sessionId, 44);
  return b.toString('hex');
}

describe('SMB 3.x keys, signatures and encryption against impacket / pycryptodome', () => {
  const kdfCases: Array<[Uint8Array, Uint8Array, Uint8Array, number]> = [
    [rnd(16), rnd(12), rnd(8), 128], [rnd(16), rnd(16), rnd(64), 128], [rnd(16), rnd(3), rnd(64), 256], [rnd(32), rnd(20), rnd(1), 256],
  ];
  const cmacCases: Array<[Uint8Array, Uint8Array]> = [0, 1, 15, 16, 17, 63, 64, 65, 300].map((n) => [rnd(16), rnd(n)]);
  const sessionKey = rnd(16);
  const preauth = rnd(64);
  const msg = new Uint8Array([...encodeHeader({ command: COMMAND.READ, messageId: 0x1234567n, sessionId: 77n, flags: HDR_FLAGS.SERVER_TO_REDIR }), ...rnd(90)]);
  const aesKey = rnd(16);
  const aesKey256 = rnd(32);
  const plain = rnd(133);
  const ccmNonce = new Uint8Array([...rnd(11), 0, 0, 0, 0, 0]);
  const gcmNonce = new Uint8Array([...rnd(12), 0, 0, 0, 0]);
  let o: Oracle;
  beforeAll(async () => {
    await ensureImpacket();
    const q = {
      kdf: kdfCases.map(([k, l, c, L]) => [hex(k), hex(l), hex(c), L]),
      cmac: cmacCases.map(([k, m]) => [hex(k), hex(m)]),
      sessionKey: hex(sessionKey), preauth: hex(preauth), msg: hex(msg), plain: hex(plain), aesKey: hex(aesKey), aesKey256: hex(aesKey256),
      ccmHeader: transformHeader(ccmNonce, plain.length, 99n), gcmHeader: transformHeader(gcmNonce, plain.length, 99n),
    };
    const r = await run('/usr/bin/python3', ['-c', SCRIPT], { input: JSON.stringify(q), timeoutMs: 60_000 });
    o = JSON.parse(r.stdout) as Oracle;
  }, 600_000);

  it('SP800-108 counter-mode KDF (HMAC-SHA256), 128 and 256 bits', () => {
    expect(kdfCases.map(([k, l, c, L]) => hex(kdfCounterSha256(k, l, c, L)))).toEqual(o.kdf);
  });
  it('AES-CMAC on messages of 0 to 300 bytes', () => {
    expect(cmacCases.map(([k, m]) => hex(aesCmac(k, m)))).toEqual(o.cmac);
  });
  it('3.1.1 signing and cipher keys from the preauth hash (128- and 256-bit)', () => {
    const k = deriveSessionKeys(0x0311, sessionKey, preauth);
    expect({ sign: hex(k.signingKey), c2s: hex(k.encryptionKey), s2c: hex(k.decryptionKey) }).toEqual({ sign: o.keys311.sign, c2s: o.keys311.c2s, s2c: o.keys311.s2c });
    expect(hex(deriveSessionKeys(0x0311, sessionKey, preauth, true).encryptionKey)).toBe(o.keys311.c2s256);
  });
  it('3.0 / 3.0.2 keys from the fixed labels', () => {
    for (const d of [0x0300, 0x0302]) {
      const k = deriveSessionKeys(d, sessionKey);
      expect({ sign: hex(k.signingKey), c2s: hex(k.encryptionKey), s2c: hex(k.decryptionKey) }).toEqual(o.keys30);
    }
  });
  it('2.x keys are the session key itself', () => {
    expect(hex(deriveSessionKeys(0x0210, sessionKey).signingKey)).toBe(hex(sessionKey));
  });
  it('HMAC-SHA256 and AES-GMAC signatures (server-sent message: nonce role bit 1)', () => {
    expect(hex(computeSignature(SIGNING_ALG.HMAC_SHA256, sessionKey, msg))).toBe(o.hmac);
    expect(hex(computeSignature(SIGNING_ALG.AES_GMAC, sessionKey, msg))).toBe(o.gmac);
  });
  it('sign then verify, for each algorithm; a flipped bit fails', () => {
    for (const alg of [SIGNING_ALG.HMAC_SHA256, SIGNING_ALG.AES_CMAC, SIGNING_ALG.AES_GMAC]) {
      const m = new Uint8Array(msg);
      signMessage(alg, sessionKey, m);
      expect(verifySignature(alg, sessionKey, m)).toBe(true);
      m[70] = (m[70] as number) ^ 1;
      expect(verifySignature(alg, sessionKey, m)).toBe(false);
    }
  });
  it('verifying leaves the message as it was (the signature field is zeroed only while computing)', () => {
    for (const alg of [SIGNING_ALG.HMAC_SHA256, SIGNING_ALG.AES_CMAC, SIGNING_ALG.AES_GMAC]) {
      const m = new Uint8Array(msg);
      signMessage(alg, sessionKey, m);
      const before = hex(m);
      // A view inside a larger buffer, as received messages are.
      const framed = new Uint8Array(m.length + 8);
      framed.set(m, 4);
      const view = framed.subarray(4, 4 + m.length);
      expect(verifySignature(alg, sessionKey, view)).toBe(true);
      expect(hex(view)).toBe(before);
      view[20] = (view[20] as number) ^ 0x40;
      expect(verifySignature(alg, sessionKey, view)).toBe(false);
      expect(hex(framed.subarray(0, 4))).toBe('00000000');
      // The signature of a message whose field is not zero ignores the field.
      const zeroed = new Uint8Array(m);
      zeroed.fill(0, 48, 64);
      expect(hex(computeSignature(alg, sessionKey, m))).toBe(hex(computeSignature(alg, sessionKey, zeroed)));
      expect(hex(computeSignature(alg, sessionKey, m))).toBe(hex(m.subarray(48, 64)));
    }
  });
  it.each([
    ['ccm', CIPHER.AES_128_CCM], ['gcm', CIPHER.AES_128_GCM], ['ccm256', CIPHER.AES_256_CCM], ['gcm256', CIPHER.AES_256_GCM],
  ] as Array<[keyof Oracle, CipherId]>)('decrypts pycryptodome’s %s TRANSFORM message', (name, cipher) => {
    const key = cipher >= 3 ? aesKey256 : aesKey;
    const wire = H(o[name] as string);
    expect(hex(decryptMessage(cipher, key, wire))).toBe(hex(plain));
    const bad = new Uint8Array(wire);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x80;
    expect(() => decryptMessage(cipher, key, bad)).toThrow(SmbError);
  });
  it('our TRANSFORM messages decrypt with the same key, nonces never repeat', () => {
    for (const cipher of [CIPHER.AES_128_CCM, CIPHER.AES_128_GCM, CIPHER.AES_256_CCM, CIPHER.AES_256_GCM] as CipherId[]) {
      const key = cipher >= 3 ? aesKey256 : aesKey;
      const ns = new NonceSource();
      const a = encryptMessage(cipher, key, 5n, plain, ns);
      const b = encryptMessage(cipher, key, 5n, plain, ns);
      expect(hex(a.subarray(20, 36))).not.toBe(hex(b.subarray(20, 36)));
      expect(hex(decryptMessage(cipher, key, a))).toBe(hex(plain));
    }
  });
});
