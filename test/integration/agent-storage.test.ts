/**
 * The whole agent as a real process on real filesystems: btrfs (subvolume snapshots) and xfs with
 * reflink (the copy backend). Shadow copies keep the pre-commit content; writable copies are
 * sealed at RecoveryComplete; and an agent killed with SIGKILL between Commit and Expose leaves
 * no orphaned snapshot or share once restarted and its sequence timer has run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { CTX, ATTR } from '../../src/fsrvp/codes.js';
import { StateStore } from '../../src/fsrvp/store.js';
import { STANDALONE_FILE } from '../../src/shares/standalone.js';
import { run } from '../../src/sys/exec.js';
import { unprotectTree } from '../../src/storage/protect.js';
import { createLoopFs, requireTools, type LoopFs, type LoopFsType } from '../../tools/lib/loopfs.js';
import { repoRoot } from '../helpers/fixtures.js';

const FSRVPD = resolve(repoRoot, 'dist/src/cli/fsrvpd.js');

interface Daemon {
  proc: ChildProcess;
  port: number;
  output: string[];
}

/** Starts `fsrvpd --config FILE` and waits for its "listening on tcp HOST:PORT" line. */
async function startDaemon(config: string): Promise<Daemon> {
  if (!existsSync(FSRVPD)) throw new Error(`${FSRVPD} is missing: run npm run build (npm test does)`);
  const proc = spawn(process.execPath, [FSRVPD, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`fsrvpd did not start:\n${output.join('')}`)), 15_000);
    const onData = (d: Buffer): void => {
      output.push(d.toString());
      const m = /listening on tcp [\d.]+:(\d+)/.exec(output.join(''));
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`fsrvpd exited with ${code}:\n${output.join('')}`));
    });
  });
  return { proc, port, output };
}

async function stopDaemon(d: Daemon | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!d || d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  const exited = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill(signal);
  await exited;
}

type AgentStorage = 'btrfs' | 'xfs' | 'hook';
const HOOK = resolve(repoRoot, 'tools/hooks/btrfs-hook');

/** The filesystem each variant runs on: the hook variant drives btrfs through tools/hooks/btrfs-hook. */
const fsTypeOf = (type: AgentStorage): LoopFsType => (type === 'hook' ? 'btrfs' : type);

async function snapshotNames(fs: LoopFs, type: AgentStorage): Promise<string[]> {
  if (fsTypeOf(type) === 'btrfs') {
    const out = (await run('btrfs', ['subvolume', 'list', '-o', fs.mountPoint])).stdout;
    return out.split('\n').filter((l) => l.includes('fsrvp-')).map((l) => l.trim().split(' ').pop() as string);
  }
  const dir = join(fs.mountPoint, 'snaps');
  if (!existsSync(dir)) return [];
  const names: string[] = [];
  for (const sub of await readdir(dir)) for (const n of await readdir(join(dir, sub))) if (n.startsWith('fsrvp-') && !n.endsWith('.json')) names.push(n);
  return names;
}

for (const type of ['btrfs', 'xfs', 'hook'] as const) {
  describe(type === 'hook' ? 'the agent with a snapshot hook (btrfs-hook on btrfs)' : `the agent on ${type}`, () => {
    let fs: LoopFs;
    let work: string;
    let configFile: string;
    let share: string;
    let stateDir: string;
    let daemon: Daemon | undefined;

    beforeAll(async () => {
      const onBtrfs = fsTypeOf(type) === 'btrfs';
      await requireTools(onBtrfs ? ['mkfs.btrfs', 'btrfs', 'losetup', 'mount'] : ['mkfs.xfs', 'losetup', 'mount', 'chattr']);
      fs = await createLoopFs({ fsType: fsTypeOf(type) });
      share = join(fs.mountPoint, 'data');
      if (onBtrfs) await run('btrfs', ['subvolume', 'create', share]);
      else await mkdir(share);
      await mkdir(join(share, 'docs'));
      await writeFile(join(share, 'docs', 'report.txt'), 'pre-commit\n');
      // Two more shares inside the same volume (one btrfs subvolume), and one the policy refuses.
      await mkdir(join(share, 'docs', 'team-a'));
      await writeFile(join(share, 'docs', 'team-a', 'a.txt'), 'a\n');
      await mkdir(join(share, 'docs', 'team-b'));
      await writeFile(join(share, 'docs', 'team-b', 'b.txt'), 'b\n');
      const linked = join(fs.mountPoint, 'linked');
      if (onBtrfs) await run('btrfs', ['subvolume', 'create', linked]);
      else await mkdir(linked);
      await mkdir(join(linked, 'dir'));
      await symlink('/etc/passwd', join(linked, 'dir', 'escape'));
      work = await mkdtemp(join(tmpdir(), `fsrvp-agent-${type}-`));
      stateDir = join(work, 'state');
      configFile = join(work, 'fsrvpd.json');
      await writeFile(configFile, JSON.stringify({
        stateDir,
        sequenceTimeoutSeconds: 2,
        listen: { tcp: { host: '127.0.0.1', port: 0, caller: { sids: ['S-1-5-32-544'] }, minLevel: 'none' } },
        shares: {
          static: Object.fromEntries([
            ['data', share], ['team-a', join(share, 'docs', 'team-a')], ['team-b', join(share, 'docs', 'team-b')],
            ['linked', join(fs.mountPoint, 'linked')],
          ].map(([name, path]) => [name, { path, backend: type === 'xfs' ? 'copy' : type === 'hook' ? 'btrfs-cli' : 'btrfs' }])),
        },
        storage: type === 'btrfs' ? {} : type === 'hook' ? { hooks: { 'btrfs-cli': { command: HOOK } } } : { snapshotDir: join(fs.mountPoint, 'snaps') },
      }));
    }, 120_000);

    afterAll(async () => {
      await stopDaemon(daemon, 'SIGKILL');
      if (work) {
        await unprotectTree(work).catch(() => undefined);
        await rm(work, { recursive: true, force: true });
      }
      if (fs) {
        await unprotectTree(fs.mountPoint).catch(() => undefined);
        await fs.teardown();
      }
    }, 120_000);

    /** Where the exposed share `name` points (standalone publisher records). */
    async function exposedPath(name: string): Promise<string> {
      const file = JSON.parse(await readFile(join(stateDir, STANDALONE_FILE), 'utf8')) as { shares: { name: string; path: string }[] };
      const s = file.shares.find((x) => x.name === name);
      if (!s) throw new Error(`${name} is not published`);
      return s.path;
    }

    it('keeps the pre-commit content after the live share changes, and refuses writes to a read-only copy', async () => {
      daemon = await startDaemon(configFile);
      const c = await FsrvpClient.connect({ port: daemon.port });
      try {
        const r = await c.cycle({ shares: ['data'], serverName: '127.0.0.1', recoveryComplete: false, delete: false });
        const copy = r.copies[0]!;
        await writeFile(join(share, 'docs', 'report.txt'), 'post-commit\n');
        const path = await exposedPath(copy.exposedName!);
        expect(await readFile(join(path, 'docs', 'report.txt'), 'utf8')).toBe('pre-commit\n');
        await expect(appendFile(join(path, 'docs', 'report.txt'), 'x')).rejects.toMatchObject({ code: expect.stringMatching(/EROFS|EPERM|EACCES/) });
        expect((await c.deleteShareMapping(r.setId, copy.copyId, copy.unc)).result).toBe(0);
        expect(await snapshotNames(fs, type)).toEqual([]);
      } finally {
        await c.close();
        await writeFile(join(share, 'docs', 'report.txt'), 'pre-commit\n');
      }
    });

    it('lets a writable (auto-recovery) copy be written until RecoveryComplete, then refuses', async () => {
      const c = await FsrvpClient.connect({ port: daemon!.port });
      try {
        const r = await c.cycle({ shares: ['data'], serverName: '127.0.0.1', context: CTX.BACKUP, writable: true, recoveryComplete: false, delete: false });
        const copy = r.copies[0]!;
        const file = join(await exposedPath(copy.exposedName!), 'docs', 'report.txt');
        await appendFile(file, 'recovered by the application\n');
        expect((await c.recoveryCompleteShadowCopySet(r.setId)).result).toBe(0);
        await expect(appendFile(file, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/EROFS|EPERM|EACCES/) });
        expect(await readFile(file, 'utf8')).toBe('pre-commit\nrecovered by the application\n');
        expect((await c.deleteShareMapping(r.setId, copy.copyId, copy.unc)).result).toBe(0);
        expect(await snapshotNames(fs, type)).toEqual([]);
      } finally {
        await c.close();
      }
      expect(ATTR.AUTO_RECOVERY).toBe(0x00400000);
    });

    it(type !== 'xfs'
      ? 'takes one snapshot for two shares on one volume and exposes each at its own path'
      : 'takes one copy per share (each share is its own volume for copies)', async () => {
      const c = await FsrvpClient.connect({ port: daemon!.port });
      try {
        const r = await c.cycle({ shares: ['team-a', 'team-b'], serverName: '127.0.0.1', recoveryComplete: false, delete: false });
        const [a, b] = r.copies as [typeof r.copies[0], typeof r.copies[0]];
        expect(await snapshotNames(fs, type)).toHaveLength(type !== 'xfs' ? 1 : 2);
        if (type !== 'xfs') expect(a.copyId).toBe(b.copyId);
        else expect(a.copyId).not.toBe(b.copyId);
        expect(a.exposedName).toBe(`team-a@{${a.copyId}}`);
        expect(b.exposedName).toBe(`team-b@{${b.copyId}}`);
        expect(await readFile(join(await exposedPath(a.exposedName!), 'a.txt'), 'utf8')).toBe('a\n');
        expect(await readFile(join(await exposedPath(b.exposedName!), 'b.txt'), 'utf8')).toBe('b\n');
        expect((await c.deleteShareMapping(r.setId, a.copyId, a.unc)).result).toBe(0);
        // The snapshot stays while the other share still maps it.
        expect(await snapshotNames(fs, type)).toHaveLength(1);
        expect(await readFile(join(await exposedPath(b.exposedName!), 'b.txt'), 'utf8')).toBe('b\n');
        expect((await c.deleteShareMapping(r.setId, b.copyId, b.unc)).result).toBe(0);
        expect(await snapshotNames(fs, type)).toEqual([]);
      } finally {
        await c.close();
      }
    });

    it('refuses a share whose tree holds a symbolic link, saying which path and why', async () => {
      const c = await FsrvpClient.connect({ port: daemon!.port });
      try {
        expect((await c.isPathSupported('\\\\127.0.0.1\\linked\\')).result).toBe(0x8004230c);
        expect((await c.setContext(CTX.BACKUP)).result).toBe(0);
        const setId = (await c.startShadowCopySet()).pShadowCopySetId;
        expect((await c.addToShadowCopySet(setId, '\\\\127.0.0.1\\linked\\')).result).toBe(0x8004230c);
        expect((await c.abortShadowCopySet(setId)).result).toBe(0);
      } finally {
        await c.close();
      }
      expect(daemon!.output.join('')).toMatch(/linked\/dir\/escape.*symbolic link|symbolic link.*linked\/dir\/escape/i);
      expect(await snapshotNames(fs, type)).toEqual([]);
    });

    it('leaves no orphaned snapshot or share after kill -9 between Commit and Expose', async () => {
      const c = await FsrvpClient.connect({ port: daemon!.port });
      let setId: string;
      try {
        expect((await c.setContext(CTX.BACKUP)).result).toBe(0);
        setId = (await c.startShadowCopySet()).pShadowCopySetId;
        expect((await c.addToShadowCopySet(setId, '\\\\127.0.0.1\\data\\')).result).toBe(0);
        expect((await c.commitShadowCopySet(setId)).result).toBe(0);
      } finally {
        await c.close();
      }
      expect(await snapshotNames(fs, type)).toHaveLength(1);
      await stopDaemon(daemon, 'SIGKILL');

      daemon = await startDaemon(configFile);
      // The committed set survives the crash, and its sequence timer (2 s here) runs again.
      const deadline = Date.now() + 20_000;
      while ((await snapshotNames(fs, type)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      expect(await snapshotNames(fs, type)).toEqual([]);
      await stopDaemon(daemon);
      daemon = undefined;
      const state = await StateStore.peek(stateDir);
      expect(state.sets.map((s) => s.id)).not.toContain(setId);
      expect(state.sets).toEqual([]);
      expect(state.pending).toEqual([]);
      const published = JSON.parse(await readFile(join(stateDir, STANDALONE_FILE), 'utf8').catch(() => '{"shares":[]}')) as { shares: unknown[] };
      expect(published.shares).toEqual([]);
    }, 60_000);
  });
}
