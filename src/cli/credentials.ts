/**
 * Credentials for the client tools' DCE/RPC authentication (`--auth`, `--level`, `-U`): the
 * password comes from FSRVP_PASSWORD, a file (`--password-file`, first line), or a prompt on
 * the terminal (not echoed) — never from the command line alone, where `ps` shows it.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { ClientAuth } from '../dcerpc/client-auth.js';
import { clientAuth, parseUserName, type ClientLevel, type ClientMechanism } from '../security/client-auth.js';

export interface AuthArgs {
  mechanism?: ClientMechanism;
  level?: ClientLevel;
  user?: string;
  passwordFile?: string;
}

export class AuthUsageError extends Error {}

export const AUTH_HELP = `DCE/RPC authentication:
  --auth ntlm|spnego         authenticate the bind (NTLMSSP, or SPNEGO over NTLMSSP)
  --level integrity|privacy  packet protection (default privacy)
  -U, --user DOMAIN\\USER     account (also USER@DOMAIN; required with --auth)
  --password-file FILE       password from the first line of FILE; else FSRVP_PASSWORD,
                             else a prompt on the terminal
`;

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
    if (v !== 'ntlm' && v !== 'spnego') throw new AuthUsageError(`--auth: ntlm or spnego (kerberos is not available in the client yet), not ${v}`);
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
  return 0;
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
 * --auth. `userWithoutAuth`: -U alone is fine (it is the SMB account of --smb).
 */
export function authFactory(a: AuthArgs, credentials: UserCredentials | undefined, o: { userWithoutAuth?: boolean } = {}): (() => ClientAuth) | undefined {
  if (a.mechanism === undefined) {
    if (a.level !== undefined) throw new AuthUsageError('--level needs --auth');
    if (a.user !== undefined && o.userWithoutAuth !== true) throw new AuthUsageError('-U needs --auth (or --smb, whose logon it is)');
    return undefined;
  }
  if (credentials === undefined) throw new AuthUsageError('--auth needs -U DOMAIN\\USER');
  const mechanism = a.mechanism;
  const level = a.level ?? 'privacy';
  return () => clientAuth({ mechanism, level, credentials });
}

/** The ClientAuth the options ask for (reading -U's password), or undefined without --auth. */
export async function authFromArgs(a: AuthArgs, env: NodeJS.ProcessEnv = process.env, o: { userWithoutAuth?: boolean } = {}): Promise<ClientAuth | undefined> {
  if (a.mechanism !== undefined && a.user === undefined) throw new AuthUsageError('--auth needs -U DOMAIN\\USER');
  const make = authFactory(a, a.mechanism !== undefined ? await credentialsFromArgs(a, env) : undefined, o);
  return make?.();
}

/**
 * What the client tools need from the authentication options: the credentials (read only when
 * something uses them: --auth, or the SMB logon of --smb) and the context maker for --auth.
 * Bad combinations fail before any password is asked for.
 */
export async function clientSecurity(a: AuthArgs, o: { smbLogon: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<{
  credentials: UserCredentials | undefined;
  auth: (() => ClientAuth) | undefined;
}> {
  authFactory(a, FAKE, { userWithoutAuth: o.smbLogon });
  if (o.smbLogon && a.user === undefined) throw new AuthUsageError('--smb needs -U DOMAIN\\USER (the SMB logon)');
  if (a.mechanism !== undefined && a.user === undefined) throw new AuthUsageError('--auth needs -U DOMAIN\\USER');
  const credentials = a.mechanism !== undefined || o.smbLogon ? await credentialsFromArgs(a, env) : undefined;
  return { credentials, auth: authFactory(a, credentials, { userWithoutAuth: o.smbLogon }) };
}

/** Stands in for credentials while only the option combination is checked. */
const FAKE: UserCredentials = { user: '', domain: '', password: '' };
