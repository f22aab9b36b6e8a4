/** NDR codec throughput: a GetShareMapping response, encoded and decoded. */
import { decode, encode } from '../../src/ndr/index.js';
import { GetShareMapping } from '../../src/fsrvp/idl.js';
import { rateSync, report } from './measure.js';

const response = {
  ShareMapping: {
    tag: 1,
    value: {
      ShadowCopySetId: '11111111-2222-3333-4444-555555555555',
      ShadowCopyId: '66666666-7777-8888-9999-aaaaaaaaaaaa',
      ShareNameUNC: '\\\\FSRVPH\\fsrvp_share',
      ShadowCopyShareName: 'fsrvp_share@{66666666-7777-8888-9999-aaaaaaaaaaaa}',
      CreationTimestamp: 0x01dd5e2a7b3c4d00n,
    },
  },
  result: 0,
} as const;

export async function benchNdr(seconds: number): Promise<void> {
  console.log('-- NDR (GetShareMapping response, 256-byte stub)');
  const ours = rateSync('NDR encode+decode GetShareMapping response', () => {
    decode(GetShareMapping.response, encode(GetShareMapping.response, response));
  }, seconds);
  // Reference measured in the same run on the same machine: a JSON round trip of the same value.
  // It normalises for machine speed; a ratio above 1 means the NDR codec is faster than JSON.
  const asJson = { ...response, ShareMapping: { ...response.ShareMapping, value: { ...response.ShareMapping.value, CreationTimestamp: '0x01dd5e2a7b3c4d00' } } };
  const json = rateSync('JSON stringify+parse of the same value (reference)', () => {
    JSON.parse(JSON.stringify(asJson));
  }, seconds);
  report(json);
  report(ours, json);
}
