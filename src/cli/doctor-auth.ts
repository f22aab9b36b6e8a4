/**
 * `fsrvpd doctor --agent-config FILE`: which DCE/RPC authentication mechanisms of the agent's
 * configuration will work on this host, and why not (issue 8 item 6). NTLMSSP through passdb
 * (the helper opens the passdb and looks an account up) or through winbind (`wbinfo --ping`,
 * then a probe response through ntlm_auth that winbindd must answer); Kerberos through the
 * keytab (missing, unreadable, undecodable, no supported key, no key for a configured
 * principal; the enctypes it has) and the clock against the KDC (an AS-REQ without
 * pre-authentication, kerberos/kdc-time.ts; skipped when krb5.conf names no KDC for the
 * realm); SPNEGO over what works; and each listener's minimum level against that.
 *
 * The assessment is pure (assessKeytab, assessSkew, assessMechanisms); the probes that touch the
 * host are separate (mechanismProbes) so that tests can give their own.
 */
import type { AgentConfig } from './config.js';
import { formatSection, type Finding, type Status } from './doctor-common.js';
import { getEnctype } from '../security/kerberos/crypto.js';
import type { Keytab, KeytabEntry } from '../security/kerberos/keytab.js';
import { DEFAULT_CLOCK_SKEW_SEC } from '../security/kerberos/acceptor.js';
import type { KdcClock } from '../security/kerberos/kdc-time.js';

/** What a probe found: works, or why not. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

export interface MechanismProbes {
  passdb(smbConf: string | undefined): Promise<ProbeResult>;
  winbind(smbConf: string | undefined, ntlmAuth: string | undefined): Promise<ProbeResult>;
  /** The parsed keytab; throws (ENOENT, EACCES, KeytabError) when it cannot be had. */
  keytab(path: string): Promise<Keytab>;
  /** The KDC's clock; undefined when no KDC is configured for the realm. Throws when none answers. */
  kdcClock(realm: string, client: readonly string[]): Promise<KdcClock | undefined>;
}

const ETYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'des-cbc-crc', 3: 'des-cbc-md5', 16: 'des3-cbc-sha1', 17: 'aes128-cts-hmac-sha1-96', 18: 'aes256-cts-hmac-sha1-96', 23: 'rc4-hmac',
};
export const etypeName = (e: number): string => ETYPE_NAMES[e] ?? `etype ${e}`;

const usable = (e: KeytabEntry): boolean => getEnctype(e.etype)?.keySize === e.key.length;
const nameOf = (e: KeytabEntry): string => `${e.principal.components.join('/')}@${e.principal.realm}`;

export interface KeytabAssessment extends ProbeResult {
  /** The realm to check the clock against, and a client name for the probe. */
  readonly realm?: string;
  readonly client?: readonly string[];
}

/** Whether the keytab can serve the configured principals (absent: any in it), and with which enctypes. */
export function assessKeytab(path: string, kt: Keytab, principals?: readonly string[]): KeytabAssessment {
  const good = kt.entries.filter(usable);
  if (good.length === 0) {
    const present = [...new Set(kt.entries.map((e) => etypeName(e.etype)))];
    return { ok: false, detail: `${path} has no aes256, aes128 or rc4-hmac key (${present.length > 0 ? `only ${present.join(', ')}` : 'it is empty'})` };
  }
  const byName = new Map<string, { entries: KeytabEntry[] }>();
  for (const e of good) {
    const k = nameOf(e);
    if (!byName.has(k)) byName.set(k, { entries: [] });
    byName.get(k)!.entries.push(e);
  }
  const describe = (name: string, es: readonly KeytabEntry[]): string =>
    `${name} (${[...new Set(es.map((e) => `${etypeName(e.etype)} kvno ${e.kvno}`))].join(', ')})`;
  const missing: string[] = [];
  const served: string[] = [];
  if (principals !== undefined && principals.length > 0) {
    for (const p of principals) {
      const at = p.lastIndexOf('@');
      const comp = (at < 0 ? p : p.slice(0, at)).toLowerCase();
      const realm = at < 0 ? undefined : p.slice(at + 1).toUpperCase();
      const es = good.filter((e) => e.principal.components.join('/').toLowerCase() === comp && (realm === undefined || e.principal.realm.toUpperCase() === realm));
      if (es.length === 0) missing.push(p);
      else served.push(describe(p, es));
    }
  } else {
    for (const [name, v] of byName) served.push(describe(name, v.entries));
  }
  const realm = good[0]!.principal.realm;
  // The probe's client: the machine account when the keytab has it, else its first principal.
  const client = (good.find((e) => e.principal.components.length === 1 && e.principal.components[0]!.endsWith('$')) ?? good[0]!).principal.components;
  const shown = served.length > 6 ? [...served.slice(0, 6), `${served.length - 6} more`] : served;
  if (missing.length > 0) {
    return { ok: false, detail: `${path} has no usable key for ${missing.join(', ')}${served.length > 0 ? `; keys for ${shown.join('; ')}` : ''}`, realm, client };
  }
  return { ok: true, detail: `${path}: ${shown.join('; ')}`, realm, client };
}

/** The clock against the KDC's, within the acceptor's skew or not. */
export function assessSkew(realm: string, clock: KdcClock, allowedSec: number): ProbeResult {
  const off = clock.offsetMs / 1000;
  const text = `${Math.abs(off).toFixed(1)} s ${off >= 0 ? 'behind' : 'ahead of'} the KDC of ${realm} (KDC time ${clock.kdcTime.toISOString()}; allowed ${allowedSec} s)`;
  if (Math.abs(off) > allowedSec) return { ok: false, detail: `this host is ${text}: tickets will be refused as out of the clock skew; fix the time (NTP)` };
  return { ok: true, detail: `this host is ${text}` };
}

/** Everything the mechanisms section needs to know, probes already run. */
export interface MechanismFacts {
  readonly ntlm?: { readonly verifier: string; readonly result: ProbeResult };
  readonly kerberos?: { readonly keytab: ProbeResult; readonly skew?: ProbeResult | { readonly skipped: string } };
}

/** The findings of the mechanisms section from the configuration and the probes' results. */
export function assessMechanisms(config: AgentConfig, facts: MechanismFacts): Finding[] {
  const out: Finding[] = [];
  const add = (status: Status, check: string, detail: string): void => {
    out.push({ status, check, detail });
  };
  const working: string[] = [];
  if (config.auth.ntlm === undefined) add('info', 'ntlmssp', 'not configured (auth.ntlm)');
  else if (facts.ntlm !== undefined) {
    const { verifier, result } = facts.ntlm;
    add(result.ok ? 'ok' : 'error', 'ntlmssp', `${result.ok ? 'will work' : 'will not work'} (verifier ${verifier}): ${result.detail}`);
    if (result.ok) working.push('ntlmssp');
  }
  if (config.auth.kerberos === undefined) add('info', 'kerberos', 'not configured (auth.kerberos)');
  else if (facts.kerberos !== undefined) {
    const k = facts.kerberos;
    const skewOk = k.skew === undefined || 'skipped' in k.skew || k.skew.ok;
    add(k.keytab.ok && skewOk ? 'ok' : 'error', 'kerberos', `${k.keytab.ok && skewOk ? 'will work' : 'will not work'}: ${k.keytab.detail}`);
    if (k.skew !== undefined) {
      if ('skipped' in k.skew) add('info', 'clock skew', `not checked: ${k.skew.skipped}`);
      else add(k.skew.ok ? 'ok' : 'error', 'clock skew', k.skew.detail);
    }
    if (k.keytab.ok && skewOk) working.push('kerberos');
  }
  const spnegoInner = working.slice().sort((a, b) => (a === 'kerberos' ? -1 : b === 'kerberos' ? 1 : 0));
  if (!config.auth.spnego) add('info', 'spnego', 'turned off (auth.spnego false)');
  else if (config.auth.ntlm === undefined && config.auth.kerberos === undefined) add('info', 'spnego', 'nothing to negotiate: no mechanism configured');
  else if (spnegoInner.length > 0) add('ok', 'spnego', `will work, over ${spnegoInner.join(', ')}`);
  else add('error', 'spnego', 'will not work: none of the mechanisms under it works here');
  const offered = [...(config.auth.spnego && spnegoInner.length > 0 ? ['spnego'] : []), ...working];
  const strict = config.mode === 'strict';
  for (const [name, l] of [['tcp', config.listen.tcp], ['samba', config.listen.samba]] as const) {
    if (l === undefined) continue;
    const level = strict && l.minLevel === 'none' ? 'integrity' : l.minLevel;
    const why = strict && l.minLevel === 'none' ? ' (strict mode)' : '';
    if (level === 'none') {
      const who = name === 'tcp' ? 'unauthenticated callers get the configured caller identity' : "smbd's SMB session identifies callers";
      add('info', `listener ${name}`, `minimum level none: ${who}${offered.length > 0 ? `; authenticated binds with ${offered.join(', ')}` : ''}`);
    } else if (offered.length === 0) {
      add('error', `listener ${name}`, `minimum level ${level}${why}, but no mechanism works here: every call will be refused`);
    } else {
      add('ok', `listener ${name}`, `minimum level ${level}${why}: clients can bind with ${offered.join(', ')}`);
    }
  }
  return out;
}

/** Runs the probes the configuration calls for, then assesses. */
export async function inspectMechanisms(config: AgentConfig, probes: MechanismProbes): Promise<Finding[]> {
  const facts: { ntlm?: MechanismFacts['ntlm']; kerberos?: MechanismFacts['kerberos'] } = {};
  const n = config.auth.ntlm;
  if (n !== undefined) {
    const result = n.verifier === 'winbind' ? await probes.winbind(n.smbConf, n.ntlmAuth) : await probes.passdb(n.smbConf);
    facts.ntlm = { verifier: n.verifier, result };
  }
  const k = config.auth.kerberos;
  if (k !== undefined) {
    let kt: Keytab | undefined;
    let keytab: KeytabAssessment;
    try {
      kt = await probes.keytab(k.keytab);
      keytab = assessKeytab(k.keytab, kt, k.principals);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read: ${(e as Error).message}`;
      keytab = { ok: false, detail: `keytab ${k.keytab} ${why}` };
    }
    let skew: ProbeResult | { skipped: string } | undefined;
    if (keytab.realm !== undefined && keytab.client !== undefined) {
      try {
        const clock = await probes.kdcClock(keytab.realm, keytab.client);
        skew = clock === undefined ? { skipped: `no KDC for ${keytab.realm} in krb5.conf` } : assessSkew(keytab.realm, clock, k.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC);
      } catch (e) {
        skew = { skipped: `no KDC of ${keytab.realm} answered: ${(e as Error).message}` };
      }
    }
    facts.kerberos = { keytab, ...(skew !== undefined ? { skew } : {}) };
  }
  return assessMechanisms(config, facts);
}

/** Renders the mechanisms section as the CLI prints it. */
export function formatMechanisms(configFile: string, findings: readonly Finding[]): string {
  return formatSection(`fsrvpd doctor: authentication mechanisms of ${configFile}`, findings, {
    bad: 'Some configured authentication will not work here.', good: 'The configured authentication will work here.',
  });
}
