/**
 * What we send is well-formed as Wireshark's FSRVP dissector sees it: a session covering all 13
 * operations (successes and failures) is captured with tshark on loopback and decoded with
 * `-d tcp.port==PORT,dcerpc`; no frame may be malformed or carry an expert item above "note".
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';
import { requireTool } from '../helpers/tools.js';

const WARNING = 6291456; // _ws.expert.severity: chat 2097152, note 4194304, warn 6291456, error 8388608

describe('tshark decodes our FSRVP traffic as well-formed', () => {
  let t: TempAgent;
  let dir: string;
  let capture: string;
  let tshark: ChildProcess | undefined;

  beforeAll(async () => {
    requireTool('tshark', 'tshark');
    t = await startTempAgent();
    dir = mkdtempSync(join(tmpdir(), 'fsrvp-tshark-'));
    capture = join(dir, 'session.pcapng');
    tshark = spawn('tshark', ['-i', 'lo', '-f', `tcp port ${t.port}`, '-w', capture, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Wait until tshark has opened the interface (it creates the file then).
    const deadline = Date.now() + 15_000;
    while (!(existsSync(capture) && statSync(capture).size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(capture), 'tshark did not start capturing').toBe(true);
    await new Promise((r) => setTimeout(r, 500));
  }, 30_000);

  afterAll(async () => {
    if (tshark && tshark.exitCode === null) {
      tshark.kill('SIGINT');
      await new Promise((r) => tshark!.once('exit', r));
    }
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('captures a session of all 13 operations and finds nothing malformed', async () => {
    const c = await FsrvpClient.connect({ port: t.port });
    try {
      expect((await c.getSupportedVersion()).MaxVersion).toBe(1);
      await c.cycle({ shares: ['demo'], serverName: '127.0.0.1', writable: true, recoveryComplete: true, delete: true });
      expect((await c.isPathShadowCopied('\\\\127.0.0.1\\demo\\')).result).toBe(0);
      expect((await c.isPathSupported('\\\\127.0.0.1\\nosuchshare\\')).result).not.toBe(0);
      expect((await c.getShareMapping('11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', '\\\\127.0.0.1\\demo\\')).result).not.toBe(0);
      await c.setContext(0);
      const set = (await c.startShadowCopySet()).pShadowCopySetId;
      expect((await c.abortShadowCopySet(set)).result).toBe(0);
      expect((await c.deleteShareMapping(set, set, '\\\\127.0.0.1\\demo\\')).result).not.toBe(0);
    } finally {
      await c.close();
    }
    await new Promise((r) => setTimeout(r, 1000));
    tshark!.kill('SIGINT');
    await new Promise((r) => tshark!.once('exit', r));

    const fields = execFileSync('tshark', [
      '-r', capture, '-d', `tcp.port==${t.port},dcerpc`, '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.number', '-e', 'dcerpc.pkt_type', '-e', 'fsrvp.opnum', '-e', '_ws.expert.severity', '-e', '_ws.malformed',
      '-e', 'fsrvp.fssagent_share_mapping_1.ShadowCopyShareName',
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rows = fields.trim().split('\n').map((l) => l.split('|'));
    const opnums = new Set(rows.filter((r) => r[1] === '0' || r[1] === '2').map((r) => Number(r[2])).filter((n) => !Number.isNaN(n)));
    expect([...opnums].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Requests and responses both decoded (pkt_type 0 and 2 for every opnum we used).
    expect(rows.filter((r) => r[1] === '2').length).toBeGreaterThanOrEqual(17);
    expect(rows.some((r) => /^demo@\{[0-9a-f-]{36}\}$/.test(r[5] ?? ''))).toBe(true);
    const bad = rows.filter((r) => r[4] !== '' || (r[3] ?? '').split(',').some((s) => Number(s) >= WARNING));
    expect(bad).toEqual([]);
  });
});
