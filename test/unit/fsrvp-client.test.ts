import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FsrvpClient, RPC_CALL_TIMEOUT_MS } from '../../src/client/fsrvp-client.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

describe('FsrvpClient waits as long as a call may take', () => {
  let t: TempAgent;
  beforeAll(async () => {
    t = await startTempAgent();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('waits the spec call timeout, or the operation timeout plus a margin (0 = no limit)', async () => {
    const c = await FsrvpClient.connect({ port: t.port });
    const spy = vi.spyOn(c.rpc, 'callOp');
    try {
      await c.getSupportedVersion();
      await c.commitShadowCopySet('00000000-0000-0000-0000-000000000001', 60_000);
      await c.exposeShadowCopySet('00000000-0000-0000-0000-000000000001', 0);
      const waits = spy.mock.calls.map((call) => (call[2] as { timeoutMs: number }).timeoutMs);
      expect(waits[0]).toBe(RPC_CALL_TIMEOUT_MS);
      expect(waits[1]).toBeGreaterThan(60_000);
      expect(waits[2]).toBe(2 ** 31 - 1);
    } finally {
      spy.mockRestore();
      await c.close();
    }
  });
});
