import { describe, expect } from 'vitest';
import { fc, it } from '@fast-check/vitest';
import { NdrError, Rng, decode, encode, print, type NdrType } from '../../src/ndr/index.js';
import { FSRVP_OPERATIONS, ShareMapping, ShareMapping1 } from '../../src/fsrvp/idl.js';

/** Every declared FSRVP type: the 26 parameter lists and the share-mapping types. */
const types: [string, NdrType<unknown>][] = [
  ...FSRVP_OPERATIONS.flatMap((op) => [
    [`${op.name} request`, op.request as NdrType<unknown>] as [string, NdrType<unknown>],
    [`${op.name} response`, op.response as NdrType<unknown>] as [string, NdrType<unknown>],
  ]),
  ['FSSAGENT_SHARE_MAPPING_1', ShareMapping1 as NdrType<unknown>],
  ['FSSAGENT_SHARE_MAPPING', ShareMapping as NdrType<unknown>],
];

/** A value of `type` drawn from its own declaration, seeded by fast-check so failures replay. */
const valueOf = (type: NdrType<unknown>) => fc.integer().map((seed) => type.generate(new Rng(seed), 0));

function decodeOrNdrError(type: NdrType<unknown>, bytes: Uint8Array, littleEndian: boolean): void {
  try {
    decode(type, bytes, { littleEndian });
  } catch (e) {
    if (!(e instanceof NdrError)) throw e;
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bytes.length);
  }
}

describe.each(types)('%s', (_name, type) => {
  it.prop([valueOf(type), fc.boolean()])('encode -> decode is the identity (either byte order)', (value, le) => {
    const bytes = encode(type, value, { littleEndian: le });
    const back = decode(type, bytes, { littleEndian: le });
    expect(back.consumed).toBe(bytes.length);
    expect(back.value).toEqual(value);
    expect(encode(type, back.value, { littleEndian: le })).toEqual(bytes);
    expect(typeof print(type, back.value)).toBe('string');
  });

  it.prop([fc.uint8Array({ maxLength: 300 }), fc.boolean()])('random bytes decode or fail with NdrError', (bytes, le) => {
    decodeOrNdrError(type, bytes, le);
  });

  it.prop([
    valueOf(type),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'dup', 'ins')), {
      minLength: 1,
      maxLength: 4,
    }),
  ])('mutated encodings decode or fail with NdrError', (value, mutations) => {
    let bytes = Array.from(encode(type, value));
    for (const [at, b, kind] of mutations) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (kind === 'set') bytes[i] = b;
      else if (kind === 'cut') bytes = bytes.slice(0, i);
      else if (kind === 'dup') bytes.splice(i, 0, ...bytes.slice(i, i + 8));
      else bytes.splice(i, 0, b, b, b, b);
    }
    decodeOrNdrError(type, Uint8Array.from(bytes), true);
  });
});
