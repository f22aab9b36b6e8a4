/**
 * NT hashes and account SIDs from a standalone Samba host's own passdb, through the long-lived
 * Python helper (mode `passdb`, samba.samba3.passdb): the host's authority answers each lookup,
 * no copy of any password or hash is kept here. Used by NTLMSSP's ntHashVerifier.
 */
import { HelperError } from '../../sys/helper-process.js';
import { HelperClient, type FsrvpHelperOptions } from '../../sys/helpers/fsrvp-helper.js';
import type { CallerIdentity } from '../../dcerpc/interface.js';

/** What an NT-hash verifier needs about one account. */
export interface NtHashEntry {
  readonly ntHash: Uint8Array;
  readonly identity: CallerIdentity;
}

/** Looks an account up by name; undefined when there is no usable account (unknown, disabled). */
export type NtHashLookup = (user: string, domain: string) => Promise<NtHashEntry | undefined>;

/** Helper answers that mean "no such usable account" rather than "the helper cannot work". */
const NO_ACCOUNT = new Set(['NO_SUCH_USER', 'ACCOUNT_DISABLED', 'NO_NT_HASH', 'EINVAL']);

export interface PassdbOptions extends FsrvpHelperOptions {
  /** smb.conf to load (default: Samba's own default path). */
  readonly smbConf?: string;
  readonly timeoutMs?: number;
}

export class PassdbCredentials extends HelperClient {
  constructor(options: PassdbOptions = {}) {
    super('passdb', options.smbConf !== undefined ? [options.smbConf] : [], options, options.timeoutMs ?? 10_000);
  }

  /** The account's NT hash and SIDs (user, primary group, BUILTIN aliases), or undefined. */
  async lookup(user: string, _domain: string): Promise<NtHashEntry | undefined> {
    if (user.length === 0 || user.length > 256) return undefined;
    let r: { user: string; domain: string; ntHash: string; sids: string[] };
    try {
      r = await this.call('lookup', { user });
    } catch (e) {
      if (e instanceof HelperError && NO_ACCOUNT.has(e.code)) return undefined;
      throw e;
    }
    if (!/^[0-9a-f]{32}$/.test(r.ntHash) || !Array.isArray(r.sids)) return undefined;
    return {
      ntHash: Uint8Array.from(Buffer.from(r.ntHash, 'hex')),
      identity: { source: 'rpc-auth', sids: r.sids.filter((s) => typeof s === 'string'), accountName: r.user, domainName: r.domain },
    };
  }

  /** A lookup function bound to this client, the shape ntHashVerifier takes. */
  get lookupFn(): NtHashLookup {
    return (user, domain) => this.lookup(user, domain);
  }
}
