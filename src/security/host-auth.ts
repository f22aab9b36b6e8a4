/**
 * The DCE/RPC authentication this host offers, assembled from what it has: an NTLMSSP acceptor
 * whose responses the host's own authority checks (Samba's passdb through the helper process, or
 * winbind through ntlm_auth on a domain member or AD DC),
 * SPNEGO around it, and Kerberos when a keytab-backed acceptor is given. The agent calls this
 * once and hands the providers to every listener; `close()` stops the helper process.
 */
import type { AuthProvider } from '../dcerpc/auth.js';
import { hostAuthProviders, type AcceptorFactory } from './dcerpc-provider.js';
import { MECH_OID, type GssFlags } from './gss.js';
import { NtlmAcceptor, ntHashVerifier, processChallenges, type NtlmServerNames, type NtlmVerifier } from './ntlmssp/index.js';
import { createSpnegoAcceptor, type SpnegoMechanism } from './spnego/index.js';
import { PassdbCredentials } from './credentials/passdb.js';
import { WinbindCredentials, winbindTokenSids } from './credentials/winbind.js';
import { cachedTokenSids, expandingAcceptor } from './token-expansion.js';

export interface HostAuthOptions {
  /** Names the NTLM CHALLENGE announces (the agent's NetBIOS name; the domain or workgroup). */
  readonly names: NtlmServerNames;
  /** Where NTLM responses are checked; absent = no NTLM. */
  readonly ntlm?:
    | { readonly verifier: 'passdb'; readonly smbConf?: string }
    /** winbind (domain member, AD DC) through ntlm_auth; `smbConf` is what ntlm_auth loads. */
    | { readonly verifier: 'winbind'; readonly smbConf?: string; readonly ntlmAuth?: string }
    | { readonly verifier: 'custom'; readonly check: NtlmVerifier };
  /** A Kerberos acceptor factory (kerberos/acceptor.ts kerberosAcceptorFactory over the keytab); absent = no Kerberos. */
  readonly kerberos?: AcceptorFactory;
  /**
   * Where the SIDs of a Kerberos caller come from: 'pac' (the ticket's PAC alone, the default)
   * or 'winbind' (the PAC, plus what winbindd puts in the account's token: the BUILTIN aliases).
   */
  readonly kerberosToken?: 'pac' | 'winbind';
  /** Offer SPNEGO (auth_type 9) over the mechanisms above; default true. */
  readonly spnego?: boolean;
}

export interface HostAuth {
  readonly providers: AuthProvider[];
  /** Mechanism names offered, for the start-up log ("spnego(ntlmssp)", "ntlmssp"). */
  readonly offered: string[];
  close(): Promise<void>;
}

export function buildHostAuth(opts: HostAuthOptions): HostAuth {
  let passdb: PassdbCredentials | undefined;
  let winbind: WinbindCredentials | undefined;
  let verifier: NtlmVerifier | undefined;
  if (opts.ntlm?.verifier === 'passdb') {
    passdb = new PassdbCredentials(opts.ntlm.smbConf !== undefined ? { smbConf: opts.ntlm.smbConf } : {});
    verifier = ntHashVerifier(passdb.lookupFn);
  } else if (opts.ntlm?.verifier === 'winbind') {
    const { smbConf, ntlmAuth } = opts.ntlm;
    winbind = new WinbindCredentials({ ...(smbConf !== undefined ? { smbConf } : {}), ...(ntlmAuth !== undefined ? { ntlmAuth } : {}) });
    verifier = winbind.verifier;
  } else if (opts.ntlm?.verifier === 'custom') {
    verifier = opts.ntlm.check;
  }
  const ntlmFor = verifier === undefined ? undefined : (flags: GssFlags): NtlmAcceptor =>
    new NtlmAcceptor({ names: opts.names, verifier: verifier as NtlmVerifier, flags, challenges: processChallenges });

  const ntlm: AcceptorFactory | undefined = ntlmFor;
  const kerberos = opts.kerberos !== undefined && opts.kerberosToken === 'winbind'
    ? expandingAcceptor(opts.kerberos, { source: 'winbind', sids: cachedTokenSids((sid) => winbindTokenSids(sid)) })
    : opts.kerberos;
  let spnego: AcceptorFactory | undefined;
  const inner: string[] = [];
  if (opts.spnego !== false && (ntlmFor !== undefined || kerberos !== undefined)) {
    spnego = (flags) => {
      // Kerberos first, as Windows prefers it; the client's list decides.
      const mechanisms: SpnegoMechanism[] = [];
      const krb = kerberos;
      if (krb !== undefined) {
        // DCE/RPC Kerberos is DCE-style inside SPNEGO too (Samba asks gensec for it on every bind).
        const start = (): ReturnType<SpnegoMechanism['start']> => krb({ ...flags, dceStyle: true });
        mechanisms.push({ oid: MECH_OID.kerberos, start }, { oid: MECH_OID.kerberosMs, start });
      }
      if (ntlmFor !== undefined) mechanisms.push({ oid: MECH_OID.ntlmssp, start: () => ntlmFor(flags) });
      return createSpnegoAcceptor({ mechanisms });
    };
    if (kerberos !== undefined) inner.push('kerberos');
    if (ntlmFor !== undefined) inner.push('ntlmssp');
  }
  const offered: string[] = [];
  if (spnego !== undefined) offered.push(`spnego(${inner.join(', ')})`);
  if (ntlm !== undefined) offered.push('ntlmssp');
  if (kerberos !== undefined) offered.push(opts.kerberosToken === 'winbind' ? 'kerberos (token from winbind)' : 'kerberos');
  return {
    providers: hostAuthProviders({ ntlm, spnego, kerberos }),
    offered,
    async close() {
      await passdb?.close();
      await winbind?.close();
    },
  };
}
