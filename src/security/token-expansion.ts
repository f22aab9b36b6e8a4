/**
 * The caller's token as the host's authority builds it, for identities that come from a
 * Kerberos PAC. A PAC carries the account's domain groups, not the aliases of the server that
 * accepts it: Windows adds the resource server's own aliases (BUILTIN\Administrators, BUILTIN\
 * Backup Operators) when it builds the token; so does Samba's winbindd (wb_gettoken). Without
 * them, a domain Backup Operator authenticated by Kerberos over TCP is not one to our authz.
 *
 * `expandingAcceptor` wraps an acceptor factory: once the inner context is established, its
 * identity goes through the expander. If the expander fails (winbindd not running), the PAC
 * identity is kept and the failure reported: authorization then decides on the PAC alone.
 */
import createDebug from 'debug';
import type { CallerIdentity } from '../dcerpc/interface.js';
import type { PacketProtection } from '../dcerpc/auth.js';
import type { AcceptorFactory } from './dcerpc-provider.js';
import type { GssStep } from './gss.js';
import type { InnerContext } from './spnego/mech.js';

const log = createDebug('fsrvp:auth');

/** The SIDs to add to an identity's token (from its first SID, the user's). */
export type TokenSids = (userSid: string) => Promise<readonly string[]>;

/**
 * `sids` with answers remembered per user SID for `ttlMs` (default 60 s; winbindd itself keeps a
 * user's groups for `winbind cache time`, 300 s by default), at most `max` users (default 1024,
 * oldest dropped first). Lookups for a user already under way are shared; failures are not kept,
 * so a winbindd that comes back is asked at the next bind. Without it every Kerberos bind ran
 * `wbinfo --user-sids`, a process start per bind.
 */
export function cachedTokenSids(sids: TokenSids, o: { readonly ttlMs?: number; readonly max?: number; readonly now?: () => number } = {}): TokenSids {
  const ttl = o.ttlMs ?? 60_000;
  const max = o.max ?? 1024;
  const now = o.now ?? Date.now;
  const answers = new Map<string, { readonly at: number; readonly sids: Promise<readonly string[]> }>();
  return (userSid) => {
    const key = userSid.toUpperCase();
    const hit = answers.get(key);
    if (hit !== undefined && now() - hit.at < ttl) return hit.sids;
    answers.delete(key);
    const p = sids(userSid);
    answers.set(key, { at: now(), sids: p });
    while (answers.size > max) answers.delete(answers.keys().next().value as string);
    p.catch(() => {
      if (answers.get(key)?.sids === p) answers.delete(key);
    });
    return p;
  };
}

export interface ExpansionOptions {
  readonly sids: TokenSids;
  /** Name of the source, for the log ("winbind"). */
  readonly source: string;
  /** What an operator must know (the source failed); default console.error. */
  readonly onError?: (message: string) => void;
}

/** `identity` with the source's SIDs added after its own (no repeats); unchanged when the source fails. */
export async function expandIdentity(identity: CallerIdentity, o: ExpansionOptions): Promise<CallerIdentity> {
  const user = identity.sids[0];
  if (user === undefined) return identity;
  let extra: readonly string[];
  try {
    extra = await o.sids(user);
  } catch (e) {
    (o.onError ?? ((m: string) => console.error(`fsrvpd: ${m}`)))(
      `${o.source}: the token of ${identity.domainName ?? ''}\\${identity.accountName ?? user} cannot be looked up, the PAC's SIDs alone are used: ${e instanceof Error ? e.message : String(e)}`);
    return identity;
  }
  const seen = new Set(identity.sids.map((s) => s.toUpperCase()));
  const added = extra.filter((s) => {
    const k = s.toUpperCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  log('%s added %d SIDs to the token of %s: %s', o.source, added.length, user, added.join(' '));
  return added.length === 0 ? identity : { ...identity, sids: [...identity.sids, ...added] };
}

/** Delegates everything to the inner context, its optional SPNEGO hooks (spnego/mech.ts) included. */
class ExpandingContext implements InnerContext {
  constructor(private readonly inner: InnerContext, private readonly o: ExpansionOptions) {}

  get mechOid(): string {
    return this.inner.mechOid;
  }
  get established(): boolean {
    return this.inner.established;
  }
  async step(token: Uint8Array): Promise<GssStep> {
    const s = await this.inner.step(token);
    if (s.status !== 'done' || s.identity === undefined) return s;
    return { ...s, identity: await expandIdentity(s.identity, this.o) };
  }
  sessionKey(): Uint8Array {
    return this.inner.sessionKey();
  }
  getMic(data: Uint8Array): Uint8Array {
    return this.inner.getMic(data);
  }
  verifyMic(data: Uint8Array, mic: Uint8Array): boolean {
    return this.inner.verifyMic(data, mic);
  }
  signatureSize(): number {
    return this.inner.signatureSize();
  }
  wrapPdu(p: PacketProtection): Uint8Array {
    return this.inner.wrapPdu(p);
  }
  unwrapPdu(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    return this.inner.unwrapPdu(p);
  }
  hasIntegrity(): boolean {
    return this.inner.hasIntegrity?.() ?? true;
  }
  expectsMechListMic(): boolean {
    return this.inner.expectsMechListMic?.() ?? false;
  }
  resetCrypto(full: boolean): void {
    this.inner.resetCrypto?.(full);
  }
}

/** Acceptors from `factory` whose established identity is expanded by `o.sids`. */
export function expandingAcceptor(factory: AcceptorFactory, o: ExpansionOptions): AcceptorFactory {
  return (flags) => {
    const inner = factory(flags);
    return inner === undefined ? undefined : new ExpandingContext(inner, o);
  };
}
