/**
 * The client tools over SMB (`--smb //HOST -U`), against the real smbd of the Samba harness with
 * FssagentRpc served two ways: by Samba's own rpcd_fsrvp, and by our agent behind the same smbd.
 * For each: `fsrvp cycle` with `server signing = mandatory` and again with
 * `smb encrypt = required` (SMB 3.1.1 negotiated), a wrong password and a missing share fail with
 * a clear message and exit 1, the rpcclient capture replays with no "different" verdict beyond the
 * documented one, and (our agent) `fsrvp-fuzz server` and a fixed-seed live fuzz campaign find
 * nothing and leave nothing behind.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARE, SambaHarness, startTestAgent, type SambaMode } from '../../tools/lib/samba-harness.js';
import { fixturePath, repoRoot } from '../helpers/fixtures.js';

const FSRVP = resolve(repoRoot, 'dist/src/cli/fsrvp.js');
const REPLAY = resolve(repoRoot, 'dist/tools/replay.js');
const FUZZ = resolve(repoRoot, 'dist/tools/fuzz.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(script: string, args: readonly string[], password: string, timeoutMs = 180_000): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [script, ...args], { env: { ...process.env, FSRVP_PASSWORD: password }, timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1;
      done({ code, stdout, stderr });
    });
  });
}

/** A harness for `mode` with one extra [global] rule; our agent behind it in agent mode. */
async function start(mode: SambaMode, global: Record<string, string>, authAgent = false): Promise<SambaHarness> {
  const h = await SambaHarness.start({ mode, global, seqTimeout: 5 });
  try {
    if (mode === 'agent') {
      await startTestAgent(h, (c) => {
        if (authAgent) c.auth.ntlm = { verifier: 'passdb', smbConf: h.conf };
      });
    }
  } catch (e) {
    await h.stop();
    throw e;
  }
  return h;
}

/**
 * A fixed-seed live fuzz campaign over `smb` (and `o.extra` options) against the harness's
 * server: exit 0, the canary alive, `<Op>ShadowCopySet:ZERO` reached for each of `o.reached`,
 * 0 findings, and no snapshot, `@{` share or fixture left behind.
 */
async function cleanCampaign(h: SambaHarness, smb: readonly string[], o: { extra: readonly string[]; seed: string; iterations: number; reached: readonly string[] }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fsrvp-live-'));
  try {
    const r = await node(FUZZ, [
      'live', ...smb, ...o.extra, '--share', SHARE, '--seed', o.seed, '--iterations', String(o.iterations), '--batch', '10',
      '--fixtures', join(dir, 'fx'), '--findings', join(dir, 'findings.jsonl'),
    ], h.admin.password, 600_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${o.iterations} cases, \\d+ calls .* canary alive`));
    for (const op of o.reached) expect(r.stdout).toMatch(new RegExp(`request:${op}ShadowCopySet:ZERO`));
    expect(r.stdout).toMatch(/ 0 findings/);
    expect(await h.snapshotSubvolumes()).toEqual([]);
    expect((await h.registryShares()).filter((s) => s.includes('@{'))).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const SETUPS: Array<[SambaMode, string, Record<string, string>]> = [
  ['samba', 'server signing = mandatory', { 'server signing': 'mandatory' }],
  ['samba', 'smb encrypt = required', { 'smb encrypt': 'required' }],
  ['agent', 'server signing = mandatory', { 'server signing': 'mandatory' }],
  ['agent', 'smb encrypt = required', { 'smb encrypt': 'required' }],
];

for (const [mode, rule, global] of SETUPS) {
  describe(`fsrvp over --smb to ${mode === 'samba' ? "Samba's rpcd_fsrvp" : 'our agent'} behind smbd, ${rule}`, () => {
    let h: SambaHarness;
    let smb: string[];
    beforeAll(async () => {
      h = await start(mode, global, mode === 'agent');
      smb = ['--smb', '//127.0.0.1', '-U', `FSRVPH\\${h.admin.name}`];
    }, 300_000);
    afterAll(async () => {
      await h?.stop();
    });

    it('fsrvp cycle completes on SMB 3.1.1', async () => {
      const r = await node(FSRVP, ['cycle', SHARE, ...smb], h.admin.password);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/9\. DeleteShareMapping +ok/);
      expect(r.stdout).toMatch(/cycle complete in \d+ ms/);
      expect(r.stderr).toMatch(/SMB 3\.1\.1 to 127\.0\.0\.1, NTLM logon, signed \(AES-\d+-GMAC\)/);
      if (global['smb encrypt']) expect(r.stderr).toMatch(/encrypted \(AES-128-GCM\)/);
      expect(await h.snapshotSubvolumes()).toEqual([]);
      expect((await h.registryShares()).filter((s) => s.includes('@{'))).toEqual([]);
    }, 180_000);

    it('a wrong password and a missing share fail with a clear message and exit 1', async () => {
      const bad = await node(FSRVP, ['version', ...smb], 'not-the-password');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/logon failed: unknown user name or wrong password/);
      const missing = await node(FSRVP, ['cycle', 'no_such_share', ...smb], h.admin.password);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/AddToShadowCopySet returned E_INVALIDARG: the server has no such share/);
    }, 180_000);

    it('the rpcclient capture replays over --smb', async () => {
      const r = await node(REPLAY, [fixturePath('samba', 'rpcclient-session.pdus.jsonl'), ...smb, '--json'], h.admin.password);
      const report = JSON.parse(r.stdout) as { sent: number; counts: Record<string, number>; verdicts: Array<{ verdict: string; op?: string; differences: unknown[] }> };
      expect(report.sent).toBe(37);
      expect(report.counts.missing).toBe(0);
      const different = report.verdicts.filter((v) => v.verdict === 'different');
      // Documented server difference: Samba 4.17 answers IsPathShadowCopied FSRVP_E_NOT_SUPPORTED; we implement it.
      expect(different.map((v) => v.op)).toEqual(mode === 'samba' ? [] : ['IsPathShadowCopied']);
      expect(r.code).toBe(mode === 'samba' ? 0 : 1);
    }, 180_000);

    if (mode === 'agent' && global['server signing']) {
      it('replay and cycle with DCE/RPC authentication inside the pipe (--auth spnego --level privacy)', async () => {
        const auth = ['--auth', 'spnego', '--level', 'privacy'];
        const c = await node(FSRVP, ['cycle', SHARE, ...smb, ...auth], h.admin.password);
        expect(c.code, c.stdout + c.stderr).toBe(0);
        const r = await node(REPLAY, [fixturePath('samba', 'rpcclient-session.pdus.jsonl'), ...smb, ...auth, '--json'], h.admin.password);
        const report = JSON.parse(r.stdout) as { counts: Record<string, number>; verdicts: Array<{ verdict: string; op?: string }> };
        expect(report.counts.missing).toBe(0);
        expect(report.verdicts.filter((v) => v.verdict === 'different').map((v) => v.op)).toEqual(['IsPathShadowCopied']);
      }, 180_000);

      for (const pipeMode of ['transceive', 'write-read'] as const) it(`fsrvp-fuzz server over --smb --pipe-mode ${pipeMode}: every mutated case answered or closed, canary alive, nothing left`, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'fsrvp-server-fuzz-'));
        try {
          const r = await node(FUZZ, ['server', ...smb, '--pipe-mode', pipeMode, '--seed', '20261207', '--iterations', '300', '--batch', '50', '--timeout', '5000', '--findings', join(dir, 'f.jsonl')], h.admin.password, 120_000);
          expect(r.code, r.stdout + r.stderr).toBe(0);
          expect(r.stdout).toMatch(/fsrvp-fuzz server: smb:\/\/127\.0\.0\.1\/IPC\$\/FssagentRpc, seed 20261207, 300 cases/);
          const m = /300 cases over smb: (\w+ \d+(?:, \w+ \d+)*); (\d+) last frames completed with zero bytes, (\d+) with frag_length below 16; canary alive; 0 findings/.exec(r.stdout);
          expect(m, r.stdout).not.toBeNull();
          const replies = Object.fromEntries((m?.[1] ?? '').split(', ').map((kv) => kv.split(' ')).map(([k, v]) => [k, Number(v)]));
          expect(Object.keys(replies).sort()).toEqual(['answered', 'closed']);
          expect(replies.answered).toBeGreaterThan(30);
          expect(replies.closed).toBeGreaterThan(30);
          expect(Number(m?.[2])).toBeGreaterThan(0);
          expect(await readdir(dir)).toEqual([]);
          expect(await h.snapshotSubvolumes()).toEqual([]);
          expect((await h.registryShares()).filter((s) => s.includes('@{'))).toEqual([]);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }, 180_000);

      it('a fixed-seed live fuzz campaign over --smb: no finding, nothing left behind, canary alive', async () => {
        await cleanCampaign(h, smb, { extra: [], seed: '20261207', iterations: 60, reached: ['Commit', 'Expose'] });
      }, 600_000);
    }

    if (mode === 'agent' && global['smb encrypt']) {
      it('a fixed-seed live fuzz campaign over --smb with sealed DCE/RPC (--auth spnego --level privacy): no finding, nothing left', async () => {
        await cleanCampaign(h, smb, { extra: ['--auth', 'spnego', '--level', 'privacy'], seed: '20261208', iterations: 30, reached: ['Commit'] });
      }, 600_000);
    }
  });
}

describe('usage errors say what is wrong (exit 2)', () => {
  it('refuses --smb without -U, a bad //HOST, two targets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fsrvp-usage-'));
    try {
      await writeFile(join(dir, 'x'), '');
      for (const [args, msg] of [
        [['version', '--smb', '//127.0.0.1'], /--smb needs -U/],
        [['version', '--smb', '127.0.0.1', '-U', 'a'], /--smb takes \/\/HOST/],
        [['version', '--smb', '//h', '--unix', join(dir, 'x'), '-U', 'a'], /exclude each other/],
      ] as Array<[string[], RegExp]>) {
        const r = await node(FSRVP, args, 'x');
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(msg);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
