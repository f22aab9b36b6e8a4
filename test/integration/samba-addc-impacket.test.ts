/**
 * impacket (Debian python3-impacket 0.10, its own Kerberos client and RPC_C_AUTHN_GSS_NEGOTIATE,
 * which carries a Kerberos AP-REQ) against our agent on a real Samba AD DC: tickets from the DC's
 * KDC (fetched by MIT kvno into a ccache impacket reads), the agent accepting them with the exportkeytab keytab. At integrity and privacy, over the
 * agent's TCP listener on 127.0.0.1 and through the DC's smbd (ncacn_np, SMB also Kerberos), each
 * run does a full shadow copy cycle (SetContext … DeleteShareMapping) on the DC's btrfs
 * `fsrvp_share`. Refused and logged: the same bind PDU replayed on a new connection (the replay
 * cache), and an authenticator whose time is 15 minutes off (the clock skew, 300 s).
 *
 * The caller is a Backup Operator. Through smbd the agent keeps smbd's token for that account
 * (BUILTIN\Backup Operators in it); a PAC carries no BUILTIN SIDs, so TCP callers are allowed by
 * the account's SID in authz.allowSids.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCmd } from '../../tools/lib/run-cmd.js';
import { AdDc, startAdDc } from '../../tools/lib/samba-addc.js';
import { dcRegistryShares, dcSnapshotSubvolumes, dcUserSid, startDcAgent } from '../../tools/lib/samba-addc-agent.js';
import { DebugCapture } from '../helpers/debug-capture.js';
import { ensureImpacket, IMPACKET_CYCLE_STEPS, impacketDcerpc } from '../helpers/impacket.js';

const log = new DebugCapture('fsrvp:kerberos,fsrvp:authz,fsrvp:dcerpc,fsrvp:spnego,fsrvp:agent,fsrvp:auth');
let dc: AdDc;
let port: number;
let ccache: string;

beforeAll(async () => {
  await ensureImpacket();
  dc = await startAdDc({ share: {} });
  const keytab = await dc.exportKeytab();
  const user = dc.users[0]!;
  const sid = await dcUserSid(dc, user.name);
  const agent = await startDcAgent(dc, { keytab, tcp: true, patch: (c) => { c.authz.allowSids = [sid]; } });
  port = agent.tcp!.port;
  // The service tickets come from MIT's kinit/kvno (impacket 0.10's own TGS-REQ lacks the
  // authenticator checksum Samba 4.17's KDC requires); impacket reads them from the ccache and
  // builds the AP-REQs, GSS checksums and per-message tokens itself. Their session keys are
  // rc4-hmac, the etype impacket's own TGS-REQ asks for first: impacket sends no mechListMIC,
  // which Samba's SPNEGO acceptor (and ours) require once the context is AES ("new SPNEGO").
  ccache = await dc.kinit(user);
  const conf = join(dc.root, 'krb5-rc4.conf');
  await writeFile(conf, (await readFile(dc.krb5Conf, 'utf8')).replace('[libdefaults]\n', '[libdefaults]\n  default_tgs_enctypes = arcfour-hmac aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96\n  allow_weak_crypto = true\n'));
  for (const spn of dc.servicePrincipals()) {
    const r = await runCmd('/usr/bin/kvno', [spn], { env: { ...dc.env(ccache), KRB5_CONFIG: conf } });
    if (r.code !== 0) throw new Error(`kvno ${spn}: ${r.stderr}`);
  }
  const list = await dc.klist(ccache, ['-e']);
  if (!/host\/[^\n]*\n[^\n]*Etype \(skey, tkt\): DEPRECATED:arcfour-hmac|host\/[^\n]*\n[^\n]*skey[^\n]*arcfour/.test(list.stdout)) throw new Error(`no rc4 session key: ${list.stdout}`);
  log.start();
}, 900_000);
afterAll(async () => {
  log.stop();
  await dc?.stop();
});

const env = (): NodeJS.ProcessEnv => ({ ...process.env, KRB5CCNAME: ccache });
const request = (extra: Record<string, unknown>): Record<string, unknown> => ({
  user: dc.users[0]!.name, password: dc.users[0]!.password, domain: dc.realm, auth: 'spnego',
  kerberos: { kdcHost: '127.0.0.1', remoteName: dc.fqdn }, port, ...extra,
});

describe('impacket with Kerberos (GSS_NEGOTIATE) to our agent on the AD DC: a full FSRVP cycle', () => {
  for (const via of ['tcp', 'np'] as const) {
    for (const level of ['integrity', 'privacy'] as const) {
      it(`${via === 'tcp' ? 'ncacn_ip_tcp:127.0.0.1' : 'ncacn_np via the DC smbd'} at ${level}`, async () => {
        log.take();
        const o = await impacketDcerpc(request({ level, pipe: via === 'np', cycle: { share: 'fsrvp_share' } }), env());
        const lines = log.take();
        expect(o.ok, `${o.error}\n${o.trace}\n${lines.join('\n')}`).toBe(true);
        expect(o.version).toEqual([1, 1, 0]); // MinVersion, MaxVersion, return code
        expect(o.cycle?.steps).toEqual(IMPACKET_CYCLE_STEPS);
        expect(o.cycle?.shadowCopyShareName).toBe(`fsrvp_share@{${o.cycle?.copyId}}`);
        // The mapping names the share by the agent's NetBIOS name (DC1), as Samba's FSRVP server does.
        expect(o.cycle?.shareNameUNC.toLowerCase()).toBe(`\\\\${dc.names.host}\\fsrvp_share`);
        expect(lines.some((l) => new RegExp(`authenticated ${dc.users[0]!.name}@FSRVP\\.TEST for host/${dc.fqdn}`).test(l)), lines.join('\n')).toBe(true);
        // Deleted again: no registry share, no snapshot left.
        expect(await dcRegistryShares(dc)).toEqual([]);
        expect(await dcSnapshotSubvolumes(dc)).toEqual([]);
      }, 120_000);
    }
  }
});

describe('who may call over TCP: the PAC alone', () => {
  it('without the allow-listed SID a Backup Operator is refused: the PAC carries no BUILTIN SIDs', async () => {
    const bare = await startDcAgent(dc, {
      keytab: join(dc.root, 'agent.keytab'), tcp: true,
      patch: (c) => {
        delete c.listen.samba;
        c.stateDir = join(dc.root, 'agent-bare', 'state');
      },
    });
    try {
      log.take();
      const o = await impacketDcerpc(request({ level: 'integrity', port: bare.tcp!.port, setContexts: 1 }), env());
      const lines = log.take();
      expect(o.ok, o.error).toBe(true); // authenticated: the bind and GetSupportedVersion run
      expect(o.setContext).toEqual([0x80070005]); // E_ACCESSDENIED
      expect(lines.some((l) => /fsrvpbackup/.test(l) && /not in BUILTIN/.test(l)), lines.join('\n')).toBe(true);
    } finally {
      await bare.close();
    }
  }, 120_000);
});

describe('who may call over TCP: the PAC plus the token winbindd builds (auth.kerberos.token "winbind")', () => {
  it('a Backup Operator authenticated by Kerberos is one without any allow-list: BUILTIN\\Backup Operators comes from winbind', async () => {
    const withWinbind = await startDcAgent(dc, {
      keytab: join(dc.root, 'agent.keytab'), tcp: true,
      patch: (c) => {
        delete c.listen.samba;
        c.stateDir = join(dc.root, 'agent-winbind', 'state');
        c.auth.kerberos = { ...c.auth.kerberos!, token: 'winbind' };
      },
    });
    try {
      log.take();
      const o = await impacketDcerpc(request({ level: 'integrity', port: withWinbind.tcp!.port, setContexts: 1 }), env());
      const lines = log.take();
      expect(o.ok, `${o.error}\n${lines.join('\n')}`).toBe(true);
      expect(o.setContext).toEqual([0]);
      expect(lines.some((l) => /winbind added \d+ SIDs to the token of S-1-5-21-[\d-]+: .*S-1-5-32-551/.test(l)), lines.join('\n')).toBe(true);
    } finally {
      await withWinbind.close();
    }
  }, 120_000);
});

describe('refused and logged: a replayed or out-of-skew authenticator (AD DC tickets)', () => {
  it('the same bind (AP-REQ) sent again on a new TCP connection is refused as a replay', async () => {
    log.take();
    const o = await impacketDcerpc(request({ level: 'integrity', replayBind: true }), env());
    const lines = log.take();
    expect(o.ok, `${o.error}\n${lines.join('\n')}`).toBe(true); // the first bind, and its calls, went through
    expect(o.replay === 13 || o.replay === 'closed', `answer ${o.replay}`).toBe(true);
    expect(lines.filter((l) => /refused: .*replayed authenticator of fsrvpbackup@FSRVP\.TEST/.test(l)), lines.join('\n')).toHaveLength(1);
  }, 120_000);

  it('an authenticator 15 minutes behind is refused (clock skew 300 s)', async () => {
    log.take();
    const o = await impacketDcerpc(request({ level: 'integrity', skewSec: -900 }), env());
    const lines = log.take();
    expect(o.ok).toBe(false);
    expect(o.version).toBeUndefined();
    expect(lines.filter((l) => /refused: .*authenticator of fsrvpbackup@FSRVP\.TEST at .* is outside the clock skew of 300 s/.test(l)), lines.join('\n')).toHaveLength(1);
  }, 120_000);
});
