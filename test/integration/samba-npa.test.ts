/**
 * The named_pipe_auth handshake against a real smbd: what smbd forwards for each user, and the
 * first pipe message, with no DCE/RPC behind the socket (the session records and hangs up).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import { NpaListener, type NpaConnection, type RefusedEvent } from '../../src/transport/npa-listener.js';
import { NPA_FLAGS_SID_PREFIX } from '../../src/transport/token.js';
import { SambaHarness, startTestAgent } from '../../tools/lib/samba-harness.js';

interface Seen {
  conn: NpaConnection;
  first?: Uint8Array;
}

let h: SambaHarness;

beforeAll(async () => {
  h = await SambaHarness.start({ mode: 'agent' });
});
afterAll(async () => {
  await h?.stop();
});

/** Starts a recording listener, runs one rpcclient command, stops the listener. */
async function openPipe(mode: 'message' | 'byte', user = h.admin, admit?: (c: CallerIdentity) => string | undefined) {
  const seen: Seen[] = [];
  const refused: RefusedEvent[] = [];
  const l = await NpaListener.start({
    socketDir: h.socketDir as string,
    mode,
    ...(admit ? { admit } : {}),
    onConnection: (conn) => {
      const s: Seen = { conn };
      seen.push(s);
      return {
        push: (b) => {
          s.first ??= Uint8Array.from(b);
          conn.close();
        },
        end: () => {},
      };
    },
  });
  l.on('refused', (e: RefusedEvent) => refused.push(e));
  try {
    const r = await h.rpcclient('fss_get_sup_version', user);
    return { seen, refused, r };
  } finally {
    await l.close();
  }
}

describe('smbd → npa listener (real smbd 4.17)', () => {
  it('forwards the privileged user: SIDs, uid, SeBackupPrivilege, names, client address', async () => {
    const { seen, r } = await openPipe('message');
    expect(r.code).not.toBe(0); // nothing answers the bind
    expect(seen.length).toBeGreaterThanOrEqual(1);
    const { conn, first } = seen[0]!;
    expect(conn.level).toBe(7);
    const c = conn.caller;
    expect(c.source).toBe('npa');
    expect(c.accountName).toBe(h.admin.name);
    expect(c.domainName).toBe('FSRVPH');
    expect(c.uid).toBe(Number(execFileSync('id', ['-u', h.admin.name]).toString().trim()));
    expect((c.privilegeMask ?? 0n) & 0x200n).toBe(0x200n); // SeBackupPrivilege
    expect(c.clientAddress).toBe('127.0.0.1');
    expect(c.sids).toContain('S-1-1-0');
    expect(c.sids.some((s) => s.startsWith(NPA_FLAGS_SID_PREFIX))).toBe(true);
    expect(conn.details.sessionKeyLength).toBe(16);
    // message mode: the first message is exactly one bind PDU (ptype 11, frag_length = size)
    expect(first).toBeDefined();
    expect(first![0]).toBe(5);
    expect(first![2]).toBe(11);
    expect(new DataView(first!.buffer).getUint16(8, true)).toBe(first!.length);
  });

  it('forwards the unprivileged user without SeBackupPrivilege', async () => {
    const { seen } = await openPipe('message', h.plain);
    const c = seen[0]!.conn.caller;
    expect(c.accountName).toBe(h.plain.name);
    expect((c.privilegeMask ?? 0n) & 0x200n).toBe(0n);
    expect(c.sids).not.toContain('S-1-5-32-544');
    expect(c.sids).not.toContain('S-1-5-32-551');
  });

  it('works in byte mode: raw bind bytes', async () => {
    const { seen } = await openPipe('byte');
    const first = seen[0]!.first!;
    expect(first[0]).toBe(5);
    expect(first[2]).toBe(11);
  });

  it('a refused caller gets no reply and the open fails', async () => {
    const { seen, refused, r } = await openPipe('message', h.plain, (c) => (c.accountName === h.plain.name ? 'not welcome' : undefined));
    expect(seen).toHaveLength(0);
    expect(refused[0]).toMatchObject({ reason: 'not welcome', caller: { accountName: h.plain.name } });
    expect(r.code).not.toBe(0);
  });

  it('the full agent in byte mode serves rpcclient too', async () => {
    const agent = await startTestAgent(h, (c) => {
      c.listen.samba = { socketDir: h.socketDir as string, byteMode: true, minLevel: 'none' };
    });
    try {
      const r = await h.rpcclient(['fss_get_sup_version', 'fss_is_path_sup fsrvp_share']);
      expect(r.stdout, r.stderr).toContain('supports FSRVP versions from 1 to 1');
      expect(r.stdout).toContain('supports shadow copy requests');
    } finally {
      await agent.close();
    }
  });
});
