/**
 * NTLM responses checked by winbind, on a domain member or an AD DC (issue 8 item 5): the
 * response goes to winbindd through `ntlm_auth --helper-protocol=ntlm-server-1`
 * (ntlm-auth.ts), which says yes or no and gives the user session key (for NTLMv2 the session
 * base key); the account's token comes from winbindd too.
 *
 * Why `wbinfo` for the SIDs: ntlm-server-1 answers only yes/no and the key (not the info3 of
 * the logon), Samba's Python bindings have no libwbclient module, and wbinfo is libwbclient's
 * own client in the same package as ntlm_auth (Debian winbind). `--name-to-sid` gives the
 * account's SID (it must be a user), `--user-sids` every SID of its token as winbindd builds it
 * (domain groups, and the aliases of the domain and of BUILTIN, such as Administrators
 * S-1-5-32-544 and Backup Operators S-1-5-32-551, which authz checks), `--sid-to-name` the
 * canonical DOMAIN\name for the log and allowAccounts. `--user-domgroups` would miss the
 * BUILTIN aliases.
 */
import createDebug from 'debug';
import type { CallerIdentity } from '../../dcerpc/interface.js';
import { CommandError, run } from '../../sys/exec.js';
import { MIN_NTLMV2_RESPONSE, type NtlmVerdict, type NtlmVerifier, type NtlmVerifyRequest } from '../ntlmssp/verifier.js';
import { NtlmAuthHelper, NtlmAuthUnavailable, type NtlmAuthOptions } from './ntlm-auth.js';

const log = createDebug('fsrvp:winbind');

export const DEFAULT_WBINFO = '/usr/bin/wbinfo';

export interface WinbindOptions extends NtlmAuthOptions {
  /** The wbinfo binary (default /usr/bin/wbinfo). */
  readonly wbinfo?: string;
  /** Called with what an operator must know (winbindd down, ntlm_auth missing); default console.error. */
  readonly onError?: (message: string) => void;
}

/** `wbinfo --name-to-sid` output: `S-1-5-21-…-500 SID_USER (1)`. */
export function parseNameToSid(out: string): { sid: string; type: number } | undefined {
  const m = /^(S-1-\d+(?:-\d+)+)\s+\S+\s+\((\d+)\)\s*$/m.exec(out);
  return m ? { sid: m[1] as string, type: Number(m[2]) } : undefined;
}

/** `wbinfo --user-sids` output: one SID a line. */
export function parseSidList(out: string): string[] {
  return out.split('\n').map((l) => l.trim()).filter((l) => /^S-1-\d+(-\d+)+$/.test(l));
}

/** `wbinfo --sid-to-name` output: `DOMAIN\name 1` (the separator is winbind's). */
export function parseSidToName(out: string): { domain: string; name: string } | undefined {
  const m = /^(.*?)[\\/+]([^\\/+\n]+) \d+\s*$/m.exec(out);
  return m ? { domain: m[1] as string, name: m[2] as string } : undefined;
}

/** Text of ntlm_auth refusals that mean winbindd itself is not there, not that the password is wrong. */
const WINBIND_DOWN = /winbind|Reading .* reply failed|connect/i;

/** Whether an ntlm_auth refusal means winbindd is not there (rather than a wrong password or name). */
export const winbindDown = (error: string): boolean => WINBIND_DOWN.test(error);

const SID_TYPE_USER = 1;

/**
 * The SIDs winbindd puts in the token of the account `userSid` (`wbinfo --user-sids`: its
 * groups, then the aliases of the account domain and of BUILTIN that any of them belongs to).
 */
export async function winbindTokenSids(userSid: string, o: { readonly wbinfo?: string; readonly timeoutMs?: number } = {}): Promise<string[]> {
  if (!/^S-1-\d+(-\d+)+$/.test(userSid)) throw new Error(`not a SID: ${JSON.stringify(userSid)}`);
  const r = await run(o.wbinfo ?? DEFAULT_WBINFO, ['--user-sids', userSid], { timeoutMs: o.timeoutMs ?? 15_000 });
  return parseSidList(r.stdout);
}

export class WinbindCredentials {
  readonly helper: NtlmAuthHelper;
  private readonly wbinfo: string;
  private readonly onError: (message: string) => void;
  private separator: string | undefined;

  constructor(private readonly opts: WinbindOptions = {}) {
    this.helper = new NtlmAuthHelper(opts);
    this.wbinfo = opts.wbinfo ?? DEFAULT_WBINFO;
    this.onError = opts.onError ?? ((m) => console.error(`fsrvpd: ${m}`));
  }

  /** wbinfo's output; with `noneOnExit`, '' when it exits non-zero (e.g. an unknown name). */
  private async wb(args: readonly string[], noneOnExit = false): Promise<string> {
    try {
      return (await run(this.wbinfo, args, { timeoutMs: this.opts.timeoutMs ?? 15_000 })).stdout;
    } catch (e) {
      if (noneOnExit && e instanceof CommandError && e.kind === 'exit') return '';
      throw e;
    }
  }

  /** winbind's separator between domain and name (`wbinfo --separator`), asked once. */
  private async sep(): Promise<string> {
    if (this.separator === undefined) {
      const s = (await this.wb(['--separator'])).trim();
      this.separator = s.length === 1 ? s : '\\';
    }
    return this.separator;
  }

  /** The token of `domain\user` as winbindd builds it; a reason when there is none. */
  async identity(user: string, domain: string): Promise<CallerIdentity | string> {
    const sep = await this.sep();
    const name = domain.length > 0 ? `${domain}${sep}${user}` : user;
    const found = parseNameToSid(await this.wb(['--name-to-sid', name], true));
    if (found === undefined) return `winbind knows no account ${name}`;
    if (found.type !== SID_TYPE_USER) return `${name} is not a user account (SID type ${found.type})`;
    const [groups, canonical] = await Promise.all([this.wb(['--user-sids', found.sid]), this.wb(['--sid-to-name', found.sid])]);
    const who = parseSidToName(canonical);
    const sids = [...new Set([found.sid, ...parseSidList(groups)])];
    return { source: 'rpc-auth', sids, accountName: who?.name ?? user, domainName: who?.domain ?? domain };
  }

  /** Checks one NTLMv2 response with winbind; never throws. */
  async verify(req: NtlmVerifyRequest): Promise<NtlmVerdict> {
    const who = `${req.domain}\\${req.user}`;
    if (req.ntResponse.length < MIN_NTLMV2_RESPONSE) return { ok: false, reason: 'not an NTLMv2 response (NTLMv1 and LM are refused)' };
    let answer;
    try {
      answer = await this.helper.check({ user: req.user, domain: req.domain, serverChallenge: req.serverChallenge, ntResponse: req.ntResponse });
    } catch (e) {
      const msg = e instanceof NtlmAuthUnavailable ? e.message : String(e);
      this.onError(`winbind verifier: ${msg}`);
      return { ok: false, reason: `winbind cannot check ${who}: ${msg}` };
    }
    if (answer.kind === 'refused') {
      if (winbindDown(answer.error)) {
        this.onError(`winbind verifier: winbindd is not answering (ntlm_auth: ${answer.error}); is winbindd running?`);
        return { ok: false, reason: `winbind cannot check ${who}: winbindd is not answering (${answer.error})` };
      }
      return { ok: false, reason: `winbind refused ${who}: ${answer.error}` };
    }
    if (answer.kind === 'error') return { ok: false, reason: `winbind cannot check ${who}: ${answer.error}` };
    if (answer.userSessionKey === undefined) return { ok: false, reason: `winbind accepted ${who} but gave no user session key` };
    let identity: CallerIdentity | string;
    try {
      identity = await this.identity(req.user, req.domain);
    } catch (e) {
      this.onError(`winbind verifier: looking up the token of ${who}: ${(e as Error).message}`);
      return { ok: false, reason: `winbind accepted ${who} but its token cannot be looked up: ${(e as Error).message}` };
    }
    if (typeof identity === 'string') return { ok: false, reason: identity };
    log('winbind accepted %s: %s\\%s, %d SIDs: %s', who, identity.domainName, identity.accountName, identity.sids.length, identity.sids.join(' '));
    return { ok: true, sessionBaseKey: answer.userSessionKey, identity };
  }

  get verifier(): NtlmVerifier {
    return (req) => this.verify(req);
  }

  close(): Promise<void> {
    return this.helper.close();
  }
}
