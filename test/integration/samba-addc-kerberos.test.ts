/**
 * Kerberos DCE/RPC authentication against a real KDC: a Samba 4.17 AD DC on 127.0.0.1 (the test
 * provisions it, tools/lib/samba-addc.ts) whose smbd forwards \PIPE\FssagentRpc to our agent.
 * The agent accepts tickets with the keys `samba-tool domain exportkeytab` wrote; rpcclient with
 * a Kerberos ticket binds with raw Kerberos (auth type 16) and SPNEGO, signed and sealed. A
 * ticket for a service the agent does not accept is refused and no call runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdDc, DC_ADDRESS, startAdDc } from '../../tools/lib/samba-addc.js';
import { runCmd } from '../../tools/lib/run-cmd.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';

let dc: AdDc;
let cc: string;
let keytab: string;

beforeAll(async () => {
  dc = await startAdDc();
  cc = await dc.kinit(dc.users[0]!); // a Backup Operator
  keytab = await dc.exportKeytab();
}, 300_000);
afterAll(async () => {
  await dc?.stop();
});

async function agentWith(principals?: string[]): Promise<TempAgent> {
  const agent = await startTempAgent({
    prefix: 'fsrvp-addc-agent-',
    tweak: (c) => {
      c.netbiosName = dc.names.host.toUpperCase();
      c.localNames = [dc.fqdn, DC_ADDRESS];
      c.auth.kerberos = { keytab, ...(principals !== undefined ? { principals } : {}) };
      c.listen.samba = { socketDir: dc.socketDir, byteMode: false, minLevel: 'integrity' };
    },
  });
  dc.onStop(() => agent.stop());
  return agent;
}

const rpcclient = (binding: string, commands: string) =>
  runCmd('/usr/bin/rpcclient', ['-s', dc.clientConf, '--use-kerberos=required', '-N', '-I', DC_ADDRESS, '-c', commands, binding], {
    env: dc.env(cc), timeoutMs: 120_000,
  });

describe('Kerberos-authenticated FssagentRpc through the AD DC smbd', () => {
  it('rpcclient binds with Kerberos (raw and SPNEGO), sign and seal, and its calls run', async () => {
    const agent = await agentWith();
    try {
      for (const opt of ['krb5,seal', 'krb5,sign', 'spnego,seal']) {
        const r = await rpcclient(`ncacn_np:${dc.fqdn}[${opt}]`, 'fss_get_sup_version;fss_is_path_sup demo');
        expect(r.code, `${opt}: ${r.stdout}${r.stderr}`).toBe(0);
        expect(r.stdout).toContain('supports FSRVP versions from 1 to 1');
        expect(r.stdout).toContain('supports shadow copy requests');
      }
      // Without DCE/RPC authentication the agent (minLevel integrity) runs nothing.
      const plain = await rpcclient(`ncacn_np:${dc.fqdn}`, 'fss_get_sup_version');
      expect(plain.stdout).not.toContain('supports FSRVP versions');
    } finally {
      await agent.stop();
    }
  }, 300_000);

  it('a ticket for a service the agent does not accept is refused', async () => {
    const agent = await agentWith([`HTTP/${dc.fqdn}`]);
    try {
      const r = await rpcclient(`ncacn_np:${dc.fqdn}[krb5,seal]`, 'fss_get_sup_version');
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain('supports FSRVP versions');
    } finally {
      await agent.stop();
    }
  }, 300_000);
});
