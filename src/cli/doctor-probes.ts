/**
 * The probes of doctor-auth.ts on the real host: the passdb through the helper, winbindd through
 * wbinfo and ntlm_auth, the keytab file, and the KDC's clock by krb5.conf (KRB5_CONFIG).
 */
import { randomBytes } from 'node:crypto';
import { access, constants as fsc, readFile } from 'node:fs/promises';
import { PassdbCredentials } from '../security/credentials/passdb.js';
import { DEFAULT_NTLM_AUTH, NtlmAuthHelper } from '../security/credentials/ntlm-auth.js';
import { DEFAULT_WBINFO, winbindDown } from '../security/credentials/winbind.js';
import { parseKeytab } from '../security/kerberos/keytab.js';
import { kdcClock } from '../security/kerberos/kdc-time.js';
import { kdcsForRealm, loadKrb5Conf } from '../security/kerberos/krb5-conf.js';
import type { Exec } from './doctor-common.js';
import type { MechanismProbes, ProbeResult } from './doctor-auth.js';

/** An account name no one has: looking it up exercises the authority without touching an account. */
const PROBE_USER = 'fsrvpd-doctor-probe';

const firstLine = (s: string): string => s.trim().split('\n')[0]?.slice(0, 200) ?? '';

async function passdbProbe(smbConf: string | undefined): Promise<ProbeResult> {
  const p = new PassdbCredentials({ ...(smbConf !== undefined ? { smbConf } : {}), timeoutMs: 15_000 });
  try {
    await p.lookup(PROBE_USER, '');
    return { ok: true, detail: `Samba's passdb${smbConf !== undefined ? ` of ${smbConf}` : ''} answers through the helper` };
  } catch (e) {
    return { ok: false, detail: `the passdb cannot be read through the helper (python3-samba, root): ${firstLine((e as Error).message)}` };
  } finally {
    await p.close();
  }
}

async function winbindProbe(exec: Exec, smbConf: string | undefined, ntlmAuth: string | undefined): Promise<ProbeResult> {
  const ping = await exec(DEFAULT_WBINFO, ['--ping']);
  if (ping.code === 127 && /ENOENT/.test(ping.stderr)) return { ok: false, detail: `${DEFAULT_WBINFO} not found (Debian package winbind)` };
  if (ping.code !== 0) return { ok: false, detail: `winbindd is not running (wbinfo --ping: ${firstLine(ping.stdout + ping.stderr)})` };
  const file = ntlmAuth ?? DEFAULT_NTLM_AUTH;
  try {
    await access(file, fsc.X_OK);
  } catch {
    return { ok: false, detail: `winbindd answers, but ${file} is missing or not executable (Debian package winbind)` };
  }
  // A response for an account no one has: winbindd must answer it (NO_SUCH_USER or the like).
  const helper = new NtlmAuthHelper({ ntlmAuth: file, ...(smbConf !== undefined ? { smbConf } : {}), timeoutMs: 15_000 });
  try {
    const a = await helper.check({ user: PROBE_USER, domain: '', serverChallenge: randomBytes(8), ntResponse: randomBytes(64) });
    if (a.kind === 'refused' && !winbindDown(a.error)) return { ok: true, detail: `winbindd answers through ${file} (a probe for a made-up account: ${a.error})` };
    if (a.kind === 'authenticated') return { ok: false, detail: `${file} accepted a random response for a made-up account: do not trust it` };
    return { ok: false, detail: `${file} cannot reach winbindd: ${a.error}` };
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  } finally {
    await helper.close();
  }
}

/** The real probes; `env` decides krb5.conf (KRB5_CONFIG). */
export function mechanismProbes(exec: Exec, env: NodeJS.ProcessEnv = process.env): MechanismProbes {
  return {
    passdb: passdbProbe,
    winbind: (smbConf, ntlmAuth) => winbindProbe(exec, smbConf, ntlmAuth),
    keytab: async (path) => parseKeytab(new Uint8Array(await readFile(path))),
    kdcClock: async (realm, client) => {
      const kdcs = kdcsForRealm(await loadKrb5Conf(env), realm);
      return kdcs.length === 0 ? undefined : kdcClock(kdcs, client, realm);
    },
  };
}
