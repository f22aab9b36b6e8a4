import { describe, expect, it } from 'vitest';
import { decode, encode, print } from '../../src/ndr/index.js';
import { FSRVP_OPERATIONS, GetShareMapping, IsPathSupported } from '../../src/fsrvp/idl.js';
import { allSampleNames, hex, samplePdus, toHex } from '../helpers/fixtures.js';

/** Stub bytes of an unauthenticated request/response PDU (no object UUID in these captures). */
function stubOf(pdu: Uint8Array): Uint8Array {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const fragLength = view.getUint16(8, true);
  expect(view.getUint16(10, true)).toBe(0);
  return pdu.subarray(24, fragLength);
}

describe('FSRVP IDL against the worked examples of FSRVP.md and DCERPC.md', () => {
  it('encodes the GetShareMapping worked example byte for byte', () => {
    const expected = hex(`
      01 00 00 00 00 00 02 00 11 11 11 11 22 22 33 33 44 44 55 55 55 55 55 55 66 66 66 66 77 77 88 88
      99 99 aa aa aa aa aa aa 04 00 02 00 08 00 02 00 00 00 00 00 00 00 d9 01 0c 00 00 00 00 00 00 00
      0c 00 00 00 5c 00 5c 00 53 00 52 00 56 00 5c 00 73 00 68 00 61 00 72 00 65 00 00 00 2d 00 00 00
      00 00 00 00 2d 00 00 00`);
    const bytes = encode(GetShareMapping.response, {
      ShareMapping: {
        tag: 1,
        value: {
          ShadowCopySetId: '11111111-2222-3333-4444-555555555555',
          ShadowCopyId: '66666666-7777-8888-9999-aaaaaaaaaaaa',
          ShareNameUNC: '\\\\SRV\\share',
          ShadowCopyShareName: 'share@{66666666-7777-8888-9999-aaaaaaaaaaaa}',
          CreationTimestamp: 0x01d9000000000000n,
        },
      },
      result: 0,
    });
    expect(bytes.length).toBe(200);
    expect(toHex(bytes.subarray(0, expected.length))).toBe(toHex(expected));
    expect(toHex(bytes.subarray(0xc0))).toBe('0000000000000000');
    const back = decode(GetShareMapping.response, bytes);
    expect(back.consumed).toBe(200);
    expect(back.value.ShareMapping.tag).toBe(1);
  });

  it('encodes the IsPathSupported request and response of DCERPC.md §14', () => {
    const req = encode(IsPathSupported.request, { ShareName: '\\\\srv\\share\\' });
    expect(toHex(req)).toBe(
      '0d000000000000000d0000005c005c007300720076005c00730068006100720065005c000000');
    const res = encode(IsPathSupported.response, { SupportedByThisProvider: true, OwnerMachineName: 'SRV', result: 0 });
    expect(toHex(res)).toBe('01000000000002000400000000000000040000005300520056000000' + '00000000');
  });

  it('encodes an error GetShareMapping response as Samba does (level 1, NULL arm)', () => {
    const res = encode(GetShareMapping.response, { ShareMapping: { tag: 1, value: null }, result: 0x80042311 });
    expect(toHex(res)).toBe('010000000000000011230480');
  });
});

describe('every FSRVP stub Samba sent or received decodes and re-encodes to the same bytes', () => {
  const names = allSampleNames();
  it('has the captured samples', () => {
    expect(names.length).toBeGreaterThanOrEqual(4);
  });
  for (const name of names) {
    it(name, () => {
      let checked = 0;
      for (const rec of samplePdus(name)) {
        if (rec.ptype !== 'request' && rec.ptype !== 'response') continue;
        const op = FSRVP_OPERATIONS[rec.opnum as number];
        expect(op, `opnum ${rec.opnum}`).toBeDefined();
        const stub = stubOf(hex(rec.hex));
        const type = rec.ptype === 'request' ? op!.request : op!.response;
        const d = decode(type as never, stub);
        // Requests may carry trailing bytes; these captures have none.
        expect(d.consumed, `${name} #${rec.n} ${rec.op}`).toBe(stub.length);
        const again = encode(type as never, d.value);
        expect(toHex(again), `${name} #${rec.n} ${rec.op}\n${print(type as never, d.value)}`).toBe(toHex(stub));
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
});
