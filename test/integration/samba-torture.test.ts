/**
 * smbtorture rpc.fsrvp against the full agent behind a real smbd: every subtest alone on a fresh
 * setup, then the whole suite in one run. The agent uses the same `fss: sequence timeout` (1 s).
 * Both share layouts: the README's (`../.fsrvp-snapshots/share`) and Samba's own smb.conf for
 * its FSRVP server, unchanged (`shadow:snapdir = .`, `@GMT-…` in the share root).
 */
import { describe, expect, it } from 'vitest';
import { FSRVP_SUBTESTS, SambaHarness, startTestAgent, type SambaLayout } from '../../tools/lib/samba-harness.js';

async function withAgent<T>(layout: SambaLayout, fn: (h: SambaHarness) => Promise<T>): Promise<T> {
  const h = await SambaHarness.start({ mode: 'agent', layout });
  try {
    await startTestAgent(h);
    return await fn(h);
  } finally {
    await h.stop();
  }
}

const LAYOUTS: readonly SambaLayout[] = ['readme', 'samba'];

for (const layout of LAYOUTS) {
  describe(`smbtorture rpc.fsrvp → fsrvpd behind smbd (${layout} layout)`, () => {
    for (const name of FSRVP_SUBTESTS) {
      it(`${name} alone on a fresh setup`, async () => {
        const r = await withAgent(layout, async (h) => ({ ...(await h.smbtorture(`rpc.fsrvp.fsrvp.${name}`)), left: [await h.snapshotSubvolumes(), await h.registryShares()] }));
        expect(r.failed, r.stdout).toEqual([]);
        expect(r.passed).toEqual([`fsrvp.${name}`]);
      });
    }

    it('the whole suite in one run', async () => {
      const r = await withAgent(layout, (h) => h.smbtorture('rpc.fsrvp'));
      expect(r.failed, r.stdout).toEqual([]);
      expect(r.passed.sort()).toEqual(FSRVP_SUBTESTS.map((n) => `fsrvp.${n}`).sort());
    });
  });
}
