/**
 * `fsrvp-replay import` on a real capture: tshark records loopback port 445 while rpcclient talks
 * to FssagentRpc through a private smbd that forwards the pipe to our agent (which also records
 * the connections it accepts on the Samba socket). The import must find every DCE/RPC PDU
 * tshark finds, the FssagentRpc ones byte for byte as the agent's recorder saw them, and the
 * result must replay over TCP against the same agent with nothing different.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/cli/agent.js';
import { loadCapture, type CapturedPdu } from '../../src/replay/capture.js';
import { importCapture } from '../../src/replay/pcap-import.js';
import { replay } from '../../src/replay/replay.js';
import { SambaHarness, startTestAgent } from '../../tools/lib/samba-harness.js';
import { runImport } from '../../tools/replay-import.js';
import { requireTool } from '../helpers/tools.js';
import { RpcClient } from '../../src/dcerpc/client.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import { FSRVP_UUID } from '../../src/fsrvp/codes.js';
import * as Idl from '../../src/fsrvp/idl.js';
import { SmbPipe } from '../../src/smb/index.js';

let h: SambaHarness;
let agent: Agent;
let dir: string;
let capture: string;
let tshark: ChildProcess | undefined;
/** The encrypted session of our own SMB client: its id and keys. */
let sealed: { sessionId: bigint; c2s: Uint8Array; s2c: Uint8Array };

async function stopTshark(): Promise<void> {
  if (tshark && tshark.exitCode === null && tshark.signalCode === null) {
    const exited = new Promise((r) => tshark!.once('exit', r));
    tshark.kill('SIGINT');
    await exited;
  }
}

/** The PDUs of each connection, as hex sequences, sorted (connection numbering differs). */
const byConnection = (records: readonly CapturedPdu[]): string[] => {
  const m = new Map<string, string[]>();
  for (const r of records) m.set(`${r.conn}/${r.fid}`, [...(m.get(`${r.conn}/${r.fid}`) ?? []), `${r.dir}:${r.hex}`]);
  return [...m.values()].map((l) => l.join(' ')).sort();
};

describe('importing a tshark capture of rpcclient against FssagentRpc', () => {
  beforeAll(async () => {
    requireTool('tshark', 'tshark');
    dir = mkdtempSync(join(tmpdir(), 'fsrvp-pcap-'));
    capture = join(dir, 'session.pcapng');
    h = await SambaHarness.start({ mode: 'agent' });
    agent = await startTestAgent(h, (c) => {
      c.listen.tcp = { host: '127.0.0.1', port: 0, caller: { sids: ['S-1-5-32-544'], accountName: 'developer' }, minLevel: 'none' };
      c.record = { dir: join(dir, 'recorded') };
    });
    tshark = spawn('tshark', ['-i', 'lo', '-f', 'tcp port 445', '-w', capture, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const deadline = Date.now() + 15_000;
    while (!(existsSync(capture) && statSync(capture).size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(capture), 'tshark did not start capturing').toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const r = await h.rpcclient('fss_get_sup_version; fss_is_path_sup fsrvp_share');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('supports FSRVP versions from 1 to 1');
    // And one SMB3-encrypted session (our client, encryption required): bind + GetSupportedVersion.
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: { user: h.admin.name, domain: 'FSRVPH', password: h.admin.password }, encryption: 'required' });
    const crypto = pipe.client.session.crypto;
    sealed = { sessionId: crypto.sessionId, c2s: crypto.encryptionKey!, s2c: crypto.decryptionKey! };
    const rpc = RpcClient.over(pipe);
    try {
      const ack = await rpc.bind({ contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, 1, 0), transferSyntaxes: [NDR20] }], timeoutMs: 20_000 });
      expect(ack.kind).toBe('bind_ack');
      expect((await rpc.callOp(Idl.GetSupportedVersion, {}, { timeoutMs: 20_000 })).result).toBe(0);
    } finally {
      await rpc.close();
    }
    await new Promise((r) => setTimeout(r, 1000));
    await stopTshark();
    // The harness may wait for another one to release port 445 (acquireLock waits 10 minutes).
  }, 900_000);

  afterAll(async () => {
    await stopTshark();
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds every DCE/RPC PDU tshark finds (several per frame counted)', () => {
    const out = execFileSync('tshark', ['-r', capture, '-Y', 'dcerpc', '-T', 'fields', '-e', 'dcerpc.pkt_type'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const tsharkTypes = out.split('\n').filter((l) => l.trim() !== '').flatMap((l) => l.split(','));
    const all = importCapture(new Uint8Array(readFileSync(capture)), { pipes: ['*'] });
    expect(all.records.length).toBeGreaterThan(0);
    expect(all.records.length).toBe(tsharkTypes.length);
    const names: Record<string, string> = { 0: 'request', 2: 'response', 3: 'fault', 11: 'bind', 12: 'bind_ack', 13: 'bind_nak', 14: 'alter_context', 15: 'alter_context_resp', 16: 'auth3' };
    expect(all.records.map((r) => r.ptype).sort()).toEqual(tsharkTypes.map((t) => names[t] ?? t).sort());
    // tshark has no keys either: the encrypted session is in neither count.
    expect(all.stats.smb.sealedSkipped).toBeGreaterThan(0);
  });

  it('the encrypted session is opened with --smb-key and matches the agent\'s recording of it', async () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const out = join(dir, 'sealed.jsonl');
    const key = `${sealed.sessionId.toString(16)}:${hex(sealed.c2s)}:${hex(sealed.s2c)}`;
    expect(runImport([capture, '-o', out, '--quiet', '--smb-key', key])).toBe(0);
    const withKey = loadCapture(out);
    const plain = importCapture(new Uint8Array(readFileSync(capture)));
    const added = byConnection(withKey).filter((c) => !byConnection(plain.records).includes(c));
    expect(added).toHaveLength(1);
    expect(withKey.filter((r) => r.op === 'GetSupportedVersion').length).toBe(plain.records.filter((r) => r.op === 'GetSupportedVersion').length + 2);
    await agent.recorder!.flush();
    const recDir = join(dir, 'recorded');
    const recorded = readdirSync(recDir).filter((f) => f.includes('-np-')).flatMap((f) => loadCapture(join(recDir, f)));
    expect(byConnection(recorded)).toContain(added[0]);
  });

  it('the FssagentRpc PDUs are those our agent recorded on the Samba socket, and replay over TCP and SMB with nothing different', async () => {
    const out = join(dir, 'session.jsonl');
    expect(runImport([capture, '-o', out, '--quiet'])).toBe(0);
    // Without keys, only the rpcclient session (not encrypted).
    const records = loadCapture(out);
    const ops = records.filter((r) => r.ptype === 'request').map((r) => r.op);
    expect(ops).toEqual(['GetSupportedVersion', 'IsPathSupported']);
    expect(records.filter((r) => r.ptype === 'response').map((r) => r.op)).toEqual(['GetSupportedVersion', 'IsPathSupported']);

    await agent.recorder!.flush();
    const recDir = join(dir, 'recorded');
    const recorded = readdirSync(recDir).filter((f) => f.includes('-np-')).flatMap((f) => loadCapture(join(recDir, f)));
    // Every recorded pipe connection but the encrypted one.
    const fromPcap = byConnection(records);
    expect(byConnection(recorded).filter((c) => fromPcap.includes(c))).toEqual(fromPcap);
    expect(recorded.length).toBe(records.length + 4);

    const report = await replay(records, { port: agent.tcp!.port });
    expect(report.counts.missing).toBe(0);
    expect(report.verdicts.filter((v) => v.verdict === 'different')).toEqual([]);
    expect(report.counts.identical + report.counts.equivalent).toBe(records.filter((r) => r.dir === 's2c').length);
    // And through smbd again, over SMB, as it was captured.
    const creds = { user: h.admin.name, domain: 'FSRVPH', password: h.admin.password };
    const viaSmb = await replay(records, { open: async () => RpcClient.over(await SmbPipe.connect('FssagentRpc', { credentials: creds })) });
    expect(viaSmb.counts.missing).toBe(0);
    expect(viaSmb.verdicts.filter((v) => v.verdict === 'different')).toEqual([]);
  });
});
