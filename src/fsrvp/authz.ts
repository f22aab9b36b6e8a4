/**
 * Who may call FSRVP. Samba's rule (SAMBA.md §3, FSRVP.md §9.4): uid 0, BUILTIN\Administrators,
 * BUILTIN\Backup Operators, or SeBackupPrivilege; plus configured allow-lists of SIDs and account
 * names (DiskShadow authenticates as the computer account `HOST$`, ECOSYSTEM.md §6).
 *
 * The decision is computed from the caller identity alone, before any argument is looked at.
 */
import type { CallerIdentity } from '../dcerpc/interface.js';

export const SID_BUILTIN_ADMINISTRATORS = 'S-1-5-32-544';
export const SID_BUILTIN_BACKUP_OPERATORS = 'S-1-5-32-551';
/** SeBackupPrivilege in Samba's privilege mask numbering. */
export const SE_BACKUP_PRIVILEGE = 0x200n;

export interface AuthzPolicy {
  /** Apply Samba's built-in rule (root, Administrators, Backup Operators, SeBackupPrivilege). Default true. */
  readonly builtin?: boolean;
  /** The uid that is always allowed under the built-in rule (Samba: smbd's initial uid). Default 0. */
  readonly rootUid?: number;
  /** Extra SIDs (users or groups) whose presence in the token allows the call. */
  readonly allowSids?: readonly string[];
  /** Extra accounts, `DOMAIN\name` or `name` (any domain), compared case-insensitively. */
  readonly allowAccounts?: readonly string[];
}

export type AuthzDecision =
  | { readonly allow: true; readonly reason: string }
  | { readonly allow: false; readonly reason: string };

export type Authorizer = (caller: CallerIdentity) => AuthzDecision;

function describe(caller: CallerIdentity): string {
  const who = caller.accountName
    ? `${caller.domainName ? `${caller.domainName}\\` : ''}${caller.accountName}`
    : '(no account name)';
  const uid = caller.uid === undefined ? '' : `, uid ${caller.uid}`;
  const from = caller.clientAddress ? ` from ${caller.clientAddress}` : '';
  return `${who} (${caller.source}${uid}, ${caller.sids.length} SIDs${from})`;
}

/** Compiles a policy once; the returned function is pure. */
export function compileAuthz(policy: AuthzPolicy = {}): Authorizer {
  const builtin = policy.builtin ?? true;
  const rootUid = policy.rootUid ?? 0;
  const sids = new Set((policy.allowSids ?? []).map((s) => s.trim().toUpperCase()));
  const qualified = new Set<string>();
  const bare = new Set<string>();
  for (const a of policy.allowAccounts ?? []) {
    const t = a.trim().toLowerCase();
    if (t.includes('\\')) qualified.add(t);
    else if (t !== '') bare.add(t);
  }

  return (caller) => {
    const tokenSids = caller.sids.map((s) => s.toUpperCase());
    if (builtin) {
      if (caller.uid !== undefined && caller.uid === rootUid) return { allow: true, reason: `uid ${rootUid}` };
      if (tokenSids.includes(SID_BUILTIN_ADMINISTRATORS)) return { allow: true, reason: 'BUILTIN\\Administrators' };
      if (tokenSids.includes(SID_BUILTIN_BACKUP_OPERATORS)) return { allow: true, reason: 'BUILTIN\\Backup Operators' };
      if (caller.privilegeMask !== undefined && (caller.privilegeMask & SE_BACKUP_PRIVILEGE) !== 0n) {
        return { allow: true, reason: 'SeBackupPrivilege' };
      }
    }
    const sid = tokenSids.find((s) => sids.has(s));
    if (sid) return { allow: true, reason: `allow-listed SID ${sid}` };
    if (caller.accountName) {
      const name = caller.accountName.toLowerCase();
      if (bare.has(name)) return { allow: true, reason: `allow-listed account ${caller.accountName}` };
      if (caller.domainName && qualified.has(`${caller.domainName.toLowerCase()}\\${name}`)) {
        return { allow: true, reason: `allow-listed account ${caller.domainName}\\${caller.accountName}` };
      }
    }
    const rules = builtin
      ? 'not the root uid, not in BUILTIN\\Administrators or BUILTIN\\Backup Operators, no SeBackupPrivilege'
      : 'built-in rule disabled';
    const lists = sids.size + qualified.size + bare.size > 0 ? ', not on the allow-lists' : ', no allow-lists configured';
    return { allow: false, reason: `caller ${describe(caller)}: ${rules}${lists}` };
  };
}
