/**
 * Kerberos DCE/RPC protection against none, over TCP to our agent, with a real KDC: a private
 * Samba AD DC (tools/lib/samba-addc.ts) provisioned on loopback, whose keytab the agent accepts
 * tickets with. The client gets its service ticket from the DC's KDC once (kinit, then our
 * TGS-REQ); every bind is then a fresh AP-REQ with the DCE-style three-leg exchange.
 *  - GetSupportedVersion calls per second, sealed (raw Kerberos, packet privacy) and signed
 *    (integrity) against unauthenticated;
 *  - full cycles on the DC's btrfs share, sealed against unauthenticated (goal ≥ 0.9×).
 * Client and agent share the main thread for all three clients alike; the figures are medians
 * of interleaved rounds after a warm-up; a cycle round is one cycle (measure.ts CYCLE_ROUNDS).
 */
import { targetOpener } from '../../src/cli/target.js';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { clientAuth, type ClientLevel } from '../../src/security/client-auth.js';
import { acquireServiceTicket } from '../../src/security/kerberos/client-ticket.js';
import type { ServiceTicket } from '../../src/security/kerberos/kdc-client.js';
import { DC_ADDRESS, startAdDc } from '../lib/samba-addc.js';
import { dcUserSid, startDcAgent } from '../lib/samba-addc-agent.js';
import { DC_SHARE } from '../lib/samba-addc-share.js';
import { CYCLE_ROUNDS, ONE_BATCH, interleaved, rate, report, type Rate } from './measure.js';
import { handleSignals } from './samba-run.js';

const ROUNDS = 5;

export async function benchKrb(seconds: number): Promise<void> {
  console.log('\n== krb: Kerberos-sealed vs unauthenticated DCE/RPC over TCP (a private Samba AD DC is the KDC) ==');
  const unhook = handleSignals();
  const dc = await startAdDc({ share: {} });
  const clients: FsrvpClient[] = [];
  try {
    const keytab = await dc.exportKeytab();
    const user = dc.users[0]!;
    // A PAC carries no BUILTIN alias SIDs: over TCP the user is allowed by its own SID.
    const sid = await dcUserSid(dc, user.name);
    // Unauthenticated TCP callers get the listener's configured token, here the same user's.
    const agent = await startDcAgent(dc, {
      keytab, tcp: true, minLevel: 'none',
      patch: (c) => {
        c.authz.allowSids = [sid];
        c.listen.tcp = { ...c.listen.tcp!, caller: { sids: [sid], accountName: user.name } };
      },
    });
    const ccache = await dc.kinit(user);
    const ticket: ServiceTicket = await acquireServiceTicket({ spn: `host/${dc.fqdn}`, ccache, env: dc.env(ccache) });
    const opener = targetOpener({ kind: 'tcp', host: DC_ADDRESS, port: agent.tcp!.port }, undefined);
    const connect = async (level?: ClientLevel): Promise<FsrvpClient> => {
      const auth = level === undefined ? undefined : clientAuth({ mechanism: 'kerberos', level, kerberos: ticket });
      const c = await FsrvpClient.over(await opener.open(), auth !== undefined ? { auth } : {});
      clients.push(c);
      return c;
    };
    const plain = await connect();
    const sealed = await connect('privacy');
    const signed = await connect('integrity');
    const slice = seconds / ROUNDS;
    const gsv = (c: FsrvpClient) => (label: string): Promise<Rate> => rate(label, async () => {
      const r = await c.getSupportedVersion();
      if (r.result !== 0) throw new Error(`GetSupportedVersion returned ${r.result}`);
    }, slice, 50, 100);
    const [plainGsv, sealedGsv, signedGsv] = await interleaved(ROUNDS, [
      { label: 'GetSupportedVersion, unauthenticated (TCP)', run: gsv(plain) },
      { label: 'GetSupportedVersion, Kerberos sealed (privacy)', run: gsv(sealed) },
      { label: 'GetSupportedVersion, Kerberos signed (integrity)', run: gsv(signed) },
    ]) as [Rate, Rate, Rate];
    report(plainGsv);
    report(sealedGsv, plainGsv);
    report(signedGsv, plainGsv);
    const cycles = (c: FsrvpClient) => (label: string): Promise<Rate> =>
      rate(label, () => c.cycle({ shares: [DC_SHARE], serverName: DC_ADDRESS }), ONE_BATCH, 1, 0);
    const [plainCycles, sealedCycles] = await interleaved(CYCLE_ROUNDS, [
      { label: 'full cycles, unauthenticated', run: cycles(plain) },
      { label: 'full cycles, Kerberos sealed (privacy)', run: cycles(sealed) },
    ]) as [Rate, Rate];
    report(plainCycles);
    report(sealedCycles, plainCycles);
    console.log(`Kerberos-sealed cycles at ${(sealedCycles.perSecond / plainCycles.perSecond).toFixed(2)}× unauthenticated (goal ≥ 0.9×);`
      + ` sealed calls at ${(sealedGsv.perSecond / plainGsv.perSecond).toFixed(2)}×`);
    console.log(`(each figure: the median of interleaved rounds, ${ROUNDS} for calls and ${CYCLE_ROUNDS} single cycles for cycles; ticket etype ${ticket.sessionKey.etype})`);
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await opener.close();
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await dc.stop();
    unhook();
  }
}
