/**
 * Credentials for the client tools' DCE/RPC authentication (`--auth`, `--level`, `-U`): the
 * password comes from FSRVP_PASSWORD, a file (`--password-file`, first line), or a prompt on
 * the terminal (not echoed) — never from the command line alone, where `ps` shows it. Kerberos
 * (`--auth kerberos`, and `--auth spnego` when a ticket can be had) takes its account from the
 * credential cache instead (kerberos-args.ts); the tickets are fetched before anything connects.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { ClientAuth } from '../dcerpc/client-auth.js';
import { clientAuth, parseUserName, type ClientLevel, type ClientMechanism } from '../security/client-auth.js';
import type { ServiceTicket } from '../security/kerberos/kdc-client.js';
import { spnFor } from '../security/kerberos/client-ticket.js';
import { KERBEROS_HELP, KerberosUsageError, dceSpn, kerberosOptionsGiven, parseKerberosOption, ticketFor, whyNot, type KerberosArgs, type SmbAuth } from './kerberos-args.js';

export { KerberosUsageError } from './kerberos-args.js';

export interface AuthArgs extends KerberosArgs {
  mechanism?: ClientMechanism;
  level?: ClientLevel;
  user?: string;
  passwordFile?: string;
}

export class AuthUsageError extends Error {}

export const AUTH_HELP = `DCE/RPC authentication:
  --auth ntlm|kerberos|spnego
                             authenticate the bind: NTLMSSP (-U), Kerberos (a ticket from the
                             credential cache; no -U), or SPNEGO preferring Kerberos when a
                             ticket can be had and falling back to NTLMSSP with -U
  --level integrity|privacy  packet protection (default privacy)
  -U, --user DOMAIN\\USER     account for NTLM (also USER@DOMAIN)
  --password-file FILE       password from the first line of FILE; else FSRVP_PASSWORD,
                             else a prompt on the terminal
${KERBEROS_HELP}`;

/** Consumes one authentication option at argv[i]; returns how many arguments it took (0: not ours). */
export function parseAuthOption(argv: readonly string[], i: number, into: AuthArgs): number {
  const a = argv[i] as string;
  const value = (): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new AuthUsageError(`${a} needs a value`);
    return v;
  };
  if (a === '--auth') {
    const v = value();
    if (v !== 'ntlm' && v !== 'spnego' && v !== 'kerberos') throw new AuthUsageError(`--auth: ntlm, kerberos or spnego, not ${v}`);
    into.mechanism = v;
    return 2;
  }
  if (a === '--level') {
    const v = value();
    if (v !== 'integrity' && v !== 'privacy') throw new AuthUsageError(`--level: integrity or privacy, not ${v}`);
    into.level = v;
    return 2;
  }
  if (a === '-U' || a === '--user') {
    into.user = value();
    return 2;
  }
  if (a === '--password-file') {
    into.passwordFile = value();
    return 2;
  }
  try {
    return parseKerberosOption(argv, i, into);
  } catch (e) {
    if (e instanceof KerberosUsageError) throw new AuthUsageError(e.message);
    throw e;
  }
}

async function prompt(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new AuthUsageError('no password: set FSRVP_PASSWORD or give --password-file (standard input is not a terminal)');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write(question);
  out._writeToOutput = () => {};
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** An account and its password, as -U and the password sources give them. */
export interface UserCredentials {
  readonly user: string;
  readonly domain: string;
  readonly password: string;
}

/** The credentials of -U (the password from --password-file, FSRVP_PASSWORD or a prompt), or undefined without -U. */
export async function credentialsFromArgs(a: AuthArgs, env: NodeJS.ProcessEnv = process.env): Promise<UserCredentials | undefined> {
  if (a.user === undefined) {
    if (a.passwordFile !== undefined) throw new AuthUsageError('--password-file needs -U DOMAIN\\USER');
    return undefined;
  }
  const { user, domain } = parseUserName(a.user);
  let password: string;
  if (a.passwordFile !== undefined) {
    const text = await readFile(a.passwordFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new AuthUsageError(`--password-file ${a.passwordFile}: ${e.code ?? e.message}`);
    });
    password = text.split(/\r?\n/)[0] ?? '';
  } else if (env.FSRVP_PASSWORD !== undefined) {
    password = env.FSRVP_PASSWORD;
  } else {
    password = await prompt(`password for ${domain ? `${domain}\\` : ''}${user}: `);
  }
  return { user, domain, password };
}

/**
 * A maker of fresh security contexts (one per connection) for the options, or undefined without
 * --auth. `userWithoutAuth`: -U alone is fine (it is the SMB account of --smb). `kerberos`: the
 * service ticket (needed for kerberos, preferred by spnego).
 */
export function authFactory(a: AuthArgs, credentials: UserCredentials | undefined, o: { userWithoutAuth?: boolean; kerberos?: ServiceTicket } = {}): (() => ClientAuth) | undefined {
  if (a.mechanism === undefined) {
    if (a.level !== undefined) throw new AuthUsageError('--level needs --auth');
    if (a.user !== undefined && o.userWithoutAuth !== true) throw new AuthUsageError('-U needs --auth (or --smb, whose logon it is)');
    return undefined;
  }
  const mechanism = a.mechanism;
  if (mechanism === 'kerberos' && o.kerberos === undefined) throw new AuthUsageError('--auth kerberos needs a service ticket');
  if (mechanism !== 'kerberos' && credentials === undefined && o.kerberos === undefined) throw new AuthUsageError(`--auth ${mechanism} needs -U DOMAIN\\USER`);
  const level = a.level ?? 'privacy';
  const kerberos = o.kerberos;
  const ntlm = mechanism === 'kerberos' ? undefined : credentials;
  return () => clientAuth({ mechanism, level, ...(ntlm !== undefined ? { credentials: ntlm } : {}), ...(kerberos !== undefined ? { kerberos } : {}) });
}

/** The ClientAuth the options ask for (reading -U's password), or undefined without --auth (NTLM; tests). */
export async function authFromArgs(a: AuthArgs, env: NodeJS.ProcessEnv = process.env, o: { userWithoutAuth?: boolean } = {}): Promise<ClientAuth | undefined> {
  if (a.mechanism !== undefined && a.user === undefined) throw new AuthUsageError('--auth needs -U DOMAIN\\USER');
  const make = authFactory(a, a.mechanism !== undefined ? await credentialsFromArgs(a, env) : undefined, o);
  return make?.();
}

/** How the SMB session logs on: the NTLM account and/or the cifs/<host> ticket. */
export interface SmbLogon {
  readonly credentials?: UserCredentials;
  readonly kerberos?: ServiceTicket;
}

export interface ClientSecurity {
  /** -U's credentials, when something uses them. */
  readonly credentials: UserCredentials | undefined;
  readonly auth: (() => ClientAuth) | undefined;
  /** The SMB logon of --smb. */
  readonly smb: SmbLogon | undefined;
  /** What was chosen and why (SPNEGO without Kerberos, say), for a line on stderr. */
  readonly notes: readonly string[];
}

/**
 * What the client tools need from the authentication options: the credentials (read only when
 * something uses them: NTLM for --auth or for the SMB logon of --smb), the Kerberos tickets
 * (fetched now, so that a missing cache, an expired TGT, an unknown principal or an unreachable
 * KDC fails before anything connects) and the context maker for --auth. Bad combinations fail
 * before any password is asked for. `host`: the target's host (the default SPNs' host part).
 */
export async function clientSecurity(a: AuthArgs, o: { smbLogon: boolean; host?: string }, env: NodeJS.ProcessEnv = process.env): Promise<ClientSecurity> {
  const dce = a.mechanism;
  const smb: SmbAuth | undefined = o.smbLogon ? a.smbAuth ?? (dce === 'kerberos' || dce === 'spnego' ? dce : 'ntlm') : undefined;
  if (dce === undefined && a.level !== undefined) throw new AuthUsageError('--level needs --auth');
  if (a.smbAuth !== undefined && !o.smbLogon) throw new AuthUsageError('--smb-auth goes with --smb');
  const krbUse = dce === 'kerberos' || dce === 'spnego' || smb === 'kerberos' || smb === 'spnego';
  if (kerberosOptionsGiven(a) && !krbUse) throw new AuthUsageError('--krb5-ccache, --spn, --kdc and --realm go with --auth kerberos|spnego or --smb-auth kerberos|spnego');
  const ntlmUse = dce === 'ntlm' || dce === 'spnego' || smb === 'ntlm' || smb === 'spnego';
  if (a.user !== undefined && !ntlmUse) {
    throw new AuthUsageError(dce === undefined ? '-U needs --auth (or --smb, whose logon it is)' : '-U is not used with Kerberos: the account is the credential cache\'s principal (kinit as it)');
  }
  if (a.passwordFile !== undefined && a.user === undefined) throw new AuthUsageError('--password-file needs -U DOMAIN\\USER');
  if (dce === 'ntlm' && a.user === undefined) throw new AuthUsageError('--auth ntlm needs -U DOMAIN\\USER');
  if (smb === 'ntlm' && a.user === undefined) throw new AuthUsageError('--smb needs -U DOMAIN\\USER (the SMB logon), or a Kerberos logon: --auth kerberos or --smb-auth kerberos');
  const notes: string[] = [];
  /** A ticket for `spn`: required (kerberos) or preferred (spnego: else NTLM with -U). */
  const ticket = async (spn: () => string, how: 'kerberos' | 'spnego', what: string): Promise<ServiceTicket | undefined> => {
    if (how === 'kerberos') return ticketFor(a, spn(), env);
    try {
      const t = await ticketFor(a, spn(), env);
      notes.push(`${what}: SPNEGO with Kerberos (${t.server.components.join('/')}@${t.server.realm})`);
      return t;
    } catch (e) {
      if (a.user === undefined) throw new AuthUsageError(`${what}: SPNEGO has neither a Kerberos ticket (${whyNot(e)}) nor -U for NTLM`);
      notes.push(`${what}: SPNEGO without Kerberos (${whyNot(e)}): NTLM as ${a.user}`);
      return undefined;
    }
  };
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof KerberosUsageError) throw new AuthUsageError(e.message);
      throw e;
    }
  };
  const dceTicket = dce === 'kerberos' || dce === 'spnego' ? await wrap(() => ticket(() => dceSpn(a, o.host), dce, 'DCE/RPC')) : undefined;
  const smbTicket = smb === 'kerberos' || smb === 'spnego' ? await ticket(() => spnFor(o.host as string, 'cifs'), smb, 'SMB logon') : undefined;
  const credentials = a.user !== undefined ? await credentialsFromArgs(a, env) : undefined;
  const auth = authFactory(a, credentials, { userWithoutAuth: o.smbLogon, ...(dceTicket !== undefined ? { kerberos: dceTicket } : {}) });
  const smbCreds = smb === 'ntlm' || (smb === 'spnego') ? credentials : undefined;
  return {
    credentials, auth, notes,
    smb: smb === undefined ? undefined : { ...(smbCreds !== undefined ? { credentials: smbCreds } : {}), ...(smbTicket !== undefined ? { kerberos: smbTicket } : {}) },
  };
}
