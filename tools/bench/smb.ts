/**
 * Our SMB client and DCE/RPC protection, measured through a private smbd (agent mode: our agent
 * behind `external_rpc_pipe:socket_dir`, NTLM checked against smbd's passdb) in one run:
 *  - GetSupportedVersion calls per second, one at a time, over our SMB client (one SMB session,
 *    one pipe) against Samba's rpcclient in one interactive session on the same smbd and server
 *    (goal ≥ 1.0×);
 *  - the same calls and full cycles with the bind sealed (SPNEGO/NTLMSSP, packet privacy) and
 *    signed (integrity) against unauthenticated, over the same SMB pipe (goal: sealed cycles
 *    ≥ 0.9× unauthenticated).
 * Kerberos-sealed figures need the AD DC harness and are not measured here yet.
 */
import { targetOpener, type TargetOpener } from '../../src/cli/target.js';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { clientAuth, type ClientLevel } from '../../src/security/client-auth.js';
import { SHARE, SambaHarness, startTestAgent } from '../lib/samba-harness.js';
import { rate, report, type Rate } from './measure.js';
import { close, getVersion, handleSignals, open } from './samba-run.js';

async function fsrvpOver(opener: TargetOpener, h: SambaHarness, level?: ClientLevel): Promise<FsrvpClient> {
  const auth = level === undefined ? undefined : clientAuth({ mechanism: 'spnego', level, credentials: { user: h.admin.name, domain: 'FSRVPH', password: h.admin.password } });
  return FsrvpClient.over(await opener.open(), auth !== undefined ? { auth } : {});
}

export async function benchSmb(seconds: number): Promise<void> {
  console.log('\n== smb: our SMB client vs rpcclient, and sealed vs unauthenticated DCE/RPC (through a private smbd, agent mode) ==');
  const unhook = handleSignals();
  const h = await SambaHarness.start({ mode: 'agent', seqTimeout: 30 });
  try {
    await startTestAgent(h, (c) => {
      c.auth.ntlm = { verifier: 'passdb', smbConf: h.conf };
    });
    const opener = targetOpener({ kind: 'smb', host: '127.0.0.1', port: 445 }, { user: h.admin.name, domain: 'FSRVPH', password: h.admin.password });
    try {
      const rc = open(h);
      let ref: Rate;
      try {
        ref = await rate("rpcclient fss_get_sup_version (one session)", () => getVersion(rc), seconds, 20);
      } finally {
        await close(rc);
      }
      const plain = await fsrvpOver(opener, h);
      const sealed = await fsrvpOver(opener, h, 'privacy');
      const signed = await fsrvpOver(opener, h, 'integrity');
      try {
        const gsv = (c: FsrvpClient) => async () => {
          const r = await c.getSupportedVersion();
          if (r.result !== 0) throw new Error(`GetSupportedVersion returned ${r.result}`);
        };
        const ours = await rate('ours: GetSupportedVersion over our SMB client', gsv(plain), seconds, 50);
        report(ref);
        report(ours, ref);
        const sealedGsv = await rate('ours: GetSupportedVersion, sealed (spnego, privacy)', gsv(sealed), seconds, 50);
        const signedGsv = await rate('ours: GetSupportedVersion, signed (spnego, integrity)', gsv(signed), seconds, 50);
        report(sealedGsv, ours);
        report(signedGsv, ours);
        const cycle = (c: FsrvpClient) => async () => {
          await c.cycle({ shares: [SHARE], serverName: '127.0.0.1' });
        };
        const plainCycles = await rate('ours: full cycles, unauthenticated', cycle(plain), seconds, 2, 1500);
        const sealedCycles = await rate('ours: full cycles, sealed (spnego, privacy)', cycle(sealed), seconds, 2, 1500);
        report(plainCycles);
        report(sealedCycles, plainCycles);
        const r = sealedCycles.perSecond / plainCycles.perSecond;
        console.log(`sealed cycles at ${r.toFixed(2)}× unauthenticated (goal ≥ 0.9×); our SMB client at ${(ours.perSecond / ref.perSecond).toFixed(2)}× rpcclient (goal ≥ 1.0×)`);
      } finally {
        await Promise.all([plain.close(), sealed.close(), signed.close()]);
      }
    } finally {
      await opener.close();
    }
  } finally {
    await h.stop();
    unhook();
  }
}
