import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzNdr, replayNdrFinding } from '../../src/fuzz/ndr-target.js';
import { fuzzServer } from '../../src/fuzz/server-target.js';
import { mutate } from '../../src/fuzz/mutate.js';
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
