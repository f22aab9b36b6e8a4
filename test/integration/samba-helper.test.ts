/**
 * The Samba publisher's helper path against a real smbd: registry shares written by the helper
 * are served at once (no reload), a read-only flip holds for new connections, and close-share —
 * sent by the helper as an smbd message, after unpublish returns — disconnects a client still
 * connected to the deleted share. The same with the helper off (smbcontrol).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SambaRegistryPublisher } from '../../src/shares/samba.js';
import { HOST, SambaHarness, SHARE, ensureSambaTools } from '../../tools/lib/samba-harness.js';

let h: SambaHarness;
const guid = (i: number): string => `eeeeeeee-0000-0000-0000-${String(i).padStart(12, '0')}`;

/**
 * An smbclient session on one share reading commands from a pipe (it prints no prompt then):
 * one `ls` at a time, complete when its summary line or an NT_STATUS error arrives.
 */
class Session {
  private out = '';
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { this.out += d; });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => { this.out += d; });
  }

  static async open(share: string): Promise<Session> {
    // stdbuf: smbclient's stdout is a pipe here, fully buffered otherwise
    const child = spawn('/usr/bin/stdbuf', ['-oL', '-eL', '/usr/bin/smbclient', '-s', h.conf, `//${HOST}/${share}`, '-U', `${h.admin.name}%${h.admin.password}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new Session(child);
  }

  private async until(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.out)) {
      if (Date.now() > deadline) throw new Error(`smbclient: no ${re} in ${JSON.stringify(this.out)}`);
      if (this.child.exitCode !== null) return this.out;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.out;
  }

  async command(cmd: string): Promise<string> {
    this.out = '';
    this.child.stdin.write(`${cmd}\n`);
    return this.until(/blocks of size|NT_STATUS_\w+/, 20_000);
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

beforeAll(async () => {
  await ensureSambaTools();
  h = await SambaHarness.start({ mode: 'samba' });
  await mkdir(join(h.sharePath, 'dir'), { recursive: true });
  await writeFile(join(h.sharePath, 'dir', 'hello.txt'), 'hello');
  await chmod(join(h.sharePath, 'dir'), 0o777); // the test user writes here
});

afterAll(async () => {
  await h?.stop();
});

describe('Samba publisher fast path against a real smbd', () => {
  // 'no close-share' is the control: without the message, a connected client keeps its tree.
  for (const variant of ['helper', 'tools', 'no close-share'] as const) {
    const last = variant === 'no close-share' ? 'a connected client keeps its tree' : 'close-share disconnects a connected client';
    it(`${variant}: new share served at once, read-only flip, ${last}`, async () => {
      const i = { helper: 1, tools: 2, 'no close-share': 3 }[variant];
      const pub = new SambaRegistryPublisher({
        configFile: h.conf,
        helper: variant !== 'tools',
        closeShares: variant !== 'no close-share',
        // with the helper, close-share must not need smbcontrol
        ...(variant === 'helper' ? { smbcontrolCommand: '/nonexistent/smbcontrol' } : {}),
      });
      try {
        const name = `${SHARE}@{${guid(i)}}`;
        await pub.publish({ name, path: h.sharePath, base: { name: SHARE, path: h.sharePath }, readOnly: false, comment: 'c' });
        expect(await h.listShares()).toContain(name);
        const put = await h.smbclient(name, 'cd dir; put /etc/hostname w.txt');
        expect(put.stdout + put.stderr).not.toMatch(/NT_STATUS_/);
        await pub.setReadOnly(name);
        const denied = await h.smbclient(name, 'cd dir; put /etc/hostname w2.txt');
        expect(denied.stdout + denied.stderr).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);

        const s = await Session.open(name);
        try {
          expect(await s.command('ls dir\\hello.txt')).toMatch(/hello\.txt/);
          await pub.unpublish(name);
          await pub.idle();
          expect(pub.lastHelperError).toBeUndefined();
          expect(pub.lastReloadError).toBeUndefined();
          let after = '';
          for (let n = 0; n < (variant === 'no close-share' ? 5 : 50) && !/NT_STATUS_NETWORK_NAME_DELETED/.test(after); n++) {
            after = await s.command('ls dir\\hello.txt');
            if (!/NT_STATUS_/.test(after)) await new Promise((r) => setTimeout(r, 100));
          }
          if (variant === 'no close-share') expect(after).toMatch(/hello\.txt/);
          else expect(after).toMatch(/NT_STATUS_NETWORK_NAME_DELETED/);
        } finally {
          s.close();
        }
        const gone = await h.smbclient(name, 'ls');
        expect(gone.stdout + gone.stderr).toMatch(/NT_STATUS_BAD_NETWORK_NAME/);
        if (variant !== 'tools') expect(pub.lastHelperError).toBeUndefined();
      } finally {
        await pub.close();
      }
    });
  }
});
