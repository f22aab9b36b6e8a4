import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  authPadFor, buildAuthVerifier, decodeHeader, decodePdu, encodePdu, peekFragLength, PduError,
  pullAuthTrailer, verifyHeader,
} from '../../src/dcerpc/index.js';
import { FAULT, PFC, PFC_FIRST_LAST, PTYPE } from '../../src/dcerpc/constants.js';
import type { Pdu, PduInit } from '../../src/dcerpc/pdu-types.js';
import {
  bindTimeFeatureSyntax, bindTimeFeatures, NDR20, NDR64, NULL_SYNTAX, syntaxId,
} from '../../src/dcerpc/syntax.js';
import { encode } from '../../src/ndr/index.js';
import { GetSupportedVersion, IsPathSupported } from '../../src/fsrvp/idl.js';
import { hex, samplePdus, toHex } from '../helpers/fixtures.js';
import { ctx, FSRVP_SYNTAX, windowsStyleContexts } from '../helpers/rpc.js';

/** Drops the header from a decoded PDU so it can be compared with what was encoded. */
function body(p: Pdu): Record<string, unknown> {
  const { header: _h, ...rest } = p;
  return rest;
}

describe('DCERPC.md §14 worked examples, byte for byte', () => {
  it('bind: three contexts (NDR20, NDR64, bind-time features 0x3), 160 bytes', () => {
    const want = hex(`
      05 00 0b 03 10 00 00 00 a0 00 00 00 01 00 00 00 d0 16 d0 16 00 00 00 00 03 00 00 00 00 00 01 00
      3c 65 e0 a8 44 27 89 43 a6 1d 73 73 df 8b 22 92 01 00 00 00 04 5d 88 8a eb 1c c9 11 9f e8 08 00
      2b 10 48 60 02 00 00 00 01 00 01 00 3c 65 e0 a8 44 27 89 43 a6 1d 73 73 df 8b 22 92 01 00 00 00
      33 05 71 71 ba be 37 49 83 19 b5 db ef 9c cc 36 01 00 00 00 02 00 01 00 3c 65 e0 a8 44 27 89 43
      a6 1d 73 73 df 8b 22 92 01 00 00 00 2c 1c b7 6c 12 98 40 45 03 00 00 00 00 00 00 00 01 00 00 00`);
    const bytes = encodePdu({
      kind: 'bind', header: { callId: 1 }, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
      contexts: windowsStyleContexts(), authInfo: new Uint8Array(0),
    });
    expect(bytes.length).toBe(160);
    expect(toHex(bytes)).toBe(toHex(want));
    const d = decodePdu(want);
    expect(d.kind).toBe('bind');
    if (d.kind !== 'bind') return;
    expect(d.header).toEqual({
      rpcVers: 5, rpcVersMinor: 0, ptype: PTYPE.bind, pfcFlags: PFC_FIRST_LAST, drep: [0x10, 0, 0, 0],
      fragLength: 160, authLength: 0, callId: 1,
    });
    expect(d.contexts).toEqual(windowsStyleContexts());
    expect(bindTimeFeatures(d.contexts[2]!.transferSyntaxes[0]!)).toBe(3n);
  });

  it('bind_ack: accept, 2/2, negotiate_ack 0x0002, group 0x12345678, \\pipe\\FssagentRpc, 120 bytes', () => {
    const want = hex(`
      05 00 0c 03 10 00 00 00 78 00 00 00 01 00 00 00
      d0 16 d0 16 78 56 34 12 12 00 5c 70 69 70 65 5c
      46 73 73 61 67 65 6e 74 52 70 63 00 03 00 00 00
      00 00 00 00 04 5d 88 8a eb 1c c9 11 9f e8 08 00
      2b 10 48 60 02 00 00 00 02 00 02 00 00 00 00 00
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
      03 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00`);
    expect(want.length).toBe(120);
    const init: PduInit = {
      kind: 'bind_ack', header: { callId: 1 }, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0x12345678,
      secondaryAddress: '\\pipe\\FssagentRpc',
      results: [
        { result: 0, reason: 0, transferSyntax: NDR20 },
        { result: 2, reason: 2, transferSyntax: NULL_SYNTAX },
        { result: 3, reason: 2, transferSyntax: NULL_SYNTAX },
      ],
      authInfo: new Uint8Array(0),
    };
    expect(toHex(encodePdu(init))).toBe(toHex(want));
    const d = decodePdu(want);
    expect(body(d)).toEqual(body({ ...init, header: d.header } as Pdu));
  });

  it('GetSupportedVersion request and response', () => {
    const req = hex('05 00 00 03 10 00 00 00 18 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00');
    expect(toHex(encodePdu({
      kind: 'request', header: { callId: 2 }, allocHint: 0, contextId: 0, opnum: 0,
      stubAndVerifier: encode(GetSupportedVersion.request, {}),
    }))).toBe(toHex(req));
    const res = hex('05 00 02 03 10 00 00 00 24 00 00 00 02 00 00 00 0c 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00');
    const stub = encode(GetSupportedVersion.response, { MinVersion: 1, MaxVersion: 1, result: 0 });
    expect(toHex(encodePdu({
      kind: 'response', header: { callId: 2 }, allocHint: stub.length, contextId: 0, cancelCount: 0, reserved: 0,
      stubAndVerifier: stub,
    }))).toBe(toHex(res));
    const d = decodePdu(res);
    expect(d.kind === 'response' && toHex(d.stubAndVerifier)).toBe(toHex(stub));
  });

  it('IsPathSupported request and response', () => {
    const req = hex(`
      05 00 00 03 10 00 00 00 3e 00 00 00 03 00 00 00 26 00 00 00 00 00 08 00 0d 00 00 00 00 00 00 00
      0d 00 00 00 5c 00 5c 00 73 00 72 00 76 00 5c 00 73 00 68 00 61 00 72 00 65 00 5c 00 00 00`);
    const reqStub = encode(IsPathSupported.request, { ShareName: '\\\\srv\\share\\' });
    expect(toHex(encodePdu({
      kind: 'request', header: { callId: 3 }, allocHint: reqStub.length, contextId: 0, opnum: 8, stubAndVerifier: reqStub,
    }))).toBe(toHex(req));
    const res = hex(`
      05 00 02 03 10 00 00 00 38 00 00 00 03 00 00 00 20 00 00 00 00 00 00 00 01 00 00 00 00 00 02 00
      04 00 00 00 00 00 00 00 04 00 00 00 53 00 52 00 56 00 00 00 00 00 00 00`);
    const resStub = encode(IsPathSupported.response, { SupportedByThisProvider: true, OwnerMachineName: 'SRV', result: 0 });
    expect(toHex(encodePdu({
      kind: 'response', header: { callId: 3 }, allocHint: resStub.length, contextId: 0, cancelCount: 0, reserved: 0,
      stubAndVerifier: resStub,
    }))).toBe(toHex(res));
  });

  it('fault for opnum 13 (op_rng_error with DID_NOT_EXECUTE)', () => {
    const want = hex('05 00 03 23 10 00 00 00 20 00 00 00 04 00 00 00 18 00 00 00 00 00 00 00 02 00 01 1c 00 00 00 00');
    const bytes = encodePdu({
      kind: 'fault', header: { callId: 4, pfcFlags: PFC_FIRST_LAST | PFC.DID_NOT_EXECUTE }, allocHint: 24,
      contextId: 0, cancelCount: 0, flags: 0, status: FAULT.nca_s_op_rng_error, reserved: 0,
      errorAndVerifier: new Uint8Array(0),
    });
    expect(toHex(bytes)).toBe(toHex(want));
    const d = decodePdu(want);
    expect(d.kind === 'fault' && d.status).toBe(0x1c010002);
  });

  it('decodes and re-encodes every captured Samba PDU byte for byte', () => {
    let n = 0;
    for (const name of ['rpcclient-session', 'smbtorture-get_version', 'smbtorture-is_path_supported', 'smbtorture-set_ctx']) {
      for (const rec of samplePdus(name)) {
        const bytes = hex(rec.hex);
        const d = decodePdu(bytes);
        expect(d.kind).toBe(rec.ptype);
        expect(toHex(encodePdu({ ...d, header: d.header } as PduInit))).toBe(rec.hex);
        n++;
      }
    }
    expect(n).toBeGreaterThan(80);
  });
});

/** One example value of every PDU type. */
function examples(): PduInit[] {
  const auth = buildAuthVerifier({ authType: 10, authLevel: 6, authContextId: 7, credentials: Uint8Array.of(1, 2, 3, 4) });
  return [
    { kind: 'bind', header: { callId: 9, authLength: 4 }, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 5, contexts: [ctx(3), ctx(4, FSRVP_SYNTAX, [NDR64, NDR20])], authInfo: auth },
    { kind: 'alter_context', header: { callId: 9 }, maxXmitFrag: 1, maxRecvFrag: 2, assocGroupId: 0, contexts: [], authInfo: new Uint8Array(0) },
    { kind: 'bind_ack', header: { callId: 1 }, maxXmitFrag: 2048, maxRecvFrag: 2048, assocGroupId: 1, secondaryAddress: '49152', results: [{ result: 0, reason: 0, transferSyntax: NDR20 }], authInfo: new Uint8Array(0) },
    { kind: 'alter_context_resp', header: { callId: 1 }, maxXmitFrag: 2048, maxRecvFrag: 2048, assocGroupId: 1, secondaryAddress: '', results: [], authInfo: Uint8Array.of(9, 9) },
    { kind: 'bind_nak', header: { callId: 1 }, rejectReason: 8, versions: [{ major: 5, minor: 0 }], pad: new Uint8Array(3) },
    { kind: 'request', header: { callId: 2 }, allocHint: 3, contextId: 1, opnum: 12, object: '01234567-89ab-cdef-0123-456789abcdef', stubAndVerifier: Uint8Array.of(1, 2, 3) },
    { kind: 'request', header: { callId: 2, drep: [0, 0, 0, 0] }, allocHint: 3, contextId: 0x102, opnum: 0x304, stubAndVerifier: Uint8Array.of(1, 2, 3) },
    { kind: 'response', header: { callId: 2 }, allocHint: 3, contextId: 1, cancelCount: 0, reserved: 0, stubAndVerifier: Uint8Array.of(4) },
    { kind: 'fault', header: { callId: 2 }, allocHint: 24, contextId: 1, cancelCount: 0, flags: 1, status: 5, reserved: 0, errorAndVerifier: Uint8Array.of(7) },
    { kind: 'auth3', header: { callId: 3, authLength: 4 }, pad: 0xdeadbeef, authInfo: auth },
    { kind: 'co_cancel', header: { callId: 4 }, authInfo: new Uint8Array(0) },
    { kind: 'orphaned', header: { callId: 4 }, authInfo: Uint8Array.of(1) },
    { kind: 'shutdown', header: { callId: 0 }, body: new Uint8Array(0) },
    { kind: 'ping', body: new Uint8Array(0) },
    { kind: 'working', body: new Uint8Array(0) },
    { kind: 'ack', body: new Uint8Array(0) },
    { kind: 'cl_cancel', body: new Uint8Array(8) },
    { kind: 'cancel_ack', body: new Uint8Array(12) },
    { kind: 'reject', body: new Uint8Array(16) },
    { kind: 'fack', body: Uint8Array.from([...new Uint8Array(18), 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]) },
    { kind: 'nocall', body: new Uint8Array(20) },
    { kind: 'rts', body: Uint8Array.of(0, 0, 0, 0) },
  ];
}

describe('PDU codec round trips', () => {
  it.each(examples().map((e) => [`${e.kind}${e.header?.drep ? ' (big-endian)' : ''}`, e] as const))('%s', (_name, init) => {
    const bytes = encodePdu(init);
    const d = decodePdu(bytes);
    expect(d.kind).toBe(init.kind);
    expect(d.header.fragLength).toBe(bytes.length);
    expect(d.header.callId).toBe(init.header?.callId ?? 0);
    const { header: _h, ...want } = init;
    expect(body(d)).toEqual(want);
    expect(toHex(encodePdu({ ...d } as PduInit))).toBe(toHex(bytes));
  });

  it('reads big-endian headers and bodies (drep 00 00 00 00)', () => {
    const bytes = encodePdu({ kind: 'request', header: { callId: 0x01020304, drep: [0, 0, 0, 0] }, allocHint: 0x0a0b0c0d, contextId: 1, opnum: 8, stubAndVerifier: new Uint8Array(0) });
    expect(toHex(bytes.subarray(8, 24))).toBe('0018000001020304' + '0a0b0c0d00010008');
    expect(peekFragLength(bytes)).toBe(24);
    const d = decodePdu(bytes);
    expect(d.kind === 'request' && [d.header.callId, d.allocHint, d.opnum]).toEqual([0x01020304, 0x0a0b0c0d, 8]);
  });

  it('secondary address length counts the NUL; empty address has length 0 and pads 26 -> 28', () => {
    const withAddr = encodePdu({ kind: 'bind_ack', maxXmitFrag: 1, maxRecvFrag: 1, assocGroupId: 1, secondaryAddress: '135', results: [], authInfo: new Uint8Array(0) });
    expect(toHex(withAddr.subarray(24, 32))).toBe('0400313335000000');
    const empty = encodePdu({
      kind: 'alter_context_resp', maxXmitFrag: 1, maxRecvFrag: 1, assocGroupId: 1, secondaryAddress: '',
      results: [{ result: 0, reason: 0, transferSyntax: NDR20 }], authInfo: new Uint8Array(0),
    });
    expect(toHex(empty.subarray(24, 36))).toBe('0000' + '0000' + '01000000' + '00000000');
    expect(empty.length).toBe(56);
  });

  it('bind-time feature syntax text and bitmask', () => {
    expect(bindTimeFeatureSyntax(3)).toEqual(syntaxId('6cb71c2c-9812-4540-0300-000000000000', 1, 0));
    expect(bindTimeFeatures(syntaxId('6cb71c2c-9812-4540-0201-000000000000', 1, 0))).toBe(0x102n);
    expect(bindTimeFeatures(syntaxId('6cb71c2c-9812-4540-0300-000000000000', 1, 1))).toBeUndefined();
    expect(bindTimeFeatures(NDR20)).toBeUndefined();
  });
});

describe('decoder refusals (transport-level parse failures)', () => {
  const good = encodePdu({ kind: 'request', header: { callId: 2 }, allocHint: 0, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(0) });

  function codeOf(bytes: Uint8Array): string {
    try {
      decodePdu(bytes);
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(PduError);
      return (e as PduError).code;
    }
  }

  it('short input, frag_length mismatch, unknown PTYPE, truncated bodies', () => {
    expect(codeOf(good.subarray(0, 15))).toBe('SHORT');
    const longer = Uint8Array.from([...good, 0]);
    expect(codeOf(longer)).toBe('FRAG_LENGTH');
    const unknown = good.slice();
    unknown[2] = 21;
    expect(codeOf(unknown)).toBe('PTYPE');
    // A request needs 24 bytes (40 with an object UUID).
    const req20 = encodePdu({ kind: 'shutdown', header: { ptype: PTYPE.request }, body: new Uint8Array(4) });
    expect(codeOf(req20)).toBe('SHORT');
    const obj = good.slice();
    obj[3] = PFC_FIRST_LAST | PFC.OBJECT_UUID;
    expect(codeOf(obj)).toBe('SHORT');
    // A fault needs 32 bytes; a bind context list must fit.
    expect(codeOf(encodePdu({ kind: 'shutdown', header: { ptype: PTYPE.fault }, body: new Uint8Array(12) }))).toBe('SHORT');
    const bind = encodePdu({ kind: 'bind', maxXmitFrag: 1, maxRecvFrag: 1, assocGroupId: 0, contexts: [ctx(0)], authInfo: new Uint8Array(0) });
    const truncated = bind.slice(0, bind.length - 4);
    new DataView(truncated.buffer).setUint16(8, truncated.length, true);
    expect(codeOf(truncated)).toBe('SHORT');
    // fack: selack_size elements must be present.
    expect(codeOf(encodePdu({ kind: 'fack', body: Uint8Array.from([...new Uint8Array(18), 2, 0, 1, 2, 3, 4]) }))).toBe('SHORT');
  });

  it('header-only PDUs (frag_length 16) parse: co_cancel, orphaned, shutdown', () => {
    for (const kind of ['co_cancel', 'orphaned'] as const) {
      expect(decodePdu(encodePdu({ kind, authInfo: new Uint8Array(0) })).kind).toBe(kind);
    }
    expect(decodePdu(encodePdu({ kind: 'shutdown', body: new Uint8Array(0) })).kind).toBe('shutdown');
  });

  it('decodeHeader reads only the header', () => {
    expect(decodeHeader(good).fragLength).toBe(24);
    expect(() => decodeHeader(good.subarray(0, 3))).toThrow(PduError);
  });
});

describe('verifyHeader (Samba dcerpc_verify_ncacn_packet_header)', () => {
  const base = decodePdu(encodePdu({ kind: 'request', allocHint: 0, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(20) })).header;
  it('accepts a normal header, big-endian too, and any pfc_flags', () => {
    expect(verifyHeader(base, PTYPE.request, 20)).toBeUndefined();
    expect(verifyHeader({ ...base, drep: [0, 0, 0, 0] }, PTYPE.request, 20)).toBeUndefined();
    expect(verifyHeader({ ...base, pfcFlags: 0xff }, PTYPE.request, 20)).toBeUndefined();
  });
  it('refuses version, PTYPE, EBCDIC, non-IEEE floats, reserved drep bytes, auth_length beyond the blob', () => {
    expect(verifyHeader({ ...base, rpcVers: 4 }, PTYPE.request, 20)).toMatch(/rpc_vers/);
    expect(verifyHeader({ ...base, rpcVersMinor: 1 }, PTYPE.request, 20)).toMatch(/minor/);
    expect(verifyHeader(base, PTYPE.bind, 20)).toMatch(/PTYPE/);
    expect(verifyHeader({ ...base, drep: [0x11, 0, 0, 0] }, PTYPE.request, 20)).toMatch(/drep/);
    expect(verifyHeader({ ...base, drep: [0x10, 1, 0, 0] }, PTYPE.request, 20)).toMatch(/drep/);
    expect(verifyHeader({ ...base, drep: [0x10, 0, 0, 1] }, PTYPE.request, 20)).toMatch(/drep/);
    expect(verifyHeader({ ...base, authLength: 12 }, PTYPE.request, 20)).toBeUndefined();
    expect(verifyHeader({ ...base, authLength: 13 }, PTYPE.request, 20)).toMatch(/auth_length/);
    expect(verifyHeader({ ...base, authLength: 1 }, PTYPE.request, 8)).toMatch(/auth_length/);
    expect(verifyHeader({ ...base, authLength: 45 }, PTYPE.request, 60)).toMatch(/frag_length/);
  });
});

describe('sec_trailer and auth pad (§8)', () => {
  const hdr = (fragLength: number, authLength: number) => ({
    rpcVers: 5, rpcVersMinor: 0, ptype: 0, pfcFlags: 3, drep: [0x10, 0, 0, 0] as const, fragLength, authLength, callId: 1,
  });

  it('parses a request verifier with pad and strips it', () => {
    const stub = Uint8Array.of(1, 2, 3, 4, 5);
    const pad = authPadFor(stub.length);
    expect(pad).toBe(11);
    const v = buildAuthVerifier({ authType: 10, authLevel: 6, authContextId: 0x01020304, credentials: new Uint8Array(16).fill(7), padBytes: pad });
    const blob = Uint8Array.from([...stub, ...v]);
    const r = pullAuthTrailer(hdr(24 + blob.length, 16), blob, false);
    expect(r.trailerLength).toBe(24);
    expect(r.auth).toMatchObject({ authType: 10, authLevel: 6, authPadLength: 11, authContextId: 0x01020304 });
    expect(r.auth.credentials.length).toBe(16);
  });

  it('bind/alter/auth3: the bytes before the sec_trailer must equal auth_pad_length', () => {
    const v = buildAuthVerifier({ authType: 10, authLevel: 2, authContextId: 0, credentials: new Uint8Array(8), padBytes: 4 });
    expect(pullAuthTrailer(hdr(28 + v.length, 8), v, true).auth.authPadLength).toBe(4);
    const lying = buildAuthVerifier({ authType: 10, authLevel: 2, authContextId: 0, credentials: new Uint8Array(8), padBytes: 4, authPadLength: 0 });
    expect(() => pullAuthTrailer(hdr(28 + lying.length, 8), lying, true)).toThrow(/auth_pad_length/);
    // A pad length with no pad bytes is ignored there (old Samba clients).
    const ghost = buildAuthVerifier({ authType: 10, authLevel: 2, authContextId: 0, credentials: new Uint8Array(8), authPadLength: 4 });
    expect(pullAuthTrailer(hdr(28 + ghost.length, 8), ghost, true).auth.authPadLength).toBe(0);
    // But not on requests, where it must fit.
    expect(() => pullAuthTrailer(hdr(24 + ghost.length, 8), ghost, false)).toThrow(PduError);
  });

  it('refuses a verifier that does not fit', () => {
    expect(() => pullAuthTrailer(hdr(40, 16), new Uint8Array(20), false)).toThrow(PduError);
    expect(() => pullAuthTrailer(hdr(30, 0), new Uint8Array(20), false)).toThrow(PduError);
  });
});

describe('decoders are total (property tests)', () => {
  const seeds = examples().map((e) => encodePdu(e));

  function totalDecode(bytes: Uint8Array): void {
    try {
      const d = decodePdu(bytes);
      expect(d.header.fragLength).toBe(bytes.length);
    } catch (e) {
      if (!(e instanceof PduError)) throw e;
    }
  }

  it('random bytes decode or raise PduError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => totalDecode(b)), { numRuns: 2000 });
  });

  it('random bytes with a plausible header decode or raise PduError', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.uint8Array({ maxLength: 300 }),
      (ptype, flags, le, rest) => {
        const bytes = Uint8Array.from([5, 0, ptype, flags, le ? 0x10 : 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, ...rest]);
        new DataView(bytes.buffer).setUint16(8, bytes.length, le);
        totalDecode(bytes);
      }), { numRuns: 3000 });
  });

  it('mutated valid PDUs decode or raise PduError; auth trailer parsing is total too', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.boolean(),
      (i, edits, fixLength) => {
        const bytes = seeds[i]!.slice();
        for (const [at, v] of edits) bytes[at % bytes.length] = v;
        if (fixLength) new DataView(bytes.buffer).setUint16(8, bytes.length, (bytes[4]! & 0x10) !== 0);
        totalDecode(bytes);
        try {
          const d = decodePdu(bytes);
          const blob = 'authInfo' in d ? d.authInfo : 'stubAndVerifier' in d ? d.stubAndVerifier : new Uint8Array(0);
          pullAuthTrailer(d.header, blob, d.kind !== 'request');
        } catch (e) {
          if (!(e instanceof PduError)) throw e;
        }
      }), { numRuns: 3000 });
  });
});
