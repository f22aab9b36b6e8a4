/**
 * PassdbCredentials against a real tdbsam passdb made by pdbedit in a scratch directory: the NT
 * hash is MD4(UTF-16LE(password)) and the SIDs are the account's; unknown accounts are undefined.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PassdbCredentials } from '../../src/security/credentials/passdb.js';
import { md4 } from '../../src/security/crypto/md4.js';

const dir = mkdtempSync(join(tmpdir(), 'fsrvp-passdb-'));
const user = 'fsrvppdbt';
let creds: PassdbCredentials | undefined;
afterAll(async () => {
  await creds?.close();
  try { execFileSync('userdel', [user]); } catch { /* already gone */ }
  rmSync(dir, { recursive: true, force: true });
});

describe('passdb credentials through the helper', () => {
  it('returns the NT hash and SIDs of a passdb account, undefined for an unknown one', async () => {
    mkdirSync(join(dir, 'priv'));
    const conf = join(dir, 'smb.conf');
    writeFileSync(conf, ['[global]', 'workgroup = TESTWG', 'netbios name = PDBT', `private dir = ${dir}/priv`,
      `state directory = ${dir}`, `cache directory = ${dir}`, `lock directory = ${dir}`,
      `passdb backend = tdbsam:${dir}/priv/passdb.tdb`, ''].join('\n'));
    try { execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', user]); } catch { /* exists */ }
    execFileSync('pdbedit', ['-s', conf, '-a', '-t', '-u', user], { input: 'Pa55word!\nPa55word!\n' });
    creds = new PassdbCredentials({ smbConf: conf });
    const e = await creds.lookup(user, 'PDBT');
    expect(e).toBeDefined();
    expect(Buffer.from(e!.ntHash).toString('hex')).toBe(Buffer.from(md4(Buffer.from('Pa55word!', 'utf16le'))).toString('hex'));
    expect(e!.identity.accountName).toBe(user);
    expect(e!.identity.sids[0]).toMatch(/^S-1-5-21-\d+-\d+-\d+-\d+$/);
    expect(e!.identity.sids[1]).toMatch(/-513$/);
    expect(await creds.lookup('nosuchuser', 'PDBT')).toBeUndefined();
  });
});
