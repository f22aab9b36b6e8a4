/**
 * The AD DC harness (tools/lib/samba-addc.ts) against itself and real clients: a real Samba
 * 4.17 AD DC on 127.0.0.1 (its KDC, smbd, DCE/RPC servers), MIT krb5-user's kinit/klist/kvno,
 * smbclient and rpcclient over Kerberos, the exported service keytab read by our keytab parser,
 * and \PIPE\FssagentRpc forwarded by the DC's smbd to our agent's socket.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETYPE, findKeytabEntry, parseKeytab } from '../../src/security/kerberos/index.js';
import { AdDc, startAdDc } from '../../tools/lib/samba-addc.js';
import { isMounted } from '../../tools/lib/samba-addc-share.js';
import { groupMembers, LOCK, type Resources, undoSync } from '../../tools/lib/samba-resources.js';
import { startTempAgent } from '../../tools/lib/temp-agent.js';

let dc: AdDc;
let userCc: string;

beforeAll(async () => {
  dc = await startAdDc();
  // eslint-disable-next-line no-console
  console.log(`AD DC timings: ${JSON.stringify(dc.timings)}`);
  userCc = await dc.kinit(dc.users[0]!);
});
afterAll(async () => {
  await dc?.stop();
});

describe('Samba AD DC harness (real samba 4.17 on 127.0.0.1)', () => {
  it('kinit as the test user gives a TGT klist shows', async () => {
    const r = await dc.klist(userCc);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Default principal: ${dc.users[0]!.name}@${dc.realm}`);
    expect(r.stdout).toContain(`krbtgt/${dc.realm}@${dc.realm}`);
  });

  it('a wrong password is refused by the KDC', async () => {
    await expect(dc.kinit({ name: dc.users[1]!.name, password: 'not-the-password-1A' }, 'wrong')).rejects.toThrow(/Password incorrect|preauthentication failed/i);
  });

  it('smbclient -L //<fqdn> --use-kerberos=required lists the shares with a cifs ticket', async () => {
    const { shares, result } = await dc.listShares(userCc);
    expect(shares, result.stderr).toEqual(expect.arrayContaining(['sysvol', 'netlogon']));
    const k = await dc.klist(userCc);
    expect(k.stdout).toContain(`cifs/${dc.fqdn}@${dc.realm}`);
  });

  it('kvno gets cifs/ and host/ tickets whose keys are in the exported keytab at that kvno', async () => {
    const keytab = await dc.exportKeytab();
    const kt = parseKeytab(new Uint8Array(await readFile(keytab)));
    const machineKvno = await dc.machineKvno();
    for (const spn of dc.servicePrincipals()) {
      const r = await dc.kvno(userCc, spn);
      expect(r.code, r.stderr).toBe(0);
      const m = /kvno = (\d+)/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      const kvno = Number(m![1]);
      expect(kvno).toBe(machineKvno);
      const [service, host] = spn.split('/') as [string, string];
      for (const etype of [ETYPE.aes256CtsHmacSha196, ETYPE.aes128CtsHmacSha196, ETYPE.rc4Hmac]) {
        const e = findKeytabEntry(kt, { components: [service, host], realm: dc.realm, kvno, etype });
        expect(e, `${spn} etype ${etype}`).toBeDefined();
        expect(e!.key.length).toBe(etype === ETYPE.aes256CtsHmacSha196 ? 32 : 16);
      }
      // The same keys as the machine account's (one password behind all of them).
      const mach = findKeytabEntry(kt, { components: [dc.machineAccount], realm: dc.realm, kvno, etype: ETYPE.aes256CtsHmacSha196 });
      const svc = findKeytabEntry(kt, { components: [service, host], realm: dc.realm, kvno, etype: ETYPE.aes256CtsHmacSha196 });
      expect(mach).toBeDefined();
      // AES keys are salted with the principal name Samba assigns the account, the same for all its SPNs.
      expect(Buffer.from(svc!.key).equals(Buffer.from(mach!.key))).toBe(true);
      // MIT decrypts the service ticket with the keytab's key: the keys are the ones the KDC used.
      const v = await dc.kvno(userCc, spn, keytab);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/keytab entry valid/);
    }
  });

  it('rpcclient --use-kerberos=required reaches srvsvc (samba-dcerpcd) and lsarpc (samba)', async () => {
    const r = await dc.rpcclient(['srvinfo', 'lsaquery'], userCc);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain(dc.names.host.toUpperCase());
    expect(r.stdout).toMatch(/Domain Name: FSRVPTEST/);
  });

  it('new users can be added, into Backup Operators, and kinit', async () => {
    const u = await dc.addUser('fsrvpextra', 'Xtra-Pw-1a2b3c4d', ['Backup Operators']);
    const cc = await dc.kinit(u);
    expect((await dc.klist(cc)).stdout).toContain(`fsrvpextra@${dc.realm}`);
    const g = await dc.sambaTool(['group', 'listmembers', 'Backup Operators']);
    expect(g.stdout.split('\n').map((l) => l.trim())).toEqual(expect.arrayContaining([dc.users[0]!.name, 'fsrvpextra']));
  });

  it('forwards \\PIPE\\FssagentRpc over a Kerberos SMB session to our agent', async () => {
    const before = await dc.rpcclient('fss_get_sup_version', userCc);
    expect(before.code).not.toBe(0); // nothing listens yet
    expect(before.stdout + before.stderr).toMatch(/OBJECT_NAME_NOT_FOUND|Could not initialise/);
    const agent = await startTempAgent({
      prefix: 'fsrvp-addc-agent-',
      tweak: (c) => {
        c.listen.samba = { socketDir: dc.socketDir, byteMode: false, minLevel: 'none' };
      },
    });
    dc.onStop(() => agent.stop());
    try {
      const r = await dc.rpcclient('fss_get_sup_version', userCc);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain('supports FSRVP versions from 1 to 1');
    } finally {
      await agent.stop();
    }
  });

  it('records its daemons and dirs in the lock for crash cleanup', () => {
    const res = JSON.parse(readFileSync(LOCK, 'utf8')) as Resources;
    expect(res.owner).toBe(process.pid);
    expect(res.root).toBe(dc.root);
    // samba's group, samba-dcerpcd's, smbd's and winbindd's sessions
    expect(res.pgids.length).toBeGreaterThanOrEqual(4);
    expect(res.pgids.every((g) => groupMembers(g).length > 0)).toBe(true);
  });
});

describe('AD DC crash cleanup', () => {
  it('undoSync of the recorded run stops every daemon and removes the run dir', async () => {
    await dc.stop();
    const runSamba = (): string[] => (existsSync('/run/samba') ? readdirSync('/run/samba').sort() : []);
    const before = runSamba();
    const second = await startAdDc();
    try {
      expect(second.timings.fromCache).toBe(true);
      const res = JSON.parse(readFileSync(LOCK, 'utf8')) as Resources;
      undoSync(res); // what the next run does with a dead owner's lock
      for (let i = 0; i < 50 && res.pgids.some((g) => groupMembers(g).length > 0); i++) await new Promise((r) => setTimeout(r, 100));
      expect(res.pgids.filter((g) => groupMembers(g).length > 0)).toEqual([]);
      expect(() => readFileSync(second.conf)).toThrow();
    } finally {
      await second.stop();
    }
    // nothing left behind in Samba's default runtime dir (winbindd's socket dir included)
    expect(runSamba()).toEqual(before);
  });

  it('with a share: the lock records its loop device and mount, and undoSync removes both', async () => {
    const run = await startAdDc({ share: {} });
    try {
      const res = JSON.parse(readFileSync(LOCK, 'utf8')) as Resources;
      const mount = run.share!.mount;
      expect(res.mount).toBe(mount);
      expect(res.loop).toMatch(/^\/dev\/loop\d+$/);
      expect(isMounted(mount)).toBe(true);
      undoSync(res);
      expect(isMounted(mount)).toBe(false);
      expect(existsSync(`/sys/block/${res.loop!.slice(5)}/loop/backing_file`)).toBe(false);
    } finally {
      await run.stop();
    }
  });
});
