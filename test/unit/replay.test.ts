import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCapture } from '../../src/replay/capture.js';
import { replay } from '../../src/replay/replay.js';
import { compareValues, rewriteValue } from '../../src/replay/rewrite.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

describe('replay rewriting', () => {
  it('maps GUIDs, UNC names and exposed names', () => {
    const rw = { guids: new Map([['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']]), shares: new Map([['fsrvp_share', 'demo']]), serverName: 'SRV' };
    expect(rewriteValue({ a: '11111111-1111-1111-1111-111111111111', b: '\\\\1.2.3.4\\FSRVP_SHARE\\', c: 'fsrvp_share@{11111111-1111-1111-1111-111111111111}' }, rw))
      .toEqual({ a: '22222222-2222-2222-2222-222222222222', b: '\\\\SRV\\demo\\', c: 'demo@{22222222-2222-2222-2222-222222222222}' });
  });
  it('names differences and marks the volatile ones', () => {
    const d = compareValues({ x: { CreationTimestamp: 1n, result: 0 } }, { x: { CreationTimestamp: 2n, result: 0x80070057 } });
    expect(d).toEqual([
      { path: 'x.CreationTimestamp', captured: '0x1', live: '0x2', volatile: true },
      { path: 'x.result', captured: 'ZERO', live: 'E_INVALIDARG', volatile: false },
    ]);
  });
});

describe('replaying Samba captures against the agent', () => {
  let t: TempAgent;
  beforeAll(async () => {
    t = await startTempAgent();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('answers the rpcclient session like Samba, except where we implement IsPathShadowCopied', async () => {
    const report = await replay(loadCapture(fixturePath('samba', 'rpcclient-session.pdus.jsonl')), { port: t.port, shareMap: { fsrvp_share: 'demo' } });
    expect(report.sent).toBe(37);
    expect(report.counts.missing).toBe(0);
    const different = report.verdicts.filter((v) => v.verdict === 'different');
    expect(different.map((v) => v.op)).toEqual(['IsPathShadowCopied']);
    expect(different[0]!.differences).toEqual([{ path: 'stub.result', captured: 'FSRVP_E_NOT_SUPPORTED', live: 'ZERO', volatile: false }]);
    expect(report.counts.identical).toBeGreaterThanOrEqual(19);
  });
});
