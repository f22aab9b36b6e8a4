/**
 * A small deterministic generator used to produce random values of any declared NDR type
 * (property tests, the fuzz tool). xorshift128+, seeded from one integer, so runs are replayable.
 */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  private static readonly MASK = (1n << 64n) - 1n;

  constructor(seed: number) {
    let x = BigInt.asUintN(64, BigInt(Math.floor(seed)) * 0x9e3779b97f4a7c15n + 0x632be59bd9b4e019n);
    const next = (): bigint => {
      x = (x + 0x9e3779b97f4a7c15n) & Rng.MASK;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & Rng.MASK;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & Rng.MASK;
      return z ^ (z >> 31n);
    };
    this.s0 = next();
    this.s1 = next() | 1n;
  }

  /** 64 random bits. */
  u64(): bigint {
    let s1 = this.s0;
    const s0 = this.s1;
    this.s0 = s0;
    s1 ^= (s1 << 23n) & Rng.MASK;
    this.s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    return (this.s1 + s0) & Rng.MASK;
  }

  /** 32 random bits as an unsigned number. */
  u32(): number {
    return Number(this.u64() >> 32n);
  }

  /** An integer in [0, n). */
  below(n: number): number {
    if (n <= 1) return 0;
    return this.u32() % n;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A string of BMP characters without NUL or surrogates, biased towards ASCII. */
  text(maxLen: number, alphabet?: string): string {
    const len = this.below(maxLen + 1);
    let s = '';
    for (let i = 0; i < len; i++) {
      if (alphabet !== undefined) {
        s += alphabet[this.below(alphabet.length)];
      } else if (this.chance(0.85)) {
        s += String.fromCharCode(0x20 + this.below(0x5f));
      } else {
        let c = 1 + this.below(0xfffd);
        if (c >= 0xd800 && c <= 0xdfff) c = 0x263a;
        s += String.fromCharCode(c);
      }
    }
    return s;
  }
}
