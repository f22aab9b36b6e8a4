/**
 * The harness itself (one at a time, refuses a busy port 445, recovers from a crashed run,
 * leaves nothing behind) and `fsrvpd doctor` against the real Samba it starts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatReport, inspect } from '../../src/cli/doctor.js';
import { SambaHarness } from '../../tools/lib/samba-harness.js';

const LOCK = join(existsSync('/run/lock') ? '/run/lock' : tmpdir(), 'fsrvp-samba-harness.lock');

function sambaProcesses(): string[] {
  return execFileSync('ps', ['-eo', 'stat=,args=']).toString().split('\n')
    .filter((l) => /fsrvp-samba-/.test(l) && /smbd|samba-dcerpcd|rpcd_/.test(l) && !l.trim().startsWith('Z'));
}

describe('Samba harness', () => {
  it('stops everything it started: processes, mount, loop device, temp dir, lock', async () => {
    const h = await SambaHarness.start({ mode: 'agent' });
    expect(h.running).toBe(true);
    expect(sambaProcesses().length).toBeGreaterThan(0);
    const img = join(h.root, 'btrfs.img');
    expect(execFileSync('losetup', ['-j', img]).toString()).toContain(img);
    await h.stop();
    await h.stop(); // idempotent
    expect(sambaProcesses()).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(h.mount);
    expect(execFileSync('losetup', ['-a']).toString()).not.toContain(h.root);
    expect(existsSync(h.root)).toBe(false);
    expect(existsSync(LOCK)).toBe(false);
  });

  it('refuses to start while something listens on 127.0.0.1:445, and cleans up', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(445, '127.0.0.1', r));
    try {
      await expect(SambaHarness.start({ mode: 'samba' })).rejects.toThrow(/port 445/);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
    expect(existsSync(LOCK)).toBe(false);
  });

  it('recovers the lock of a crashed run and removes what it recorded', async () => {
    // Named as the harness names its runs (fsrvp-samba-XXXXXX): crash cleanup removes only those.
    const leftover = await mkdtemp(join(tmpdir(), 'fsrvp-samba-'));
    writeFileSync(LOCK, JSON.stringify({ owner: 2 ** 22 + 7, root: leftover, pgids: [], users: [] }));
    const h = await SambaHarness.start({ mode: 'samba' });
    try {
      expect(existsSync(leftover)).toBe(false);
      expect(JSON.parse(readFileSync(LOCK, 'utf8')).owner).toBe(process.pid);
    } finally {
      await h.stop();
    }
  });
});

describe('fsrvpd doctor on a real Samba', () => {
  it('finds the agent-mode setup ready', async () => {
    const h = await SambaHarness.start({ mode: 'agent' });
    try {
      const rep = await inspect({ config: h.conf });
      const text = formatReport(rep);
      expect(rep.healthy, text).toBe(true);
      expect(text).toMatch(/ok\s+samba: 4\.\d+\.\d+.*named_pipe_auth level/);
      expect(text).toMatch(/ok\s+pipe links: \d+ pipes linked/);
      expect(text).toMatch(/ok\s+share fsrvp_share: .* is a btrfs subvolume/);
      expect(text).toMatch(/ok\s+samba-dcerpcd: running standalone/);
    } finally {
      await h.stop();
    }
  });

  it("reports Samba's own FSRVP setup as not ready and --apply fixes it through the registry", async () => {
    const h = await SambaHarness.start({ mode: 'samba' });
    try {
      const sock = join(h.root, 'fsrvpd-sock');
      const before = await inspect({ config: h.conf, socketDir: sock });
      expect(before.healthy).toBe(false);
      expect(formatReport(before)).toMatch(/MISSING\s+socket dir: smbd must send pipes to fsrvpd/);
      const after = await inspect({ config: h.conf, socketDir: sock, apply: true });
      expect(after.healthy, formatReport(after)).toBe(true);
      expect(readFileSync(h.conf, 'utf8')).not.toContain('external_rpc_pipe');
      const tp = execFileSync('testparm', ['-s', '--parameter-name=external_rpc_pipe:socket_dir', h.conf], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      expect(tp.trim()).toBe(sock);
      // the other pipes still work through the new socket dir's links
      expect((await h.rpcclient('srvinfo')).code).toBe(0);
    } finally {
      await h.stop();
    }
  });
});
