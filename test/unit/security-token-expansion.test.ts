import { describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import type { GssContext, GssFlags, GssStep } from '../../src/security/gss.js';
import { cachedTokenSids, expandIdentity, expandingAcceptor } from '../../src/security/token-expansion.js';
import { parseConfig } from '../../src/cli/config.js';

const USER = 'S-1-5-21-1-2-3-1105';
const DOMAIN_USERS = 'S-1-5-21-1-2-3-513';
const BACKUP_OPERATORS = 'S-1-5-32-551';
const pac: CallerIdentity = { source: 'rpc-auth', sids: [USER, DOMAIN_USERS], accountName: 'fsrvpbackup', domainName: 'FSRVPTEST' };
const flags: GssFlags = { integrity: true, confidentiality: true, headerSigning: true, dceStyle: true };

/** A stand-in acceptor: one 'continue' leg, then done with the PAC identity; records the hooks called. */
function fakeAcceptor(calls: string[]): GssContext & { expectsMechListMic(): boolean; resetCrypto(full: boolean): void } {
  let legs = 0;
  return {
    mechOid: '1.2.840.113554.1.2.2',
    get established() {
      return legs >= 2;
    },
    async step(): Promise<GssStep> {
      legs++;
      return legs === 1 ? { status: 'continue', token: new Uint8Array([1]) } : { status: 'done', token: new Uint8Array([2]), identity: pac };
    },
    sessionKey: () => new Uint8Array(16).fill(5),
    getMic: () => new Uint8Array([9]),
    verifyMic: () => true,
    signatureSize: () => 76,
    wrapPdu: () => new Uint8Array([7]),
    unwrapPdu: () => true,
    expectsMechListMic: () => {
      calls.push('expectsMechListMic');
      return true;
    },
    resetCrypto: (full) => {
      calls.push(`resetCrypto(${full})`);
    },
  };
}

describe('token expansion for Kerberos callers (BUILTIN aliases from the host authority)', () => {
  it('adds the source\'s SIDs after the PAC\'s, without repeats, once the context is established', async () => {
    const calls: string[] = [];
    const asked: string[] = [];
    const factory = expandingAcceptor(() => fakeAcceptor(calls), {
      source: 'test', sids: async (sid) => {
        asked.push(sid);
        return [DOMAIN_USERS.toLowerCase(), BACKUP_OPERATORS];
      },
    });
    const ctx = factory(flags)!;
    const first = await ctx.step(new Uint8Array(0));
    expect(first.status).toBe('continue');
    expect(asked).toEqual([]);
    const done = await ctx.step(new Uint8Array(0));
    expect(done.status).toBe('done');
    expect(done.status === 'done' && done.identity?.sids).toEqual([USER, DOMAIN_USERS, BACKUP_OPERATORS]);
    expect(done.status === 'done' && done.identity?.accountName).toBe('fsrvpbackup');
    expect(asked).toEqual([USER]);
    // Everything else is the inner context's, SPNEGO's hooks included.
    expect(ctx.established).toBe(true);
    expect(ctx.signatureSize()).toBe(76);
    expect([...ctx.wrapPdu({} as never)]).toEqual([7]);
    const hooks = ctx as unknown as { expectsMechListMic(): boolean; resetCrypto(full: boolean): void; hasIntegrity(): boolean };
    expect(hooks.expectsMechListMic()).toBe(true);
    hooks.resetCrypto(false);
    expect(hooks.hasIntegrity()).toBe(true);
    expect(calls).toEqual(['expectsMechListMic', 'resetCrypto(false)']);
  });

  it('keeps the PAC identity and reports when the source fails (winbindd not running)', async () => {
    const errors: string[] = [];
    const out = await expandIdentity(pac, { source: 'winbind', sids: async () => { throw new Error('connect failed'); }, onError: (m) => errors.push(m) });
    expect(out).toBe(pac);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/winbind: the token of FSRVPTEST\\fsrvpbackup cannot be looked up.*connect failed/);
  });

  it('an identity without SIDs is left alone; a factory that cannot start stays undefined', async () => {
    const empty: CallerIdentity = { source: 'rpc-auth', sids: [] };
    expect(await expandIdentity(empty, { source: 't', sids: async () => [BACKUP_OPERATORS] })).toBe(empty);
    expect(expandingAcceptor(() => undefined, { source: 't', sids: async () => [] })(flags)).toBeUndefined();
  });

  it('auth.kerberos.token takes pac or winbind', () => {
    expect(parseConfig({ auth: { kerberos: { keytab: '/etc/krb5.keytab', token: 'winbind' } } }).auth.kerberos?.token).toBe('winbind');
    expect(() => parseConfig({ auth: { kerberos: { keytab: '/etc/krb5.keytab', token: 'ldap' } } })).toThrow(/auth\.kerberos\.token/);
  });
});

describe('cachedTokenSids', () => {
  it('asks once per user within the time to live, shares a lookup under way, and asks again after it', async () => {
    let clock = 0;
    const asked: string[] = [];
    const sids = cachedTokenSids(async (u) => {
      asked.push(u);
      return [BACKUP_OPERATORS];
    }, { ttlMs: 1000, now: () => clock });
    const [a, b] = await Promise.all([sids(USER), sids(USER.toLowerCase())]);
    expect(a).toEqual([BACKUP_OPERATORS]);
    expect(b).toEqual([BACKUP_OPERATORS]);
    clock = 999;
    await sids(USER);
    expect(asked).toEqual([USER]);
    clock = 1000;
    await sids(USER);
    expect(asked).toEqual([USER, USER]);
  });
  it('keeps no failure: the next bind asks again', async () => {
    let fail = true;
    let calls = 0;
    const sids = cachedTokenSids(async () => {
      calls++;
      if (fail) throw new Error('winbindd is not running');
      return [BACKUP_OPERATORS];
    });
    await expect(sids(USER)).rejects.toThrow(/winbindd/);
    fail = false;
    await expect(sids(USER)).resolves.toEqual([BACKUP_OPERATORS]);
    expect(calls).toBe(2);
  });
  it('holds at most max users, dropping the oldest', async () => {
    const asked: string[] = [];
    const sids = cachedTokenSids(async (u) => {
      asked.push(u);
      return [];
    }, { max: 2 });
    for (const u of ['S-1-5-21-9-1', 'S-1-5-21-9-2', 'S-1-5-21-9-3', 'S-1-5-21-9-1']) await sids(u);
    expect(asked).toEqual(['S-1-5-21-9-1', 'S-1-5-21-9-2', 'S-1-5-21-9-3', 'S-1-5-21-9-1']);
  });
});
