/**
 * Talking to the agent's Samba socket the way smbd does, for tests: recording the
 * named_pipe_auth request smbd sends (captureHandshake), and a DCE/RPC client that replays it and
 * then speaks message-mode PDUs (NpaPipeClient).
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { PFC_FIRST_LAST } from '../../src/dcerpc/constants.js';
import type { Operation } from '../../src/dcerpc/interface.js';
import { decodePdu, encodePdu } from '../../src/dcerpc/pdu.js';
import type { Pdu } from '../../src/dcerpc/pdu-types.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import { FSRVP_UUID, FSRVP_VERSION } from '../../src/fsrvp/codes.js';
import { decode, encode } from '../../src/ndr/index.js';
import { decodeNpaReply, FILE_TYPE_MESSAGE_MODE_PIPE, NPA_REP_SIZE } from '../../src/transport/npa-codec.js';
import { frameMessages, MessageDeframer } from '../../src/transport/npa-framing.js';
import type { SambaHarness, SambaUser } from './samba-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Records the named_pipe_auth request smbd sends when `user` opens \PIPE\FssagentRpc (agent mode,
 * before the agent listens): a plain socket takes the handshake bytes and hangs up.
 */
export async function captureHandshake(h: SambaHarness, user: SambaUser): Promise<Uint8Array> {
  if (!h.socketDir) throw new Error('the harness is not in agent mode');
  const path = join(h.socketDir, 'np', 'fssagentrpc');
  let got: Uint8Array | undefined;
  const server = createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
        got = Uint8Array.from(all.subarray(0, 4 + all.readUInt32BE(0)));
        s.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await h.rpcclient('fss_get_sup_version', user);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(path, { force: true });
  }
  if (!got) throw new Error(`smbd sent no handshake for ${user.name}`);
  return got;
}

/**
 * A DCE/RPC client that talks to the agent's socket the way smbd does: the recorded
 * named_pipe_auth request, then message-mode PDUs. Binds FileServerVssAgent with NDR32.
 */
export class NpaPipeClient {
  private readonly deframer = new MessageDeframer();
  private readonly inbox: Buffer[] = [];
  private waiter: ((b: Buffer | null) => void) | undefined;
  private buffered: Buffer[] = [];
  private callId = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (b: Buffer) => this.buffered.push(b));
    socket.on('close', () => this.deliver(null));
  }

  static async open(path: string, handshake: Uint8Array): Promise<NpaPipeClient> {
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new NpaPipeClient(socket);
    socket.write(handshake);
    const rep = await c.readRaw(NPA_REP_SIZE);
    if (decodeNpaReply(rep).fileType !== FILE_TYPE_MESSAGE_MODE_PIPE) throw new Error('expected a message-mode pipe');
    socket.removeAllListeners('data');
    const rest = Buffer.concat(c.buffered);
    c.buffered = [];
    socket.on('data', (b: Buffer) => c.feed(b));
    if (rest.length > 0) c.feed(rest);
    return c;
  }

  private async readRaw(n: number): Promise<Buffer> {
    for (let i = 0; i < 100; i++) {
      const all = Buffer.concat(this.buffered);
      if (all.length >= n) {
        this.buffered = [all.subarray(n)];
        return all.subarray(0, n);
      }
      await sleep(20);
    }
    throw new Error('no named_pipe_auth reply');
  }

  private feed(b: Buffer): void {
    for (const m of this.deframer.push(b)) this.deliver(m);
  }

  private deliver(m: Buffer | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(m);
    else if (m) this.inbox.push(m);
  }

  private next(): Promise<Pdu> {
    const queued = this.inbox.shift();
    const got = queued ? Promise.resolve(queued) : new Promise<Buffer | null>((resolve) => {
      this.waiter = resolve;
    });
    return got.then((m) => {
      if (!m) throw new Error('pipe closed');
      return decodePdu(m);
    });
  }

  private send(pdu: Uint8Array): void {
    for (const m of frameMessages(pdu)) this.socket.write(m);
  }

  async bind(): Promise<void> {
    this.send(encodePdu({
      kind: 'bind',
      header: { callId: this.callId++, pfcFlags: PFC_FIRST_LAST },
      maxXmitFrag: 4280,
      maxRecvFrag: 4280,
      assocGroupId: 0,
      contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, FSRVP_VERSION.major, FSRVP_VERSION.minor), transferSyntaxes: [NDR20] }],
      authInfo: new Uint8Array(0),
    }));
    const ack = await this.next();
    if (ack.kind !== 'bind_ack') throw new Error(`bind answered with ${ack.kind}`);
  }

  /** Calls one operation (single-fragment request); returns the decoded response. */
  async call<Req, Res>(op: Operation<Req, Res>, req: Req): Promise<Res> {
    const callId = this.callId++;
    const stub = encode(op.request, req);
    this.send(encodePdu({
      kind: 'request',
      header: { callId, pfcFlags: PFC_FIRST_LAST },
      allocHint: stub.length,
      contextId: 0,
      opnum: op.opnum,
      stubAndVerifier: stub,
    }));
    const r = await this.next();
    if (r.kind !== 'response') throw new Error(`${op.name} answered with ${r.kind}`);
    return decode(op.response, r.stubAndVerifier).value;
  }

  close(): void {
    this.socket.destroy();
  }
}
