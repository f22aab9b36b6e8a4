/**
 * SmbConnection against a scripted loopback server: interim STATUS_PENDING answers, credits
 * (a request waits for granted credits; CreditCharge of large I/O), signature checks on a
 * signed session, garbage and hang-ups; and RpcClient over a PduTransport (partial chunks,
 * transport errors surfaced as themselves).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmbConnection, type SessionCrypto } from '../../src/smb/connection.js';
import { COMMAND, HDR_FLAGS, decodeHeader, encodeHeader, type Smb2Header } from '../../src/smb/header.js';
import { NT_STATUS, SmbConnectionError, SmbError, SmbSecurityError } from '../../src/smb/errors.js';
import { SIGNING_ALG, signMessage, verifySignature } from '../../src/smb/signing.js';
import { CIPHER, NonceSource, decryptMessage, encryptMessage } from '../../src/smb/encryption.js';
import { RpcClient, RpcClientError } from '../../src/dcerpc/client.js';
import type { PduTransport } from '../../src/dcerpc/transport.js';
import { encodePdu } from '../../src/dcerpc/pdu.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';

type Reply = (req: Smb2Header, msg: Uint8Array, send: (m: Uint8Array) => void) => void;

const frame = (m: Uint8Array): Buffer => {
  const b = Buffer.alloc(4 + m.length);
  b.writeUInt32BE(m.length, 0);
  Buffer.from(m).copy(b, 4);
  return b;
};
const response = (req: Smb2Header, over: Partial<Smb2Header> = {}, body = new Uint8Array([4, 0, 0, 0])): Uint8Array =>
  new Uint8Array([...encodeHeader({
    command: req.command, messageId: req.messageId, sessionId: req.sessionId, credits: 1, ...over,
    flags: HDR_FLAGS.SERVER_TO_REDIR | (over.flags ?? 0),
  }), ...body]);

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(reply: Reply): Promise<SmbConnection> {
  server = createServer((s) => {
    sockets.push(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const m = new Uint8Array(buf.subarray(4, 4 + buf.readUInt32BE(0)));
        buf = buf.subarray(4 + m.length);
        // An encrypted request (0xFD 'SMB') is the test's to decrypt; its header is passed as read from inside.
        const h = m[0] === 0xfd ? decodeHeader(new Uint8Array(64).fill(0).map((_, i) => [0xfe, 0x53, 0x4d, 0x42, 64][i] ?? 0)) : decodeHeader(m);
        reply(h, m, (out) => s.write(frame(out)));
      }
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server!.address() as { port: number }).port;
  return SmbConnection.open('127.0.0.1', port);
}

const key = new Uint8Array(16).fill(7);
const signedSession = (): SessionCrypto => ({ sessionId: 5n, signing: true, signingAlg: SIGNING_ALG.AES_CMAC, signingKey: key, encryptAll: false, nonces: new NonceSource() });

describe('SmbConnection', () => {
  it('waits through an interim STATUS_PENDING answer for the final one', async () => {
    const conn = await serve((req, _m, send) => {
      send(response(req, { status: NT_STATUS.PENDING, flags: HDR_FLAGS.ASYNC_COMMAND, asyncId: 42n }));
      setTimeout(() => send(response(req, { status: NT_STATUS.SUCCESS })), 30);
    });
    const r = await conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]));
    expect(r.header.status).toBe(NT_STATUS.SUCCESS);
    await conn.close();
  });

  it('honours credits: message ids advance by the charge, a request waits for granted credits', async () => {
    const seen: Smb2Header[] = [];
    const conn = await serve((req, _m, send) => {
      seen.push(req);
      setTimeout(() => send(response(req, { credits: seen.length === 1 ? 10 : 1 })), 20);
    });
    conn.multiCredit = true;
    expect(conn.chargeFor(200_000, 0)).toBe(4);
    const first = conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]));
    // Only one credit to start with: the second request waits for the first's grant.
    const second = conn.request(COMMAND.WRITE, new Uint8Array([4, 0, 0, 0]), { payloadSize: 200_000 });
    await Promise.all([first, second]);
    expect(seen.map((h) => [h.messageId, h.creditCharge])).toEqual([[0n, 1], [1n, 4]]);
    expect(seen[1]!.credits).toBeGreaterThanOrEqual(4);
    expect(conn.availableCredits).toBe(10 - 4 + 1);
    await conn.close();
  });

  it('a request needing more credits than can ever come is an SmbError', async () => {
    const conn = await serve(() => {});
    conn.multiCredit = true;
    await expect(conn.request(COMMAND.READ, new Uint8Array(4), { responseSize: 300_000 })).rejects.toThrow(/credits/);
    await conn.close();
  });

  it('signs requests of a signed session and checks the responses', async () => {
    let mode: 'good' | 'bad' | 'unsigned' = 'good';
    const conn = await serve((req, m, send) => {
      expect(verifySignature(SIGNING_ALG.AES_CMAC, key, m)).toBe(true);
      expect(req.flags & HDR_FLAGS.SIGNED).toBe(HDR_FLAGS.SIGNED);
      const out = response(req);
      if (mode !== 'unsigned') signMessage(SIGNING_ALG.AES_CMAC, key, out);
      if (mode === 'bad') out[66] = (out[66] as number) ^ 1;
      send(out);
    });
    conn.addSession(signedSession());
    await expect(conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]), { sessionId: 5n })).resolves.toBeDefined();
    mode = 'bad';
    await expect(conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]), { sessionId: 5n })).rejects.toThrow(SmbSecurityError);
    mode = 'unsigned';
    await expect(conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]), { sessionId: 5n })).rejects.toThrow(/not signed/);
    await conn.close();
  });

  it('an encrypted session: requests go out sealed, a plaintext answer is refused, a sealed one accepted', async () => {
    const c2s = new Uint8Array(16).fill(1);
    const s2c = new Uint8Array(16).fill(2);
    let sealReply = false;
    const conn = await serve((_h, m, send) => {
      expect(m.length).toBe(52 + 68); // the transform header saw to it that the raw header is hidden
      const plain = decryptMessage(CIPHER.AES_128_GCM, c2s, m);
      const req = decodeHeader(plain);
      expect(req.flags & HDR_FLAGS.SIGNED).toBe(0);
      const out = response(req);
      send(sealReply ? encryptMessage(CIPHER.AES_128_GCM, s2c, 5n, out, new NonceSource()) : out);
    });
    conn.addSession({ ...signedSession(), encryptAll: true, cipher: CIPHER.AES_128_GCM, encryptionKey: c2s, decryptionKey: s2c });
    await expect(conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]), { sessionId: 5n })).rejects.toThrow(/not encrypted/);
    sealReply = true;
    await expect(conn.request(COMMAND.ECHO, new Uint8Array([4, 0, 0, 0]), { sessionId: 5n })).resolves.toBeDefined();
    await conn.close();
  });

  it('garbage from the server fails pending requests with an SmbError', async () => {
    const conn = await serve((_req, _m, send) => send(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])));
    const e = await conn.request(COMMAND.ECHO, new Uint8Array(4)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SmbError);
    expect(conn.isClosed).toBe(true);
  });

  it('a response to a message not outstanding, or for another command, is refused', async () => {
    const conn = await serve((req, _m, send) => send(response({ ...req, command: COMMAND.READ })));
    await expect(conn.request(COMMAND.ECHO, new Uint8Array(4))).rejects.toThrow(/READ response to a ECHO request/);
  });

  it('a hang-up is an SmbConnectionError', async () => {
    const conn = await serve(() => sockets[0]!.destroy());
    await expect(conn.request(COMMAND.ECHO, new Uint8Array(4))).rejects.toThrow(SmbConnectionError);
  });
});

describe('RpcClient over a PduTransport', () => {
  const bindAck = (callId: number): Uint8Array => encodePdu({
    kind: 'bind_ack', header: { callId }, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 9, secondaryAddress: '\\PIPE\\FssagentRpc',
    results: [{ result: 0, reason: 0, transferSyntax: NDR20 }], authInfo: new Uint8Array(0),
  } as Parameters<typeof encodePdu>[0]);

  it('frames PDUs from partial chunks and closes the transport', async () => {
    const out: Uint8Array[] = [];
    let closed = false;
    let queue: Uint8Array[] = [];
    const t: PduTransport = {
      send: async (b) => {
        out.push(b);
        const ack = bindAck(1);
        queue = [ack.subarray(0, 5), ack.subarray(5, 30), ack.subarray(30)];
      },
      receive: async () => queue.shift() ?? null,
      close: async () => {
        closed = true;
      },
    };
    const rpc = RpcClient.over(t);
    const ack = await rpc.bind({ contexts: [{ contextId: 0, abstractSyntax: syntaxId('a8e0653c-2744-4389-a61d-7373df8b2292', 1), transferSyntaxes: [NDR20] }] });
    expect(ack.kind).toBe('bind_ack');
    expect(out.length).toBe(1);
    await rpc.close();
    expect(closed).toBe(true);
  });

  it('a transport failure rejects the call with the transport’s own error', async () => {
    const t: PduTransport = {
      send: async () => {},
      receive: async () => {
        throw new SmbError('the pipe broke');
      },
      close: async () => {},
    };
    const rpc = RpcClient.over(t);
    await expect(rpc.readPdu(1000)).rejects.toThrow(/the pipe broke/);
    expect(rpc.isClosed).toBe(true);
    expect(() => rpc.endWrite()).toThrow(RpcClientError);
    await rpc.close();
  });
});

