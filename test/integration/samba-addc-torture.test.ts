/**
 * smbtorture rpc.fsrvp with Kerberos required, through a real Samba AD DC's smbd to our agent:
 * the DC (tools/lib/samba-addc.ts, option `share`) serves `fsrvp_share` from a btrfs loop
 * filesystem with registry shares, forwards \PIPE\FssagentRpc to the agent, which accepts only
 * DCE/RPC-authenticated binds (Kerberos from the exportkeytab keytab, minLevel integrity) and
 * publishes `fsrvp_share@{GUID}` into the DC's registry. smbtorture binds by the DC's name
 * (resolved by nss_wrapper), gets its tickets from the KDC with the password, and runs every
 * subtest: raw krb5 and SPNEGO, sign and seal, as the domain Administrator (BUILTIN\Administrators
 * in smbd's token for it) and as a Backup Operator (granted SeDiskOperatorPrivilege, which
 * share_sd's NetShareSetInfo needs). Each run gets a fresh DC (from the cached template) and
 * agent: the suite expects no shadow copies left by an earlier run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdDc } from '../../tools/lib/samba-addc.js';
import { dcSmbtorture, startDcAgent } from '../../tools/lib/samba-addc-agent.js';
import { FSRVP_SUBTESTS } from '../../tools/lib/samba-harness.js';
import { DebugCapture } from '../helpers/debug-capture.js';

const log = new DebugCapture('fsrvp:kerberos,fsrvp:authz');
beforeAll(() => {
  log.start();
});
afterAll(() => {
  log.stop();
});

describe('smbtorture rpc.fsrvp --use-kerberos=required through the AD DC smbd to our agent', () => {
  const cases = [
    { opt: 'krb5,seal', who: 'admin' }, { opt: 'krb5,sign', who: 'admin' }, { opt: 'spnego,seal', who: 'admin' },
    { opt: 'krb5,seal', who: 'backup' },
  ] as const;
  for (const { opt, who } of cases) {
    it(`ncacn_np:<dc>[${opt}] as ${who === 'admin' ? 'Administrator' : 'a Backup Operator'}: all ${FSRVP_SUBTESTS.length} subtests`, async () => {
      const dc = await startAdDc({ share: { seqTimeout: 1 } });
      let r;
      try {
        const keytab = await dc.exportKeytab();
        const user = who === 'admin' ? dc.admin : dc.users[0]!;
        // share_sd sets the snapshot share's security descriptor (NetShareSetInfo): SeDiskOperatorPrivilege.
        if (who === 'backup') await dc.grantRights(user.name, ['SeDiskOperatorPrivilege']);
        const cc = await dc.kinit(user);
        await startDcAgent(dc, { keytab });
        log.take();
        r = await dcSmbtorture(dc, opt, 'rpc.fsrvp', user, cc);
      } finally {
        await dc.stop();
      }
      expect(r.code, `${r.binding}\n${r.stdout}${r.stderr}`).toBe(0);
      expect(r.failed, `${r.binding}\n${r.stdout}${r.stderr}`).toEqual([]);
      expect(r.passed.sort()).toEqual(FSRVP_SUBTESTS.map((n) => `fsrvp.${n}`).sort());
      // The bind was Kerberos (smbtorture runs the suite on one pipe): the acceptor authenticated
      // the account for host/<dc>, and nothing was refused.
      const lines = log.take();
      const name = who === 'admin' ? 'Administrator' : 'fsrvpbackup';
      expect(lines.filter((l) => new RegExp(`authenticated ${name}@FSRVP\\.TEST for host/dc1\\.fsrvp\\.test`).test(l)).length, lines.join('\n')).toBeGreaterThanOrEqual(1);
      expect(lines.filter((l) => /refused|denied/i.test(l))).toEqual([]);
    }, 900_000);
  }
});
