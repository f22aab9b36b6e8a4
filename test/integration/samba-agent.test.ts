/**
 * The full agent (FSRVP service, btrfs backend and a snapshot hook, Samba registry publisher, npa listener) behind a
 * real smbd, driven by rpcclient and smbclient as an administrator would, and by a user without
 * rights.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HRESULT } from '../../src/fsrvp/codes.js';
import { FSRVP_OPERATIONS } from '../../src/fsrvp/idl.js';
import { Rng } from '../../src/ndr/index.js';
import { captureHandshake, NpaPipeClient } from '../../tools/lib/npa-pipe-client.js';
import { parseExposed, SambaHarness, startTestAgent, type Exposed } from '../../tools/lib/samba-harness.js';
import { run } from '../../src/sys/exec.js';
import { repoRoot } from '../helpers/fixtures.js';

let h: SambaHarness;
let plainHandshake: Uint8Array;
let adminHandshake: Uint8Array;
let socketPath: string;

beforeAll(async () => {
  h = await SambaHarness.start({ mode: 'agent' });
  // The tokens smbd forwards for each user, recorded before the agent takes the socket.
  plainHandshake = await captureHandshake(h, h.plain);
  adminHandshake = await captureHandshake(h, h.admin);
  // A snapshot hook, for the share that names it with fsrvp:backend (the other shares keep btrfs).
  const agent = await startTestAgent(h, (c) => { c.storage.hooks = { 'btrfs-cli': { command: HOOK, args: [], env: {}, detect: false } }; });
  socketPath = agent.samba!.path;
});
afterAll(async () => {
  await h?.stop();
});

const ACCESS_DENIED = /0x80070005/;
const HOOK = resolve(repoRoot, 'tools/hooks/btrfs-hook');

async function createExpose(mode: 'ro' | 'rw'): Promise<Exposed> {
  const r = await h.rpcclient(`fss_create_expose backup ${mode} fsrvp_share`);
  const e = parseExposed(r.stdout);
  if (!e) throw new Error(`fss_create_expose failed: ${r.stdout}${r.stderr}`);
  return e;
}

/** Downloads a file from a share; undefined when smbclient fails. */
async function fetchFile(share: string, name: string): Promise<string | undefined> {
  const local = join(h.root, `got-${Date.now()}`);
  const r = await h.smbclient(share, `get ${name} ${local}`);
  if (r.code !== 0 || /NT_STATUS_/.test(r.stdout + r.stderr)) return undefined;
  return readFile(local, 'utf8');
}

/** Uploads a small file; returns smbclient's output (errors are NT_STATUS_… text). */
async function upload(share: string, name: string, content = 'written'): Promise<string> {
  const local = join(h.root, `up-${Date.now()}`);
  await writeFile(local, content);
  const r = await h.smbclient(share, `put ${local} ${name}`);
  return r.stdout + r.stderr;
}

async function expectNothingLeft(): Promise<void> {
  expect(await h.registryShares()).toEqual([]);
  expect(await h.snapshotSubvolumes()).toEqual([]);
  expect((await h.listShares()).filter((s) => s.includes('@{'))).toEqual([]);
}

describe('rpcclient and smbclient through smbd → fsrvpd', () => {
  it('fss_get_sup_version and fss_is_path_sup', async () => {
    const r = await h.rpcclient(['fss_get_sup_version', 'fss_is_path_sup fsrvp_share']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('server 127.0.0.1 supports FSRVP versions from 1 to 1');
    expect(r.stdout).toContain('UNC \\\\127.0.0.1\\fsrvp_share\\ supports shadow copy requests');
  });

  it('read-only copy: pre-snapshot content, writes refused, mapping, recovery, delete, nothing left', async () => {
    await h.writeShareFile('testfss.dat', 'pre-snap');
    const e = await createExpose('ro');
    expect(e.share).toBe(`fsrvp_share@{${e.copyId}}`);
    await h.writeShareFile('testfss.dat', 'post-snap');
    expect(await h.listShares()).toContain(e.share);
    expect(await fetchFile(e.share, 'testfss.dat')).toBe('pre-snap');
    expect(await fetchFile('fsrvp_share', 'testfss.dat')).toBe('post-snap');
    expect(await upload(e.share, 'new.dat')).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);

    const m = await h.rpcclient(`fss_get_mapping fsrvp_share ${e.setId} ${e.copyId}`);
    expect(m.stdout, m.stderr).toContain(`${e.setId}(${e.copyId}): share ${e.share} is a shadow-copy of \\\\FSRVPH\\fsrvp_share`);
    const has = await h.rpcclient('fss_has_shadow_copy fsrvp_share');
    expect(has.stdout, has.stderr).toContain('has an associated shadow-copy');
    const rc = await h.rpcclient(`fss_recovery_complete ${e.setId}`);
    expect(rc.stdout, rc.stderr).toContain(`${e.setId}: shadow-copy set marked recovery complete`);
    const d = await h.rpcclient(`fss_delete fsrvp_share ${e.setId} ${e.copyId}`);
    expect(d.stdout, d.stderr).toContain(`${e.setId}(${e.copyId}): \\\\127.0.0.1\\fsrvp_share\\ shadow-copy deleted`);
    const none = await h.rpcclient('fss_has_shadow_copy fsrvp_share');
    expect(none.stdout, none.stderr).toContain('does not have an associated shadow-copy');
    await expectNothingLeft();
  });

  it('writable copy: writes accepted until RecoveryComplete, refused after', async () => {
    await h.writeShareFile('testfss.dat', 'pre-rw');
    const e = await createExpose('rw');
    expect(await fetchFile(e.share, 'testfss.dat')).toBe('pre-rw');
    expect(await upload(e.share, 'recovered.dat', 'fixed')).not.toMatch(/NT_STATUS_/);
    expect(await fetchFile(e.share, 'recovered.dat')).toBe('fixed');
    expect(await fetchFile('fsrvp_share', 'recovered.dat')).toBeUndefined();
    const rc = await h.rpcclient(`fss_recovery_complete ${e.setId}`);
    expect(rc.stdout, rc.stderr).toContain('marked recovery complete');
    expect(await upload(e.share, 'late.dat')).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);
    expect(await fetchFile(e.share, 'recovered.dat')).toBe('fixed');
    const d = await h.rpcclient(`fss_delete fsrvp_share ${e.setId} ${e.copyId}`);
    expect(d.stdout, d.stderr).toContain('shadow-copy deleted');
    await expectNothingLeft();
  });

  it('a user without rights gets E_ACCESSDENIED from every rpcclient command', async () => {
    const e = await createExpose('ro');
    for (const cmd of [
      'fss_get_sup_version', 'fss_is_path_sup fsrvp_share', 'fss_has_shadow_copy fsrvp_share',
      'fss_create_expose backup ro fsrvp_share', `fss_get_mapping fsrvp_share ${e.setId} ${e.copyId}`,
      `fss_recovery_complete ${e.setId}`, `fss_delete fsrvp_share ${e.setId} ${e.copyId}`,
    ]) {
      const r = await h.rpcclient(cmd, h.plain);
      // (fss_create_expose exits 0 even when its first call fails; the others exit 1)
      expect(r.stdout + r.stderr, cmd).toMatch(ACCESS_DENIED);
      expect(r.stdout, cmd).not.toMatch(/supports|exposed|deleted|marked|is a shadow-copy|has an associated/);
    }
    // nothing the plain user did changed anything
    expect(await h.registryShares()).toEqual([e.share]);
    const d = await h.rpcclient(`fss_delete fsrvp_share ${e.setId} ${e.copyId}`);
    expect(d.stdout, d.stderr).toContain('shadow-copy deleted');
    await expectNothingLeft();
  });
});

describe('a share added a moment ago', () => {
  it('net conf addshare, then fss_create_expose at once: accepted (the cached share list is read again for the unknown name)', async () => {
    // The agent's share list is read now and cached for 5 s…
    const sup = await h.rpcclient('fss_is_path_sup fsrvp_share');
    expect(sup.stdout, sup.stderr).toContain('supports shadow copy requests');
    const dir = join(h.sharePath, 'fresh');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777);
    await writeFile(join(dir, 'f.dat'), 'fresh content', { mode: 0o666 });
    // …and a share appears within those 5 s.
    const add = await h.net(['conf', 'addshare', 'fresh_share', dir, 'writeable=y', 'guest_ok=n']);
    expect(add.code, add.stderr).toBe(0);
    try {
      const r = await h.rpcclient('fss_create_expose backup ro fresh_share');
      const e = parseExposed(r.stdout);
      expect(e, r.stdout + r.stderr).toBeDefined();
      expect(r.stdout + r.stderr).not.toMatch(/0x80070057/); // E_INVALIDARG: the old stale-list refusal
      expect(e!.share).toBe(`fresh_share@{${e!.copyId}}`);
      expect(await fetchFile(e!.share, 'f.dat')).toBe('fresh content');
      const d = await h.rpcclient(`fss_delete fresh_share ${e!.setId} ${e!.copyId}`);
      expect(d.stdout, d.stderr).toContain('shadow-copy deleted');
    } finally {
      await h.net(['conf', 'delshare', 'fresh_share']);
    }
    // A name that does not exist is still refused.
    const bad = await h.rpcclient('fss_create_expose backup ro no_such_share');
    expect(parseExposed(bad.stdout)).toBeUndefined();
    await expectNothingLeft();
  });
});

describe('a share whose fsrvp:backend names a snapshot hook', () => {
  it('is snapshotted by the hook, exposed through smbd with the pre-commit content, and removed by fss_delete', async () => {
    const dir = join(h.mount, 'share90');
    await run('btrfs', ['subvolume', 'create', dir]);
    await chmod(dir, 0o777);
    await writeFile(join(dir, 'h.dat'), 'before the hook snapshot', { mode: 0o666 });
    const add = await h.net(['conf', 'addshare', 'hooked_share', dir, 'writeable=y', 'guest_ok=n']);
    expect(add.code, add.stderr).toBe(0);
    try {
      expect((await h.net(['conf', 'setparm', 'hooked_share', 'fsrvp:backend', 'btrfs-cli'])).code).toBe(0);
      const r = await h.rpcclient('fss_create_expose backup ro hooked_share');
      const e = parseExposed(r.stdout);
      expect(e, r.stdout + r.stderr).toBeDefined();
      await writeFile(join(dir, 'h.dat'), 'after', { mode: 0o666 });
      expect(await fetchFile(e!.share, 'h.dat')).toBe('before the hook snapshot');
      // The hook's layout, not the btrfs backend's: <mount>/.fsrvp-hook/share90/fsrvp-…
      expect(await h.snapshotSubvolumes()).toEqual([expect.stringMatching(/^\.fsrvp-hook\/share90\/fsrvp-[0-9a-f-]{36}_GMT-/)]);
      const d = await h.rpcclient(`fss_delete hooked_share ${e!.setId} ${e!.copyId}`);
      expect(d.stdout, d.stderr).toContain('shadow-copy deleted');
    } finally {
      await h.net(['conf', 'delshare', 'hooked_share']);
    }
    await expectNothingLeft();
    await run('btrfs', ['subvolume', 'delete', dir]);
  });
});

describe("every operation with the token smbd forwards", () => {
  it('the unprivileged token gets E_ACCESSDENIED on all 13 operations', async () => {
    const c = await NpaPipeClient.open(socketPath, plainHandshake);
    try {
      await c.bind();
      const g = new Rng(7);
      for (const op of FSRVP_OPERATIONS) {
        const res = (await c.call(op, op.request.generate(g, 0))) as { result: number };
        expect(res.result >>> 0, op.name).toBe(HRESULT.E_ACCESSDENIED);
      }
    } finally {
      c.close();
    }
    await expectNothingLeft();
  });

  it('the privileged token is served on the same path', async () => {
    const c = await NpaPipeClient.open(socketPath, adminHandshake);
    try {
      await c.bind();
      const [op] = FSRVP_OPERATIONS;
      const res = await c.call(op, {});
      expect(res).toMatchObject({ MinVersion: 1, MaxVersion: 1, result: 0 });
    } finally {
      c.close();
    }
  });
});
