/**
 * The hook backend driving a real snapshot system: the reference hook tools/hooks/btrfs-hook
 * (btrfs-progs) on a loop btrfs. Shadow copies keep the pre-commit content, writable copies are
 * sealed by set-readonly, taken names are skipped, and a create that times out or is cancelled
 * leaves nothing behind, even when the hook script's own children still run.
 */
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HookBackend, HookError } from '../../src/storage/hook.js';
import { parseSnapshotName } from '../../src/storage/naming.js';
import { run } from '../../src/sys/exec.js';
import { createLoopFs, requireTools, type LoopFs } from '../../tools/lib/loopfs.js';
import { errno } from '../helpers/errno.js';
import { repoRoot } from '../helpers/fixtures.js';

const HOOK = resolve(repoRoot, 'tools/hooks/btrfs-hook');
const guid = (i: number): string => `bbbbbbbb-0000-0000-0000-${String(i).padStart(12, '0')}`;

let fs: LoopFs;
let work: string;
let share: string;
let backend: HookBackend;

/** Snapshots of the share on disk (btrfs subvolumes the hook made). */
async function onDisk(): Promise<string[]> {
  const out = (await run('btrfs', ['subvolume', 'list', '-o', fs.mountPoint])).stdout;
  return out.split('\n').filter((l) => l.includes('fsrvp-')).map((l) => l.trim().split('/').pop() as string);
}

/** A hook that runs the reference hook, then, for `create`, hangs in a child process. */
async function hangingHook(): Promise<string> {
  const file = join(work, 'hanging-hook');
  await writeFile(file, `#!/bin/sh\n"$REAL_HOOK" "$@" || exit $?\nif [ "$1" = create ]; then sleep 60; fi\n`);
  await chmod(file, 0o755);
  return file;
}

beforeAll(async () => {
  await requireTools(['mkfs.btrfs', 'btrfs', 'losetup', 'mount', 'umount', 'python3']);
  fs = await createLoopFs({ fsType: 'btrfs' });
  work = await mkdtemp(join(tmpdir(), 'fsrvp-hook-'));
  share = join(fs.mountPoint, 'data');
  await run('btrfs', ['subvolume', 'create', share]);
  await mkdir(join(share, 'docs'));
  await writeFile(join(share, 'docs', 'a.txt'), 'version 1');
  backend = new HookBackend({ name: 'btrfs-cli', command: HOOK });
}, 60_000);

afterAll(async () => {
  await fs?.teardown();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the hook backend with the reference btrfs hook', () => {
  it('says hello with protocol 1, and supports btrfs paths only, with the reason', async () => {
    expect(await backend.describe()).toEqual({ protocol: 1, description: expect.stringMatching(/btrfs/) });
    expect(await backend.supports(join(share, 'docs'))).toBe(true);
    expect(await backend.supportsWhy(work)).toEqual({ supported: false, reason: expect.stringMatching(/not btrfs/) });
    expect(await backend.supportsWhy(join(work, 'missing'))).toMatchObject({ supported: false });
  });

  it('finds the subvolume of a share from a subdirectory', async () => {
    const v = await backend.volumeOf(join(share, 'docs'));
    expect(v).toEqual({ id: share, root: share, backend: 'btrfs-cli' });
  });

  it('runs the directory-structure policy, then the hook\'s own check', async () => {
    expect(await backend.check(share)).toBeUndefined();
    const linked = join(fs.mountPoint, 'linked');
    await run('btrfs', ['subvolume', 'create', linked]);
    await symlink('/etc/passwd', join(linked, 'escape'));
    expect(await backend.check(linked)).toMatchObject({ kind: 'symlink', path: join(linked, 'escape') });
    const inside = new HookBackend({ name: 'inside', command: HOOK, args: ['--snapshot-dir', join(share, 'snaps')] });
    const r = await inside.check(share);
    expect(r).toMatchObject({ kind: 'backend', path: share });
    expect(r!.reason).toMatch(/inside the share/);
  });

  it('takes a read-only snapshot that keeps the old content and refuses writes, lists it, and deletes it', async () => {
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(1), writable: false });
    expect(parseSnapshotName(snap.name)?.shadowCopyId).toBe(guid(1));
    expect(snap.path).toBe(join(fs.mountPoint, '.fsrvp-hook', 'data', snap.name));
    await writeFile(join(share, 'docs', 'a.txt'), 'version 2');
    expect(await readFile(join(snap.path, 'docs', 'a.txt'), 'utf8')).toBe('version 1');
    expect(await errno(appendFile(join(snap.path, 'docs', 'a.txt'), 'x'))).toBe('EROFS');
    expect(await backend.list(volume)).toEqual([{ ...snap }]);
    await backend.delete(snap);
    await backend.delete(snap);
    expect(await backend.list(volume)).toEqual([]);
    expect(await onDisk()).toEqual([]);
  });

  it('lets a writable snapshot be written until set-readonly seals it', async () => {
    const volume = await backend.volumeOf(share);
    const snap = await backend.create(volume, { shadowCopyId: guid(2), writable: true });
    await appendFile(join(snap.path, 'docs', 'a.txt'), ' recovered');
    expect((await run('btrfs', ['property', 'get', '-ts', snap.path, 'ro'])).stdout.trim()).toBe('ro=false');
    await backend.setReadOnly(snap);
    expect(await errno(appendFile(join(snap.path, 'docs', 'a.txt'), 'x'))).toBe('EROFS');
    expect((await run('btrfs', ['property', 'get', '-ts', snap.path, 'ro'])).stdout.trim()).toBe('ro=true');
    expect(await backend.list(volume)).toMatchObject([{ name: snap.name, path: snap.path }]);
    await backend.delete(snap);
  });

  it('passes on the progress lines a long create prints on stderr', async () => {
    const chatty = join(work, 'chatty-hook');
    await writeFile(chatty, '#!/bin/sh\nif [ "$1" = create ]; then echo "progress 1 3" >&2; echo "copying tree" >&2; printf "progress 3" >&2; echo " 3" >&2; echo "progress 4" >&2; fi\nexec "$REAL_HOOK" "$@"\n');
    await chmod(chatty, 0o755);
    const b = new HookBackend({ name: 'chatty', command: chatty, env: { REAL_HOOK: HOOK } });
    const seen: Array<[number, number | undefined]> = [];
    const snap = await b.create(await b.volumeOf(share), { shadowCopyId: guid(7), writable: false, progress: (d, t) => seen.push([d, t]) });
    expect(seen).toEqual([[1, 3], [3, 3], [4, undefined]]);
    await b.delete(snap);
  });

  it('takes the next name when the hook says a name is taken (exit 17)', async () => {
    const volume = await backend.volumeOf(share);
    const a = await backend.create(volume, { shadowCopyId: guid(3), writable: false });
    const b = await backend.create(volume, { shadowCopyId: guid(3), writable: false });
    expect(b.name).not.toBe(a.name);
    expect(parseSnapshotName(b.name)?.seq).toBe(a.createdAt === b.createdAt ? 2 : 1);
    expect((await backend.list(volume)).map((s) => s.name).sort()).toEqual([a.name, b.name].sort());
    await backend.delete(a);
    await backend.delete(b);
  });

  it('ignores snapshots in its directory that this agent did not name', async () => {
    const volume = await backend.volumeOf(share);
    await run('btrfs', ['subvolume', 'snapshot', '-r', share, join(fs.mountPoint, '.fsrvp-hook', 'data', 'nightly')]);
    expect(await backend.list(volume)).toEqual([]);
    await run('btrfs', ['subvolume', 'delete', join(fs.mountPoint, '.fsrvp-hook', 'data', 'nightly')]);
  });

  it('kills a create that outlives createTimeoutSeconds, with its children, and removes what it made', async () => {
    const slow = new HookBackend({ name: 'slow', command: await hangingHook(), env: { REAL_HOOK: HOOK }, createTimeoutSeconds: 1 });
    const volume = await slow.volumeOf(share);
    const t0 = Date.now();
    const e = await slow.create(volume, { shadowCopyId: guid(4), writable: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HookError);
    expect(e).toMatchObject({ kind: 'timeout', verb: 'create' });
    expect((e as Error).message).toMatch(/did not finish within 1 s/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await onDisk()).toEqual([]);
    const ps = (await run('ps', ['-eo', 'args'])).stdout;
    expect(ps).not.toMatch(/sleep 60/);
  });

  it('stops a cancelled create (the client\'s timeout) and removes what it made', async () => {
    const slow = new HookBackend({ name: 'slow', command: await hangingHook(), env: { REAL_HOOK: HOOK } });
    const volume = await slow.volumeOf(share);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('FSRVP_E_WAIT_TIMEOUT')), 1500);
    const e = await slow.create(volume, { shadowCopyId: guid(5), writable: false, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'aborted', verb: 'create' });
    expect(await onDisk()).toEqual([]);
  });

  it('takes the hook down with the agent: a create in flight when the agent is killed makes nothing', async () => {
    // The hook waits 2 s, then snapshots; the agent process is killed 0.5 s into the call.
    const late = join(work, 'late-hook');
    await writeFile(late, '#!/bin/sh\nif [ "$1" = create ]; then sleep 2; fi\nexec "$REAL_HOOK" "$@"\n');
    await chmod(late, 0o755);
    const script = `import { HookBackend } from ${JSON.stringify(resolve(repoRoot, 'dist/src/storage/hook.js'))};
      const b = new HookBackend({ name: 'late', command: ${JSON.stringify(late)}, env: { REAL_HOOK: ${JSON.stringify(HOOK)} } });
      const v = await b.volumeOf(${JSON.stringify(share)});
      process.stdout.write('calling\\n');
      await b.create(v, { shadowCopyId: '${guid(6)}', writable: false });`;
    const agent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => agent.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('calling')) res(); }));
    await new Promise((r) => setTimeout(r, 500));
    agent.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await onDisk()).toEqual([]);
  });

  it('names the hook, the verb and the fault when a hook is missing, fails, or prints garbage', async () => {
    const missing = new HookBackend({ name: 'gone', command: join(work, 'no-such-hook') });
    await expect(missing.supports(share)).rejects.toThrow(/snapshot hook gone: hello: .*does not exist or is not executable/);
    const garbage = join(work, 'garbage-hook');
    await writeFile(garbage, '#!/bin/sh\nif [ "$1" = hello ]; then echo \'{"protocol":1}\'; exit 0; fi\necho "not json"; echo "it broke" >&2; exit 0\n');
    await chmod(garbage, 0o755);
    const g = new HookBackend({ name: 'garbage', command: garbage });
    await expect(g.volumeOf(share)).rejects.toThrow(/snapshot hook garbage: volume: the hook's output is not JSON/);
    const future = join(work, 'future-hook');
    await writeFile(future, '#!/bin/sh\necho \'{"protocol":2}\'\n');
    await chmod(future, 0o755);
    await expect(new HookBackend({ name: 'future', command: future }).volumeOf(share)).rejects.toThrow(/speaks protocol 2; this agent speaks 1/);
    const failing = join(work, 'failing-hook');
    await writeFile(failing, '#!/bin/sh\nif [ "$1" = hello ]; then echo \'{"protocol":1}\'; exit 0; fi\necho "pool tank is faulted" >&2; exit 3\n');
    await chmod(failing, 0o755);
    const f = new HookBackend({ name: 'failing', command: failing });
    await expect(f.volumeOf(share)).rejects.toMatchObject({ kind: 'failed', exitCode: 3, message: expect.stringMatching(/exited with status 3: pool tank is faulted/) });
  });

  it('refuses a share when the hook fails its check, and removes a snapshot whose reply names no directory', async () => {
    const liar = join(work, 'liar-hook');
    await writeFile(liar, [
      '#!/bin/sh',
      'echo "$*" >> "$LOG"',
      'case "$1" in',
      '  hello) echo \'{"protocol":1}\' ;;',
      `  volume) echo '{"id":"v","root":"${share}"}' ;;`,
      '  check) echo "pool offline" >&2; exit 5 ;;',
      '  create) echo \'{"path":"/nonexistent/snap"}\' ;;',
      '  delete) echo \'{}\' ;;',
      '  *) exit 64 ;;',
      'esac',
    ].join('\n'));
    await chmod(liar, 0o755);
    const log = join(work, 'liar.log');
    const b = new HookBackend({ name: 'liar', command: liar, env: { LOG: log } });
    const r = await b.check(share);
    expect(r).toMatchObject({ kind: 'backend', path: share });
    expect(r!.reason).toMatch(/check: .*exited with status 5: pool offline/);
    await expect(b.create(await b.volumeOf(share), { shadowCopyId: guid(8), writable: false }))
      .rejects.toMatchObject({ kind: 'bad-reply', message: expect.stringMatching(/\/nonexistent\/snap is not a directory/) });
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls.at(-1)).toMatch(new RegExp(`^delete v fsrvp-${guid(8)}_GMT-[\\d.-]+ ?$`));
  });

  it('gives the hook only PATH, LC_ALL, FSRVP_HOOK_* and its configured variables', async () => {
    const envHook = join(work, 'env-hook');
    await writeFile(envHook, '#!/bin/sh\nif [ "$1" = hello ]; then echo \'{"protocol":1}\'; exit 0; fi\nenv | sort > "$OUT"\necho \'{"supported":false}\'\n');
    await chmod(envHook, 0o755);
    process.env.FSRVP_TEST_SECRET = 'leak';
    try {
      await new HookBackend({ name: 'env', command: envHook, env: { OUT: join(work, 'env.txt') } }).supports(share);
    } finally {
      delete process.env.FSRVP_TEST_SECRET;
    }
    const names = (await readFile(join(work, 'env.txt'), 'utf8')).trim().split('\n').map((l) => l.split('=')[0]).filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== '_');
    expect(names).toEqual(['FSRVP_HOOK_BACKEND', 'FSRVP_HOOK_PROTOCOL', 'LC_ALL', 'OUT', 'PATH']);
    expect(await readdir(work)).toContain('env.txt');
  });
});
