import { it, expect } from 'vitest';
import { SambaHarness, startTestAgent } from '../helpers/samba.js';
it('scratch agent torture', async () => {
  const h = await SambaHarness.start({ mode: 'agent' });
  try {
    await startTestAgent(h);
    const r = await h.smbtorture('rpc.fsrvp.fsrvp.create_simple');
    console.log(r.passed, r.failed);
    console.log(r.stdout);
    console.log(await h.snapshotSubvolumes(), await h.registryShares());
    expect(1).toBe(1);
  } finally {
    await h.stop();
  }
});
