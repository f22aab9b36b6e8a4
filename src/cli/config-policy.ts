/**
 * The directory-structure policy keys of the configuration (storage/policy.ts): a default for
 * every share (`storage.policy`, or the older `storage.maxDepth` / `storage.refuseHardLinks`),
 * and one per share (`shares.static.NAME.policy`, or `storage.sharePolicies.NAME` for shares
 * that come from Samba). Share names match case-insensitively.
 */
import { POLICY_PROFILES, type PolicyProfile, type SharePolicy } from '../storage/policy.js';
import type { Share } from '../shares/types.js';

export const POLICY_KEYS = ['profile', 'maxDepth', 'maxEntries', 'refuseHardLinks'] as const;

type Fail = (path: string, msg: string) => never;

function limit(v: unknown, path: string, max: number, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(path, `must be an integer from 0 (no limit) to ${max}`);
  return v === 0 ? Infinity : (v as number);
}

/** Parses one policy object `{ profile, maxDepth?, maxEntries?, refuseHardLinks? }`. */
export function parsePolicy(v: unknown, path: string, fail: Fail): SharePolicy {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(POLICY_KEYS as readonly string[]).includes(k)) fail(`${path}.${k}`, `unknown key (known: ${POLICY_KEYS.join(', ')})`);
  const profile = o.profile ?? 'hyperv';
  if (typeof profile !== 'string' || !(POLICY_PROFILES as readonly string[]).includes(profile)) fail(`${path}.profile`, `must be one of ${POLICY_PROFILES.join(', ')}`);
  const out: { profile: PolicyProfile; maxDepth?: number; maxEntries?: number; refuseHardLinks?: boolean } = { profile: profile as PolicyProfile };
  if (o.maxDepth !== undefined) out.maxDepth = limit(o.maxDepth, `${path}.maxDepth`, 1000, fail);
  if (o.maxEntries !== undefined) out.maxEntries = limit(o.maxEntries, `${path}.maxEntries`, 1_000_000_000, fail);
  if (o.refuseHardLinks !== undefined) {
    if (typeof o.refuseHardLinks !== 'boolean') fail(`${path}.refuseHardLinks`, 'must be true or false');
    if (out.profile !== 'hyperv') fail(`${path}.refuseHardLinks`, 'only for the hyperv profile (faithful copies keep hard links)');
    out.refuseHardLinks = o.refuseHardLinks as boolean;
  }
  return out;
}

export interface PolicyConfig {
  /** The default policy (absent: hyperv with maxDepth / refuseHardLinks from storage). */
  readonly policy?: SharePolicy;
  readonly maxDepth: number;
  readonly refuseHardLinks: boolean;
  /** Per share name. */
  readonly sharePolicies?: Readonly<Record<string, SharePolicy>>;
}

/** The policy of every share: its own, else the default. */
export function sharePolicyResolver(
  storage: PolicyConfig, staticShares: Readonly<Record<string, { policy?: SharePolicy }>> | undefined,
): (share: Share) => SharePolicy {
  const byName = new Map<string, SharePolicy>();
  for (const [name, p] of Object.entries(storage.sharePolicies ?? {})) byName.set(name.toLowerCase(), p);
  for (const [name, s] of Object.entries(staticShares ?? {})) if (s.policy) byName.set(name.toLowerCase(), s.policy);
  const fallback: SharePolicy = storage.policy ?? { profile: 'hyperv', maxDepth: storage.maxDepth, refuseHardLinks: storage.refuseHardLinks };
  return (share) => byName.get(share.name.toLowerCase()) ?? fallback;
}
