/**
 * MD4 (RFC 1320), in TypeScript: OpenSSL 3 only offers it through the legacy provider, which a
 * stock Node does not load. NTLM's NT hash (MD4 of the UTF-16LE password) and Kerberos' RC4-HMAC
 * string-to-key need it; nothing else should.
 */

const rotl = (x: number, n: number): number => ((x << n) | (x >>> (32 - n))) >>> 0;

export function md4(data: Uint8Array): Uint8Array {
  const bitLength = BigInt(data.length) * 8n;
  const padded = new Uint8Array((((data.length + 8) >>> 6) + 1) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setBigUint64(padded.length - 8, bitLength & 0xffffffffffffffffn, true);

  let a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;
  const x = new Uint32Array(16);
  const f = (p: number, q: number, r: number): number => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number): number => p ^ q ^ r;
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = view.getUint32(off + i * 4, true);
    const [aa, bb, cc, dd] = [a, b, c, d];
    // Round 1: [abcd k s] with F, shifts 3 7 11 19.
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + x[k]!) >>> 0, 3);
      d = rotl((d + f(a, b, c) + x[k + 1]!) >>> 0, 7);
      c = rotl((c + f(d, a, b) + x[k + 2]!) >>> 0, 11);
      b = rotl((b + f(c, d, a) + x[k + 3]!) >>> 0, 19);
    }
    // Round 2: G plus 0x5a827999, column order, shifts 3 5 9 13.
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + x[k]! + 0x5a827999) >>> 0, 3);
      d = rotl((d + g(a, b, c) + x[k + 4]! + 0x5a827999) >>> 0, 5);
      c = rotl((c + g(d, a, b) + x[k + 8]! + 0x5a827999) >>> 0, 9);
      b = rotl((b + g(c, d, a) + x[k + 12]! + 0x5a827999) >>> 0, 13);
    }
    // Round 3: H plus 0x6ed9eba1, bit-reversed order, shifts 3 9 11 15.
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[k]! + 0x6ed9eba1) >>> 0, 3);
      d = rotl((d + h(a, b, c) + x[k + 8]! + 0x6ed9eba1) >>> 0, 9);
      c = rotl((c + h(d, a, b) + x[k + 4]! + 0x6ed9eba1) >>> 0, 11);
      b = rotl((b + h(c, d, a) + x[k + 12]! + 0x6ed9eba1) >>> 0, 15);
    }
    a = (a + aa) >>> 0; b = (b + bb) >>> 0; c = (c + cc) >>> 0; d = (d + dd) >>> 0;
  }
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  [a, b, c, d].forEach((w, i) => ov.setUint32(i * 4, w, true));
  return out;
}
