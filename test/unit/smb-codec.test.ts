/**
 * SMB2 codec: request layouts (offsets from the header, alignment of the 3.1.1 negotiate
 * contexts), decoders of hand-built responses, and totality: any bytes give a value or an
 * SmbError, never another exception (fast-check), also behind a valid header and StructureSize.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SmbError, SmbStatusError, NT_STATUS } from '../../src/smb/errors.js';
import { COMMAND, HDR_FLAGS, HEADER_SIZE, decodeHeader, encodeHeader, dialectName } from '../../src/smb/header.js';
import {
  NEG_CTX, chosenId, decodeNegotiateResponse, decodePreauthContext, encodeNegotiateRequest, listContext, preauthContext,
} from '../../src/smb/negotiate.js';
import {
  decodeCloseResponse, decodeCreateResponse, decodeEmpty4, decodeErrorResponse, decodeIoctlResponse, decodeReadResponse,
  decodeSessionSetupResponse, decodeTreeConnectResponse, decodeWriteResponse, encodeCreateRequest, encodeIoctlRequest,
  encodeReadRequest, encodeSessionSetupRequest, encodeTreeConnectRequest, encodeWriteRequest, FSCTL_PIPE_TRANSCEIVE,
} from '../../src/smb/messages.js';
import { decodeTransformHeader, decryptMessage, CIPHER } from '../../src/smb/encryption.js';
import { Reader } from '../../src/smb/wire.js';
import { encodeValidateInput, validateNegotiate } from '../../src/smb/validate.js';
import type { Negotiated } from '../../src/smb/session.js';
import type { Response } from '../../src/smb/connection.js';

const msgOf = (body: Uint8Array, command: number = COMMAND.READ, status = 0): Uint8Array =>
  new Uint8Array([...encodeHeader({ command, messageId: 7n, status, flags: HDR_FLAGS.SERVER_TO_REDIR }), ...body]);

const decoders: Array<[string, (m: Uint8Array) => unknown]> = [
  ['header', decodeHeader],
  ['NEGOTIATE', decodeNegotiateResponse],
  ['SESSION_SETUP', decodeSessionSetupResponse],
  ['TREE_CONNECT', decodeTreeConnectResponse],
  ['CREATE', decodeCreateResponse],
  ['CLOSE', decodeCloseResponse],
  ['READ', decodeReadResponse],
  ['WRITE', decodeWriteResponse],
  ['IOCTL', decodeIoctlResponse],
  ['ERROR', decodeErrorResponse],
  ['LOGOFF', (m) => decodeEmpty4(m, 'LOGOFF')],
  ['TRANSFORM', decodeTransformHeader],
  ['decrypt', (m) => decryptMessage(CIPHER.AES_128_GCM, new Uint8Array(16), m)],
  ['preauth context', (m) => decodePreauthContext({ type: 1, data: m })],
  ['chosen id', (m) => chosenId({ type: 2, data: m }, 'cipher')],
];
const sizes: Record<string, number> = { NEGOTIATE: 65, SESSION_SETUP: 9, TREE_CONNECT: 16, CREATE: 89, CLOSE: 60, READ: 17, WRITE: 17, IOCTL: 49, ERROR: 9, LOGOFF: 4 };

function onlySmbError(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof SmbError;
  }
}

describe('SMB2 decoders are total', () => {
  it('random bytes: a value or an SmbError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => decoders.every(([, d]) => onlySmbError(() => d(b)))), { numRuns: 2000 });
  });
  it('random bodies behind a valid header with the right StructureSize', () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(sizes)), fc.uint8Array({ minLength: 2, maxLength: 300 }), (name, rest) => {
      const b = new Uint8Array(rest);
      new DataView(b.buffer).setUint16(0, sizes[name] as number, true);
      if (name === 'NEGOTIATE' && b.length > 6) new DataView(b.buffer).setUint16(4, 0x0311, true);
      const m = msgOf(b);
      const d = decoders.find(([n]) => n === name)![1];
      return onlySmbError(() => d(m));
    }), { numRuns: 3000 });
  });
  it('a short or foreign header is an SmbError that says so', () => {
    expect(() => decodeHeader(new Uint8Array(10))).toThrow(/shorter than the SMB2 header/);
    const smb1 = new Uint8Array(64);
    smb1.set([0xff, 0x53, 0x4d, 0x42]);
    expect(() => decodeHeader(smb1)).toThrow(/SMB1/);
  });
  it('a buffer offset into the header or past the end is refused', () => {
    const body = new Uint8Array(16);
    new DataView(body.buffer).setUint16(0, 17, true);
    body[2] = 10; // DataOffset inside the header
    new DataView(body.buffer).setUint32(4, 4, true);
    expect(() => decodeReadResponse(msgOf(body))).toThrow(SmbError);
    body[2] = 80;
    new DataView(body.buffer).setUint32(4, 400, true);
    expect(() => decodeReadResponse(msgOf(body))).toThrow(SmbError);
  });
});

describe('SMB2 request layouts', () => {
  it('header round trip, sync and async', () => {
    const h = decodeHeader(encodeHeader({ command: COMMAND.IOCTL, messageId: 0x1122334455n, sessionId: 9n, treeId: 5, credits: 3, creditCharge: 2 }));
    expect(h).toMatchObject({ command: COMMAND.IOCTL, messageId: 0x1122334455n, sessionId: 9n, treeId: 5, credits: 3, creditCharge: 2 });
    const a = decodeHeader(encodeHeader({ command: COMMAND.READ, messageId: 1n, flags: HDR_FLAGS.ASYNC_COMMAND, asyncId: 0xabcdefn }));
    expect(a.asyncId).toBe(0xabcdefn);
    expect(a.treeId).toBe(0);
  });
  it('NEGOTIATE: dialects, then 8-aligned contexts at the offset announced', () => {
    const ctx = [preauthContext(new Uint8Array(32)), listContext(NEG_CTX.ENCRYPTION, [2, 1]), listContext(NEG_CTX.SIGNING, [2, 1])];
    const b = encodeNegotiateRequest({ dialects: [0x0202, 0x0210, 0x0300, 0x0302, 0x0311], securityMode: 1, capabilities: 0x44, clientGuid: new Uint8Array(16), contexts: ctx });
    const r = new Reader(b);
    expect(r.u16(0)).toBe(36);
    expect(r.u16(2)).toBe(5);
    expect(r.u16(32)).toBe(3);
    const off = r.u32(28) - HEADER_SIZE;
    expect(off % 8).toBe(0);
    expect(off).toBe(48); // 36 + 10 dialect bytes, aligned
    expect(r.u16(off)).toBe(NEG_CTX.PREAUTH_INTEGRITY);
    expect(r.u16(off + 2)).toBe(38);
    const second = off + 8 + 38 + 2; // aligned to 8
    expect(r.u16(second)).toBe(NEG_CTX.ENCRYPTION);
    expect(r.u16(second + 8)).toBe(2);
  });
  it('buffer offsets of SESSION_SETUP, TREE_CONNECT, CREATE, READ, WRITE, IOCTL', () => {
    expect(new Reader(encodeSessionSetupRequest(1, 0, new Uint8Array(5))).u16(12)).toBe(88);
    const tc = new Reader(encodeTreeConnectRequest('\\\\h\\IPC$'));
    expect([tc.u16(4), tc.u16(6)]).toEqual([72, 16]);
    const cr = new Reader(encodeCreateRequest({ name: 'FssagentRpc', desiredAccess: 1, shareAccess: 3, disposition: 1, options: 0, impersonation: 2 }));
    expect([cr.u16(0), cr.u16(44), cr.u16(46), cr.length]).toEqual([57, 120, 22, 56 + 22]);
    expect(new Reader(encodeReadRequest({ fileId: { persistent: 1n, volatile: 2n }, length: 100, offset: 0n })).length).toBe(49);
    const wr = new Reader(encodeWriteRequest({ persistent: 1n, volatile: 2n }, 0n, new Uint8Array(9)));
    expect([wr.u16(2), wr.u32(4), wr.length]).toEqual([112, 9, 57]);
    const io = new Reader(encodeIoctlRequest(FSCTL_PIPE_TRANSCEIVE, { persistent: 1n, volatile: 2n }, new Uint8Array(7), 4096));
    expect([io.u32(4), io.u32(24), io.u32(28), io.u32(44), io.u32(48)]).toEqual([0x0011c017, 120, 7, 4096, 1]);
  });
  it('a NEGOTIATE response with contexts decodes', () => {
    const body = new Uint8Array(64 + 8 + 38 + 2 + 8 + 4);
    const dv = new DataView(body.buffer);
    dv.setUint16(0, 65, true);
    dv.setUint16(4, 0x0311, true);
    dv.setUint16(6, 2, true);
    dv.setUint32(60, HEADER_SIZE + 64, true);
    dv.setUint16(64, 1, true);
    dv.setUint16(66, 38, true);
    dv.setUint16(72, 1, true);
    dv.setUint16(74, 32, true);
    dv.setUint16(76, 1, true);
    dv.setUint16(112, 2, true);
    dv.setUint16(114, 4, true);
    dv.setUint16(120, 1, true);
    dv.setUint16(122, 4, true);
    const n = decodeNegotiateResponse(msgOf(body, COMMAND.NEGOTIATE));
    expect(n.dialect).toBe(0x0311);
    expect(n.contexts.map((c) => c.type)).toEqual([1, 2]);
    expect(decodePreauthContext(n.contexts[0]!).hashes).toEqual([1]);
    expect(chosenId(n.contexts[1]!, 'cipher')).toBe(4);
  });
});

describe('typed status errors', () => {
  it('explain what went wrong', () => {
    const e = new SmbStatusError(NT_STATUS.LOGON_FAILURE, 'session setup');
    expect(e.message).toBe('SMB2: session setup: logon failed: unknown user name or wrong password (STATUS_LOGON_FAILURE)');
    expect(e.is('LOGON_FAILURE')).toBe(true);
    expect(new SmbStatusError(NT_STATUS.BAD_NETWORK_NAME, 'tree connect').message).toMatch(/no such share/);
    expect(new SmbStatusError(0xc0001234, 'x').statusName).toBe('0xc0001234');
    expect(dialectName(0x0311)).toBe('3.1.1');
    expect(dialectName(0x0210)).toBe('2.1');
  });
});

describe('FSCTL_VALIDATE_NEGOTIATE_INFO', () => {
  const server = { securityMode: 1, dialect: 0x0302, serverGuid: new Uint8Array(16).fill(9), capabilities: 0x45, maxTransactSize: 0, maxReadSize: 0, maxWriteSize: 0, securityBuffer: new Uint8Array(0), contexts: [] };
  const neg = {
    dialect: 0x0302, server, serverRequiresSigning: false, cipher: undefined, signingAlg: 1, preauthHash: undefined, options: {}, securityMode: 1,
    sent: { capabilities: 0x44, clientGuid: new Uint8Array(16).fill(3), dialects: [0x0202, 0x0302] },
  } as unknown as Negotiated;
  const answer = (out: Uint8Array, status = 0) => async (): Promise<Response> => {
    const body = new Uint8Array(48 + out.length);
    const dv = new DataView(body.buffer);
    dv.setUint16(0, 49, true);
    dv.setUint32(4, 0x00140204, true);
    dv.setUint32(32, 64 + 48, true);
    dv.setUint32(36, out.length, true);
    body.set(out, 48);
    return { header: decodeHeader(encodeHeader({ command: COMMAND.IOCTL, messageId: 1n, status })), msg: msgOf(body, COMMAND.IOCTL, status), request: new Uint8Array(0) };
  };
  const good = (): Uint8Array => {
    const o = new Uint8Array(24);
    const dv = new DataView(o.buffer);
    dv.setUint32(0, 0x45, true);
    o.set(server.serverGuid, 4);
    dv.setUint16(20, 1, true);
    dv.setUint16(22, 0x0302, true);
    return o;
  };
  it('input: our capabilities, client GUID, security mode and dialects', () => {
    expect(Buffer.from(encodeValidateInput(neg)).toString('hex')).toBe(`44000000${'03'.repeat(16)}010002000202` + '0203');
  });
  it('accepts the server repeating its NEGOTIATE answer, refuses any difference or a failure', async () => {
    await expect(validateNegotiate(neg, answer(good()))).resolves.toBeUndefined();
    const bad = good();
    bad[22] = 0x00; // dialect 0x0300: a downgrade
    await expect(validateNegotiate(neg, answer(bad))).rejects.toThrow(/differs/);
    await expect(validateNegotiate(neg, answer(good().subarray(0, 20)))).rejects.toThrow(SmbError);
    await expect(validateNegotiate(neg, answer(new Uint8Array(0), NT_STATUS.ACCESS_DENIED))).rejects.toThrow(/tampered/);
  });
});
