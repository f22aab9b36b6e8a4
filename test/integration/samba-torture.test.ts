/**
 * smbtorture rpc.fsrvp against the full agent behind a real smbd: every subtest alone on a fresh
 * setup, then the whole suite in one run. The agent uses the same `fss: sequence timeout` (1 s).
 */
import { describe, expect, it } from 'vitest';
import { FSRVP_SUBTESTS, SambaHarness, startTestAgent } from '../../tools/lib/samba-harness.js';

async function withAgent<T>(fn: (h: SambaHarness) => Promise<T>): Promise<T> {
  const h = await SambaHarness.start({ mode: 'agent' });
  try {
    await startTestAgent(h);
    return await fn(h);
  } finally {
    await h.stop();
  }
}

describe('smbtorture rpc.fsrvp → fsrvpd behind smbd', () => {
  for (const name of FSRVP_SUBTESTS) {
    it(`${name} alone on a fresh setup`, async () => {
      const r = await withAgent(async (h) => ({ ...(await h.smbtorture(`rpc.fsrvp.fsrvp.${name}`)), left: [await h.snapshotSubvolumes(), await h.registryShares()] }));
      expect(r.failed, r.stdout).toEqual([]);
      expect(r.passed).toEqual([`fsrvp.${name}`]);
    });
  }

  it('the whole suite in one run', async () => {
    const r = await withAgent((h) => h.smbtorture('rpc.fsrvp'));
    expect(r.failed, r.stdout).toEqual([]);
    expect(r.passed.sort()).toEqual(FSRVP_SUBTESTS.map((n) => `fsrvp.${n}`).sort());
  });
});
