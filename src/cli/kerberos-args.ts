/**
 * The Kerberos options of the client tools (`--krb5-ccache`, `--spn`, `--kdc`, `--realm`,
 * `--smb-auth`) and getting the service tickets they describe, before anything connects: from
 * the credential cache's TGT by a TGS exchange (security/kerberos/client-ticket.ts), or a ticket
 * the cache already holds. Failures are KerberosClientErrors whose messages say what to do.
 */
import { isIP } from 'node:net';
import { acquireServiceTicket, spnFor } from '../security/kerberos/client-ticket.js';
import type { ServiceTicket } from '../security/kerberos/kdc-client.js';
import { KerberosClientError } from '../security/kerberos/kdc-transport.js';

/** How the SMB session of --smb logs on. */
export type SmbAuth = 'ntlm' | 'kerberos' | 'spnego';

export interface KerberosArgs {
  krb5Ccache?: string;
  spn?: string;
  kdc?: string;
  realm?: string;
  smbAuth?: SmbAuth;
}

export class KerberosUsageError extends Error {}

export const KERBEROS_HELP = `Kerberos (--auth kerberos, --auth spnego, --smb-auth kerberos|spnego):
  --krb5-ccache NAME         credential cache with the TGT: a file, FILE:path, DIR:dir (the
                             collection's primary cache), DIR::path, or KCM: / KCM:name (the
                             KCM daemon; kcm_socket in krb5.conf) (default $KRB5CCNAME, else
                             /tmp/krb5cc_<uid>); kinit fills it
  --spn SERVICE/HOST[@REALM] the DCE/RPC service principal (default host/<target host>, as
                             Windows and Samba clients ask for; also the server's machine
                             account, e.g. FS1$; --unix needs --spn)
  --kdc HOST[:PORT]          the KDC (default: the realm's kdc entries in krb5.conf, $KRB5_CONFIG
                             or /etc/krb5.conf)
  --realm REALM              the service's realm (default krb5.conf's [domain_realm] for the host,
                             else the cache principal's realm)
  --smb-auth ntlm|kerberos|spnego
                             the SMB logon of --smb (default: as --auth; ntlm without --auth):
                             kerberos asks for a cifs/<host> ticket and sets up the session with
                             SPNEGO/Kerberos; spnego offers Kerberos first, NTLM with -U
`;

/** Consumes one Kerberos option at argv[i]; returns how many arguments it took (0: not ours). */
export function parseKerberosOption(argv: readonly string[], i: number, into: KerberosArgs): number {
  const a = argv[i] as string;
  const value = (): string => {
    const v = argv[i + 1];
    if (v === undefined || v === '') throw new KerberosUsageError(`${a} needs a value`);
    return v;
  };
  switch (a) {
    case '--krb5-ccache':
      into.krb5Ccache = value();
      return 2;
    case '--spn': {
      const v = value();
      if (!/^[^/@\s]+(\/[^/@\s]+)*(@[^@\s]+)?$/.test(v)) throw new KerberosUsageError(`--spn takes SERVICE/HOST, SERVICE/HOST@REALM or an account (DC1$), not '${v}'`);
      into.spn = v;
      return 2;
    }
    case '--kdc': {
      const v = value();
      if (!/^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)(:\d{1,5})?$/.test(v)) throw new KerberosUsageError(`--kdc takes HOST or HOST:PORT, not '${v}'`);
      into.kdc = v;
      return 2;
    }
    case '--realm':
      into.realm = value();
      return 2;
    case '--smb-auth': {
      const v = value();
      if (v !== 'ntlm' && v !== 'kerberos' && v !== 'spnego') throw new KerberosUsageError(`--smb-auth: ntlm, kerberos or spnego, not ${v}`);
      into.smbAuth = v;
      return 2;
    }
    default:
      return 0;
  }
}

/** Whether any Kerberos-only option was given (they need a Kerberos use). */
export const kerberosOptionsGiven = (k: KerberosArgs): boolean =>
  k.krb5Ccache !== undefined || k.spn !== undefined || k.kdc !== undefined || k.realm !== undefined;

/** The DCE/RPC service principal: --spn, else host/<host>. */
export function dceSpn(k: KerberosArgs, host: string | undefined): string {
  if (k.spn !== undefined) return k.spn;
  if (host === undefined) throw new KerberosUsageError('Kerberos over --unix needs --spn SERVICE/HOST (the agent\'s principal, e.g. host/fs.example.com)');
  return spnFor(host);
}

/**
 * The ticket for `spn` with the options' cache, KDC and realm. A KDC that does not know the
 * principal gets a hint when the host part is an address (we do not reverse-resolve it).
 */
export async function ticketFor(k: KerberosArgs, spn: string, env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<ServiceTicket> {
  try {
    return await acquireServiceTicket({
      spn, env, timeoutMs,
      ...(k.krb5Ccache !== undefined ? { ccache: k.krb5Ccache } : {}),
      ...(k.kdc !== undefined ? { kdc: k.kdc } : {}),
      ...(k.realm !== undefined ? { realm: k.realm } : {}),
    });
  } catch (e) {
    if (!(e instanceof KerberosClientError)) throw e;
    const host = spn.replace(/@.*$/, '').split('/')[1] ?? '';
    const hint = e.krbError === 7 && isIP(host) !== 0 ? ` — ${host} is an address: connect by name, or give --spn SERVICE/NAME` : '';
    throw new KerberosClientError(e.code, `${spn}: ${e.message}${hint}`, e.krbError);
  }
}

/** A one-line reason a Kerberos attempt failed (for SPNEGO's fall back to NTLM). */
export const whyNot = (e: unknown): string => (e instanceof Error ? e.message : String(e));
