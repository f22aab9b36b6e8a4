/**
 * An independent DCE/RPC client authenticates to our server runtime over ncacn_ip_tcp: impacket
 * (Debian python3-impacket) with RPC_C_AUTHN_WINNT (NTLMSSP, auth_type 10) at packet integrity
 * and privacy, the NTLMSSP acceptor checking its responses. (impacket 0.10's
 * RPC_C_AUTHN_GSS_NEGOTIATE is Kerberos only: samba-addc-impacket.test.ts runs it against the AD DC; SPNEGO over
 * NTLMSSP is exercised by Samba's own clients.) The caller the operations see is the authenticated account; a wrong
 * password runs no call.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import type { SecurityEvent } from '../../src/dcerpc/auth.js';
import { buildHostAuth } from '../../src/security/host-auth.js';
import { ntHashOf, ntHashVerifier } from '../../src/security/ntlmssp/index.js';
import { run } from '../../src/sys/exec.js';
import { aptInstall } from '../../tools/lib/apt.js';
import { impacketDcerpc } from '../helpers/impacket.js';
import { cleanupRpc, fsrvpRegistry, startServer } from '../helpers/rpc.js';

afterEach(cleanupRpc);

const PYTHON = '/usr/bin/python3';
const BOB: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-7-7-7-1002', 'S-1-5-32-551'], accountName: 'bob', domainName: 'AGENTHOST' };

beforeAll(async () => {
  try {
    await run(PYTHON, ['-c', 'import impacket.dcerpc.v5.transport'], { timeoutMs: 20_000 });
  } catch {
    await aptInstall(['python3-impacket']);
  }
}, 300_000);

async function server() {
  const seen: CallerIdentity[] = [];
  const events: SecurityEvent[] = [];
  const verifier = ntHashVerifier(async (user) => (user.toLowerCase() === 'bob' ? { ntHash: ntHashOf('Pa55-w0rd'), identity: BOB } : undefined));
  const auth = buildHostAuth({ names: { netbiosName: 'AGENTHOST', netbiosDomain: 'AGENTHOST' }, ntlm: { verifier: 'custom', check: verifier } });
  const registry = fsrvpRegistry({
    SetContext: ((_r: unknown, c: { caller: CallerIdentity }) => {
      const { clientAddress: _address, ...who } = c.caller;
      seen.push(who);
      return { result: 0 };
    }) as never,
  });
  const l = await startServer({ registry, authProviders: auth.providers, onSecurityEvent: (e: SecurityEvent) => events.push(e) });
  return { l, seen, events };
}

const impacket = impacketDcerpc;

describe('impacket authenticates to our DCE/RPC server', () => {
  for (const auth of ['ntlm'] as const) {
    for (const level of ['integrity', 'privacy'] as const) {
      it(`${auth} at ${level}`, async () => {
        const { l, seen, events } = await server();
        const o = await impacket({ port: l.port, user: 'bob', password: 'Pa55-w0rd', domain: 'AGENTHOST', auth, level, setContexts: 3, bigStub: 12000 });
        expect(o).toMatchObject({ ok: true, version: [1, 1, 0], setContext: [0, 0, 0], big: 0 });
        expect(seen).toEqual([BOB, BOB, BOB, BOB]);
        expect(events.filter((e) => e.kind === 'established')).toHaveLength(1);
      }, 90_000);
    }
  }

  it('a wrong password: refused, no call runs, the refusal is logged', async () => {
    const { l, seen, events } = await server();
    for (const level of ['integrity', 'privacy']) {
      const o = await impacket({ port: l.port, user: 'bob', password: 'nope', domain: 'AGENTHOST', auth: 'ntlm', level });
      expect(o.ok).toBe(false);
    }
    expect(seen).toEqual([]);
    expect(events.filter((e) => e.kind === 'rejected')).toHaveLength(2);
  }, 90_000);
});
