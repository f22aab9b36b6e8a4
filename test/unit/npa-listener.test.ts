import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeNpaReply } from '../../src/transport/npa-codec.js';
import { frameMessages, MessageDeframer } from '../../src/transport/npa-framing.js';
import { NpaListener, type NpaConnection, type RefusedEvent } from '../../src/transport/npa-listener.js';
import { fixturePath } from '../helpers/fixtures.js';
import { AssocGroupTable } from '../../src/dcerpc/assoc-group.js';
import { bind, InterfaceRegistry, type CallContext } from '../../src/dcerpc/interface.js';
import { FSRVP_PIPE, FSRVP_UUID } from '../../src/fsrvp/codes.js';
import { GetSupportedVersion } from '../../src/fsrvp/idl.js';
import { attachRpcStream } from '../../src/transport/stream.js';
import { NpaPipeClient } from '../../tools/lib/npa-pipe-client.js';

const sample = readFileSync(fixturePath('npa_req_level7.bin'));

let dir: string;
const listeners: NpaListener[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npa-listener-'));
});
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
  await rm(dir, { recursive: true, force: true });
});

/** An echo session: every pushed chunk comes back as one PDU, reversed. */
async function startEcho(extra: Partial<Parameters<typeof NpaListener.start>[0]> = {}) {
  const conns: NpaConnection[] = [];
  const ended: number[] = [];
  const l = await NpaListener.start({
    socketDir: dir,
    onConnection: (c) => {
      conns.push(c);
      return { push: (b) => c.send(Buffer.from(b).reverse()), end: () => ended.push(c.id) };
    },
    ...extra,
  });
  listeners.push(l);
  const refused: RefusedEvent[] = [];
  l.on('refused', (e: RefusedEvent) => refused.push(e));
  return { l, conns, ended, refused };
}

/** Reads from a socket until `n` bytes arrived or it closed; resolves with what came. */
function readBytes(s: Socket, n: number, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let have = 0;
    const done = (): void => {
      clearTimeout(t);
      s.off('data', onData);
      resolve(Buffer.concat(got));
    };
    const onData = (b: Buffer): void => {
      got.push(b);
      have += b.length;
      if (have >= n) done();
    };
    const t = setTimeout(done, timeoutMs);
    s.on('data', onData);
    s.once('close', done);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

async function open(path: string): Promise<Socket> {
  const s = connect(path);
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  return s;
}

describe('npa listener', () => {
  it('creates np/ 0700 and a 0700 socket, answers the handshake, then carries messages', async () => {
    const { l, conns, ended } = await startEcho();
    expect(l.path).toBe(join(dir, 'np', 'fssagentrpc'));
    expect((await stat(join(dir, 'np'))).mode & 0o777).toBe(0o700);
    expect((await stat(l.path)).mode & 0o777).toBe(0o700);

    const s = await open(l.path);
    // the handshake arrives in two pieces, the first message right behind it
    s.write(sample.subarray(0, 3));
    s.write(Buffer.concat([sample.subarray(3), frameMessages(Uint8Array.of(1, 2, 3))[0]!]));
    const rep = await readBytes(s, 36 + 5);
    expect(decodeNpaReply(rep.subarray(0, 36))).toEqual({ level: 7, fileType: 2, deviceState: 0x05ff, allocationSize: 4096n, status: 0 });
    expect([...rep.subarray(36)]).toEqual([3, 0, 3, 2, 1]);
    expect(conns[0]!.caller.accountName).toBe('fsrvpuser');
    expect(conns[0]!.caller.privilegeMask).toBe(0x280n);
    expect(conns[0]!.details.clientPort).toBe(50048);

    const d = new MessageDeframer();
    const reply = readBytes(s, 2 + 300);
    s.write(frameMessages(new Uint8Array(300).fill(7))[0]!);
    expect(d.push(await reply)[0]!.length).toBe(300);
    expect(l.connections).toBe(1);
    s.end();
    await closed(s);
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toEqual([conns[0]!.id]);
  });

  it('serves several pipe handles at once, each with its own session', async () => {
    const { l, conns } = await startEcho();
    const socks = await Promise.all([1, 2, 3].map(() => open(l.path)));
    for (const s of socks) s.write(sample);
    await Promise.all(socks.map((s) => readBytes(s, 36)));
    expect(new Set(conns.map((c) => c.id)).size).toBe(3);
    for (const s of socks) s.destroy();
  });

  it('byte mode: file_type 1 and raw bytes', async () => {
    const { l } = await startEcho({ mode: 'byte' });
    const s = await open(l.path);
    s.write(sample);
    expect(decodeNpaReply(await readBytes(s, 36)).fileType).toBe(1);
    const back = readBytes(s, 3);
    s.write(Uint8Array.of(9, 8, 7));
    expect([...(await back)]).toEqual([7, 8, 9]);
    s.destroy();
  });

  it('closes a malformed handshake without a reply and says why', async () => {
    const { l, refused, conns } = await startEcho();
    const bad = Buffer.from(sample);
    bad[4] = 0x58; // magic
    const s = await open(l.path);
    s.write(bad);
    expect((await readBytes(s, 1)).length).toBe(0);
    await closed(s);
    expect(conns).toHaveLength(0);
    expect(refused[0]!.reason).toMatch(/malformed named_pipe_auth_req.*magic/);
  });

  it('refuses an oversized handshake before reading it', async () => {
    const { l, refused } = await startEcho({ maxHandshake: 512 });
    const s = await open(l.path);
    s.write(sample.subarray(0, 8));
    await closed(s);
    expect(refused[0]!.reason).toMatch(/742 bytes exceeds 512/);
  });

  it('times out a silent client', async () => {
    const { l, refused } = await startEcho({ handshakeTimeoutMs: 100 });
    const s = await open(l.path);
    s.write(sample.subarray(0, 100));
    await closed(s);
    expect(refused[0]!.reason).toBe('handshake timed out');
  });

  it('applies an admission policy and logs the refused caller', async () => {
    const { l, refused } = await startEcho({ admit: (c) => (c.uid === 999 ? 'uid 999 is not allowed here' : undefined) });
    const s = await open(l.path);
    s.write(sample);
    expect((await readBytes(s, 1)).length).toBe(0);
    expect(refused[0]).toMatchObject({ reason: 'uid 999 is not allowed here', caller: { accountName: 'fsrvpuser' } });
  });

  it('removes a stale socket, refuses a live one and a non-socket', async () => {
    const np = join(dir, 'np');
    await mkdir(np, { mode: 0o700 });
    // stale: a socket file nobody listens on
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(np, 'fssagentrpc'), r));
    await new Promise<void>((r) => stale.close(() => r()));
    await writeFile(join(dir, 'marker'), '');
    const { l } = await startEcho();
    await l.close();
    listeners.length = 0;
    // live
    const live = createServer();
    await new Promise<void>((r) => live.listen(join(np, 'fssagentrpc'), r));
    await expect(NpaListener.start({ socketDir: dir, onConnection: () => ({ push() {}, end() {} }) })).rejects.toThrow(/another server/);
    await new Promise<void>((r) => live.close(() => r()));
    // a symlink (e.g. to Samba's own rpcd_fsrvp socket) is not ours to remove
    await symlink('/nonexistent', join(np, 'fssagentrpc'));
    await expect(NpaListener.start({ socketDir: dir, onConnection: () => ({ push() {}, end() {} }) })).rejects.toThrow(/not a socket/);
  });

  it('refuses an np/ directory with loose permissions or another owner', async () => {
    const np = join(dir, 'np');
    await mkdir(np);
    await chmod(np, 0o755);
    const start = () => NpaListener.start({ socketDir: dir, onConnection: () => ({ push() {}, end() {} }) });
    await expect(start()).rejects.toThrow(/mode 755; it must be 0700/);
    await chmod(np, 0o700);
    await chown(np, 65534, 65534);
    await expect(start()).rejects.toThrow(/owned by uid 65534/);
  });

  it('tells the session when the socket dies, and ends it when smbd closes in order', async () => {
    const events: string[] = [];
    const l = await NpaListener.start({
      socketDir: dir,
      onConnection: (c) => ({ push() {}, end: () => events.push(`end ${c.id}`), destroy: () => events.push(`destroy ${c.id}`) }),
    });
    listeners.push(l);
    const a = await open(l.path);
    a.write(sample);
    await readBytes(a, 36);
    a.end();
    await closed(a);
    const b = await open(l.path);
    b.write(sample);
    await readBytes(b, 36);
    await l.close();
    await closed(b);
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['end 1', 'destroy 2']);
  });

  it('carries DCE/RPC to the registry with the forwarded caller (attachRpcStream)', async () => {
    const seen: CallContext[] = [];
    const registry = new InterfaceRegistry().register({
      name: 'FileServerVssAgent', uuid: FSRVP_UUID, version: { major: 1, minor: 0 },
      operations: [bind(GetSupportedVersion, (_req, ctx) => {
        seen.push(ctx);
        return { MinVersion: 1, MaxVersion: 1, result: 0 };
      })],
    });
    const groups = new AssocGroupTable();
    const l = await NpaListener.start({
      socketDir: dir,
      onConnection: (conn) => attachRpcStream({
        registry, caller: conn.caller, secondaryAddress: FSRVP_PIPE, groups, connectionId: conn.id,
        send: (pdu) => conn.send(pdu), close: () => conn.close(), backpressure: (p) => conn.setPaused(p),
      }),
    });
    listeners.push(l);
    const c = await NpaPipeClient.open(l.path, sample);
    try {
      await c.bind();
      expect(await c.call(GetSupportedVersion, {})).toEqual({ MinVersion: 1, MaxVersion: 1, result: 0 });
      expect(await c.call(GetSupportedVersion, {})).toMatchObject({ result: 0 });
    } finally {
      c.close();
    }
    expect(seen).toHaveLength(2);
    expect(seen[0]!.caller).toMatchObject({ source: 'npa', accountName: 'fsrvpuser', uid: 999, privilegeMask: 0x280n, clientAddress: '127.0.0.1' });
  });
});
