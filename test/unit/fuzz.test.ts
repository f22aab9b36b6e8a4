import { mkdtemp, rm } from 'node:fs/promises';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTarget, targetOpener, type TargetArgs } from '../../src/cli/target.js';
import { fuzzNdr, replayNdrFinding } from '../../src/fuzz/ndr-target.js';
import { fuzzServer } from '../../src/fuzz/server-target.js';
import { mutate } from '../../src/fuzz/mutate.js';
import { CANARY_CALL_ID, observe, planMessages } from '../../src/fuzz/server-delivery.js';
import { RpcClient } from '../../src/dcerpc/client.js';
import type { PduTransport } from '../../src/dcerpc/transport.js';
import { NT_STATUS, SmbConnectionError, SmbStatusError } from '../../src/smb/index.js';
import { encodePdu, peekFragLength } from '../../src/dcerpc/pdu.js';
import { Rng } from '../../src/ndr/index.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

describe('fuzzing the decoders in process', () => {
  it('finds nothing but NdrErrors in 20,000 mutated stubs, and is deterministic per seed', () => {
    const a = fuzzNdr(42, 20_000);
    expect(a.findings).toEqual([]);
    expect(a.decoded).toBeGreaterThan(1000);
    expect(a.rejected).toBeGreaterThan(1000);
    const b = fuzzNdr(42, 20_000);
    expect(b.byCode).toEqual(a.byCode);
  });

  it('mutates deterministically and replays recorded inputs', () => {
    const input = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(mutate(input, new Rng(9)).bytes).toEqual(mutate(input, new Rng(9)).bytes);
    expect(replayNdrFinding('GetShareMapping.in', 'ffffffff')).toBeUndefined();
    expect(replayNdrFinding('NoSuchOp.in', '00')).toContain('unknown target');
  });
});

describe('fuzzing a running agent over TCP', () => {
  let t: TempAgent;
  beforeAll(async () => {
    t = await startTempAgent();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('never hangs and never disturbs another connection', async () => {
    const r = await fuzzServer({ host: '127.0.0.1', port: t.port, seed: 1234, iterations: 150, timeoutMs: 3000 });
    expect(r.findings).toEqual([]);
    expect((r.replies.answered ?? 0) + (r.replies.closed ?? 0)).toBe(150);
    expect(r.replies.answered ?? 0).toBeGreaterThan(10);
    expect(r.replies.closed ?? 0).toBeGreaterThan(10);
  });
});

describe('fuzzing a running agent over its external pipe socket (--unix, as smbd)', () => {
  let t: TempAgent;
  let socket: string;
  let sock: string;
  beforeAll(async () => {
    sock = await mkdtemp(join(tmpdir(), 'fsrvp-fuzz-sock-'));
    socket = join(sock, 'np', 'fssagentrpc');
    t = await startTempAgent({ tweak: (c) => (c.listen.samba = { socketDir: sock, byteMode: false, minLevel: 'none' }) });
  });
  afterAll(async () => {
    await t?.stop();
    await rm(sock, { recursive: true, force: true });
  });

  it('never hangs, never disturbs another connection, and every finding-free case is answered or closed', async () => {
    const target: TargetArgs = { kind: 'unix', socket, caller: { uid: 0, gid: 0, sids: [] } };
    const opener = targetOpener(target, undefined);
    const r = await fuzzServer({ open: (ms) => opener.open(ms), transport: 'unix', address: describeTarget(target), seed: 1234, iterations: 150, timeoutMs: 3000, batch: 25 });
    expect(r.findings).toEqual([]);
    expect(r.canaryAlive).toBe(true);
    expect((r.replies.answered ?? 0) + (r.replies.closed ?? 0)).toBe(150);
    expect(r.replies.answered ?? 0).toBeGreaterThan(10);
    expect(r.replies.closed ?? 0).toBeGreaterThan(10);
    expect(r.delivery.padded).toBeGreaterThan(0);
  });
});

describe('cutting a case into pipe messages', () => {
  const canary = encodePdu({ kind: 'request', header: { callId: CANARY_CALL_ID, pfcFlags: 3 }, allocHint: 0, contextId: 0, opnum: 0, stubAndVerifier: new Uint8Array(0) });
  const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(p)));

  it('sends whole frames that carry the case bytes, then zero filler, then a second canary only when the first was swallowed', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 4 }), (raw, lengths) => {
      // Give some of the PDUs a plausible little-endian header with an arbitrary frag_length.
      const pdus = raw.map((b, i) => {
        const l = lengths[i];
        if (l === undefined || b.length < 16) return b;
        const c = Uint8Array.from(b);
        c[4] = 0x10;
        c[8] = l & 0xff;
        c[9] = l >> 8;
        return c;
      });
      const p = planMessages(pdus, canary);
      const extra = p.filler > 0 && !p.broken;
      const body = extra ? p.messages.slice(0, -1) : p.messages;
      expect(concat(body).equals(Buffer.concat([concat([...pdus, canary]), Buffer.alloc(p.filler)]))).toBe(true);
      if (extra) expect(Buffer.from(p.messages.at(-1) as Uint8Array).equals(Buffer.from(canary))).toBe(true);
      for (const [i, m] of body.entries()) {
        if (p.broken && i === body.length - 1) expect(peekFragLength(m)).toBeLessThan(16);
        else expect(peekFragLength(m)).toBe(m.length);
      }
      expect(p.messages.every((m) => m.length > 0 && m.length <= 0xffff)).toBe(true);
    }), { numRuns: 500 });
  });

  it('a well-framed case goes as it is, one message per PDU, with no filler', () => {
    const p = planMessages([canary, new Uint8Array(0), canary], canary);
    expect(p).toMatchObject({ filler: 0, broken: false });
    expect(p.messages).toHaveLength(3);
  });
});

describe('reading a case\'s outcome', () => {
  const canary = encodePdu({ kind: 'response', header: { callId: CANARY_CALL_ID, pfcFlags: 3 }, allocHint: 0, contextId: 0, cancelCount: 0, reserved: 0, stubAndVerifier: new Uint8Array(0) });
  const other = encodePdu({ kind: 'response', header: { callId: 2, pfcFlags: 3 }, allocHint: 0, contextId: 0, cancelCount: 0, reserved: 0, stubAndVerifier: new Uint8Array(0) });
  /** A pipe that yields `chunks`, then does `then` (never answers, ends, or fails). */
  const pipe = (chunks: Uint8Array[], then: 'silence' | 'end' | Error): RpcClient => {
    const t: PduTransport = {
      send: async () => {},
      receive: () => {
        const c = chunks.shift();
        if (c !== undefined) return Promise.resolve(c);
        if (then === 'silence') return new Promise(() => {});
        return then === 'end' ? Promise.resolve(null) : Promise.reject(then);
      },
      close: async () => {},
    };
    return RpcClient.over(t);
  };

  it('answered, closed (end or a pipe status), hang after the deadline, and a session failure is an error', async () => {
    expect(await observe(pipe([other, canary], 'silence'), Date.now() + 1000)).toBe('answered');
    expect(await observe(pipe([other], 'end'), Date.now() + 1000)).toBe('closed');
    for (const st of [NT_STATUS.PIPE_BROKEN, NT_STATUS.PIPE_DISCONNECTED, NT_STATUS.CONNECTION_DISCONNECTED, NT_STATUS.CONNECTION_RESET]) {
      expect(await observe(pipe([], new SmbStatusError(st, 'read from FssagentRpc')), Date.now() + 1000)).toBe('closed');
    }
    const started = Date.now();
    expect(await observe(pipe([other], 'silence'), Date.now() + 200)).toBe('hang');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(await observe(pipe([], new SmbConnectionError('connection closed')), Date.now() + 1000)).toEqual({ error: 'SMB2: connection closed' });
    expect(await observe(pipe([], new SmbStatusError(NT_STATUS.ACCESS_DENIED, 'read')), Date.now() + 1000)).toMatchObject({ error: expect.stringContaining('ACCESS_DENIED') });
  });
});
