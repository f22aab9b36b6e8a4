import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { loadCapture } from '../../src/replay/capture.js';
import { Recorder } from '../../src/replay/recorder.js';
import { replay } from '../../src/replay/replay.js';
import { configFromArgs } from '../../src/cli/args.js';
import { parseConfig } from '../../src/cli/config.js';
import { samplePdus } from '../helpers/fixtures.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

const hexBytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

describe('Recorder', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fsrvp-rec-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one capture file per connection, records annotated, mode 0600', async () => {
    const r = new Recorder({ dir: join(dir, 'a') });
    const tap = r.open({ connectionId: 7, transport: 'np', pipe: 'FssagentRpc' })!;
    const pdus = samplePdus('smbtorture-get_version');
    for (const p of pdus) tap.pdu(p.dir, hexBytes(p.hex));
    tap.close();
    await r.close();
    const files = readdirSync(join(dir, 'a'));
    expect(files).toHaveLength(1);
    const file = join(dir, 'a', files[0]!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    const back = loadCapture(file);
    expect(back.map((p) => [p.conn, p.fid, p.dir, p.ptype, p.call_id, p.opnum, p.op, p.hex])).toEqual(
      pdus.map((p) => [7, 'np', p.dir, p.ptype, p.call_id, p.opnum, p.op, p.hex]));
  });

  it('is bounded: records beyond maxFileBytes are dropped and counted', async () => {
    const r = new Recorder({ dir: join(dir, 'b'), maxFileBytes: 4096 });
    const tap = r.open({ connectionId: 1, transport: 'tcp' })!;
    const pdu = hexBytes(samplePdus('smbtorture-get_version')[2]!.hex);
    for (let i = 0; i < 200; i++) tap.pdu('c2s', pdu);
    await r.close();
    expect(r.stats.droppedRecords).toBeGreaterThan(0);
    const f = readdirSync(join(dir, 'b'))[0]!;
    expect(statSync(join(dir, 'b', f)).size).toBeLessThanOrEqual(4096);
    expect(loadCapture(join(dir, 'b', f)).length).toBe(r.stats.records);
  });

  it('a disk error disables recording with one notice and never throws to the connection', async () => {
    const notices: string[] = [];
    const d = join(dir, 'c');
    const r = new Recorder({ dir: d, notice: (l) => notices.push(l) });
    rmSync(d, { recursive: true });
    writeFileSync(d, 'not a directory');
    const tap = r.open({ connectionId: 1, transport: 'tcp' })!;
    expect(() => tap.pdu('c2s', new Uint8Array(16))).not.toThrow();
    await r.flush();
    expect(r.disabled).toMatch(/ENOTDIR|ENOENT/);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/^fsrvpd: recording disabled: /);
    expect(r.open({ connectionId: 2, transport: 'tcp' })).toBeUndefined();
    expect(() => tap.pdu('s2c', new Uint8Array(16))).not.toThrow();
    await r.close();
  });

  it('configuration: record.dir and --record DIR', () => {
    expect(parseConfig({ record: { dir: '/tmp/x', maxFileBytes: 8192 } }).record).toEqual({ dir: '/tmp/x', maxFileBytes: 8192 });
    expect(() => parseConfig({ record: { dir: '/tmp/x', nope: 1 } })).toThrow(/record\.nope: unknown key/);
    expect(configFromArgs(['--record', '/tmp/rec']).config.record).toEqual({ dir: '/tmp/rec' });
  });
});

describe('fsrvpd with recording on', () => {
  let t: TempAgent;
  let rec: string;
  beforeAll(async () => {
    rec = mkdtempSync(join(tmpdir(), 'fsrvp-rec-agent-'));
    t = await startTempAgent({ tweak: (c) => (c.record = { dir: rec }) });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(rec, { recursive: true, force: true });
  });

  it('records a TCP client session; the recording replays against the agent with nothing different', async () => {
    const c = await FsrvpClient.connect({ port: t.port });
    try {
      expect((await c.getSupportedVersion()).MaxVersion).toBe(1);
      await c.cycle({ shares: ['demo'], serverName: '127.0.0.1', writable: true, recoveryComplete: true, delete: true });
      expect((await c.isPathSupported('\\\\127.0.0.1\\demo\\')).result).toBe(0);
    } finally {
      await c.close();
    }
    // The agent sees the close a moment later; then the file is complete.
    for (let i = 0; i < 50 && t.agent.recorder!.stats.records < 2; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    await t.agent.recorder!.flush();
    const files = readdirSync(rec);
    expect(files).toHaveLength(1);
    const records = loadCapture(join(rec, files[0]!));
    expect(records[0]).toMatchObject({ dir: 'c2s', ptype: 'bind', fid: 'tcp' });
    expect(records.filter((r) => r.op === 'StartShadowCopySet').map((r) => r.dir)).toEqual(['c2s', 's2c']);
    const report = await replay(records, { port: t.port });
    expect(report.counts.missing).toBe(0);
    expect(report.verdicts.filter((v) => v.verdict === 'different')).toEqual([]);
    expect(report.sent).toBe(records.filter((r) => r.dir === 'c2s').length);
  });
});
