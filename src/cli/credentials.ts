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

/** The ClientAuth the options ask for, or undefined without --auth. */
export async function authFromArgs(a: AuthArgs, env: NodeJS.ProcessEnv = process.env): Promise<ClientAuth | undefined> {
  if (a.mechanism === undefined) {
    if (a.level !== undefined || a.user !== undefined) throw new AuthUsageError('--level and -U need --auth');
    return undefined;
  }
  if (a.user === undefined) throw new AuthUsageError('--auth needs -U DOMAIN\\USER');
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
  return clientAuth({ mechanism: a.mechanism, level: a.level ?? 'privacy', credentials: { user, domain, password } });
}
