/**
 * DCE/RPC authentication inside the pipe smbd forwards: Samba's own clients (rpcclient,
 * smbtorture rpc.fsrvp) bind \PIPE\FssagentRpc with sign or seal (SPNEGO over NTLMSSP, and raw
 * NTLMSSP), and our agent checks the NTLMv2 response against smbd's passdb through the helper.
 * With the Samba socket's minimum level at integrity, an unauthenticated bind gets no call run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FSRVP_SUBTESTS, HOST, SambaHarness, startTestAgent } from '../../tools/lib/samba-harness.js';
import { runCmd } from '../../tools/lib/run-cmd.js';

/** A fresh smbd + agent whose Samba socket requires integrity and checks NTLM against passdb. */
async function authAgent(): Promise<SambaHarness> {
  const harness = await SambaHarness.start({ mode: 'agent' });
  await startTestAgent(harness, (c) => {
    c.auth.ntlm = { verifier: 'passdb', smbConf: harness.conf };
    if (c.listen.samba !== undefined) c.listen.samba.minLevel = 'integrity';
  });
  return harness;
}

let h: SambaHarness;

const rpcclient = (binding: string, commands: string) =>
  runCmd('/usr/bin/rpcclient', ['-s', h.conf, '-U', `${h.admin.name}%${h.admin.password}`, '-c', commands, binding], { timeoutMs: 120_000 });

describe('rpcclient authenticates FssagentRpc to our agent through smbd', () => {
  // One harness for these; the smbtorture runs below take their own (one smbd at a time).
  beforeAll(async () => {
    h = await authAgent();
  }, 300_000);
  afterAll(async () => {
    await h?.stop();
  });

  for (const opt of ['sign', 'seal', 'seal,ntlm', 'sign,spnego']) {
    it(`rpcclient ncacn_np:${HOST}[${opt}]`, async () => {
      const r = await rpcclient(`ncacn_np:${HOST}[${opt}]`, 'fss_get_sup_version;fss_is_path_sup fsrvp_share');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('supports FSRVP versions from 1 to 1');
      expect(r.stdout).toContain('supports shadow copy requests');
    }, 120_000);
  }

  it('without DCE/RPC authentication the agent refuses the call (minLevel integrity)', async () => {
    const r = await rpcclient(`ncacn_np:${HOST}`, 'fss_get_sup_version');
    expect(r.stdout + r.stderr).not.toContain('supports FSRVP versions from 1 to 1');
  }, 120_000);

});

describe('smbtorture rpc.fsrvp with DCE/RPC sign and seal through smbd', () => {
  for (const opt of ['sign', 'seal']) {
    it(`smbtorture rpc.fsrvp over ncacn_np:${HOST}[${opt}]: all subtests`, async () => {
      // A setup of its own: the suite expects no shadow copies left from earlier runs.
      const t = await authAgent();
      let r;
      try {
        r = await runCmd('/usr/bin/smbtorture', [
          `ncacn_np:${HOST}[${opt}]`, 'rpc.fsrvp', '-U', `${t.admin.name}%${t.admin.password}`, `--option=fss:sequence timeout=${t.seqTimeout}`,
        ], { timeoutMs: 600_000 });
      } finally {
        await t.stop();
      }
      const pick = (kind: string): string[] => [...r.stdout.matchAll(new RegExp(`^${kind}: (\\S+)`, 'gm'))].map((m) => m[1] as string);
      expect([...pick('failure'), ...pick('error')], r.stdout).toEqual([]);
      expect(pick('success').sort()).toEqual(FSRVP_SUBTESTS.map((n) => `fsrvp.${n}`).sort());
    }, 600_000);
  }
});
