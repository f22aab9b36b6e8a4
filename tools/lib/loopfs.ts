/**
 * Real filesystems on loop devices for integration tests: a sparse image in a temp dir, mkfs,
 * `losetup --find --show`, mount. `teardown()` always undoes everything it did (umount, losetup
 * -d, rm) and is safe to call twice; a process-exit hook tears down whatever a crashed test left.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../../src/sys/exec.js';
import { aptInstall } from './apt.js';

export type LoopFsType = 'btrfs' | 'xfs' | 'ext4';

export interface LoopFs {
  readonly fsType: LoopFsType;
  /** Temp dir holding the image and the mount point. */
  readonly dir: string;
  readonly image: string;
  readonly device: string;
  readonly mountPoint: string;
  teardown(): Promise<void>;
}

export interface LoopFsOptions {
  readonly fsType: LoopFsType;
  /** Image size (sparse); default 256 MiB (xfs needs 300 MiB, so it gets 320 by default). */
  readonly sizeMiB?: number;
  readonly mountOptions?: string;
}

/** Debian packages that provide the tools the tests use. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  'mkfs.btrfs': 'btrfs-progs', btrfs: 'btrfs-progs', 'mkfs.xfs': 'xfsprogs', 'mkfs.ext4': 'e2fsprogs',
  chattr: 'e2fsprogs', lsattr: 'e2fsprogs', losetup: 'mount', mount: 'mount', umount: 'mount',
  net: 'samba-common-bin', testparm: 'samba-common-bin', smbcontrol: 'samba-common-bin', sharesec: 'samba-common-bin',
  tdbdump: 'tdb-tools', getfattr: 'attr', setfattr: 'attr', mkfifo: 'coreutils',
};

export async function missingTools(tools: readonly string[]): Promise<string[]> {
  const found = await Promise.all(tools.map(async (t) => ((await which(t)) ? undefined : t)));
  return found.filter((t): t is string => t !== undefined);
}

/**
 * Installs the Debian packages of missing tools (as root), then throws a clear error when a tool
 * is still missing or we are not root. These tests never pass silently: under CI=true and
 * elsewhere alike, a missing tool is a failure that says what to install.
 */
export async function requireTools(tools: readonly string[], needRoot = true): Promise<void> {
  let missing = await missingTools(tools);
  const problems: string[] = [];
  const pkgs = (): string[] => [...new Set(missing.map((t) => TOOL_PACKAGES[t] ?? '?'))];
  if (missing.length && process.getuid?.() === 0 && !pkgs().includes('?')) {
    try {
      await aptInstall(pkgs());
    } catch (e) {
      problems.push((e as Error).message);
    }
    missing = await missingTools(tools);
  }
  if (missing.length) problems.push(`missing tools: ${missing.join(', ')} (apt-get install ${pkgs().join(' ')})`);
  if (needRoot && process.getuid?.() !== 0) problems.push('these tests need root (loop devices, mounts)');
  if (problems.length) throw new Error(`integration prerequisites not met${process.env.CI === 'true' ? ' (CI=true)' : ''}: ${problems.join('; ')}`);
}

const live = new Set<{ device?: string; mountPoint?: string; dir: string }>();
let hooked = false;

function syncTeardown(): void {
  for (const s of live) {
    if (s.mountPoint) try { execFileSync('umount', ['-l', s.mountPoint], { stdio: 'ignore' }); } catch { /* already gone */ }
    if (s.device) try { execFileSync('losetup', ['-d', s.device], { stdio: 'ignore' }); } catch { /* already gone */ }
    try { rmSync(s.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  live.clear();
}

function mkfsArgs(fsType: LoopFsType, image: string): [string, string[]] {
  switch (fsType) {
    case 'btrfs': return ['mkfs.btrfs', ['-q', '-f', image]];
    case 'xfs': return ['mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]];
    case 'ext4': return ['mkfs.ext4', ['-q', '-F', image]];
  }
}

async function umountRetry(mountPoint: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    try {
      await run('umount', [mountPoint]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100 * (i + 1)));
    }
  }
  await run('umount', ['-l', mountPoint]);
}

export async function createLoopFs(opts: LoopFsOptions): Promise<LoopFs> {
  if (!hooked) {
    hooked = true;
    process.once('exit', syncTeardown);
  }
  const sizeMiB = opts.sizeMiB ?? (opts.fsType === 'xfs' ? 320 : 256);
  const dir = await mkdtemp(join(tmpdir(), `fsrvp-loop-${opts.fsType}-`));
  const state: { device?: string; mountPoint?: string; dir: string } = { dir };
  live.add(state);
  let torn = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    const errors: string[] = [];
    if (state.mountPoint) await umountRetry(state.mountPoint).catch((e: Error) => errors.push(e.message));
    // A mount of a loop device may auto-clear it on umount; a missing device is fine.
    if (state.device) await run('losetup', ['-d', state.device]).catch((e: Error) => { if (!/No such device|not a block|invalid/i.test(e.message)) errors.push(e.message); });
    await rm(dir, { recursive: true, force: true }).catch((e: Error) => errors.push(e.message));
    live.delete(state);
    if (errors.length) throw new Error(`loop filesystem teardown: ${errors.join('; ')}`);
  };
  try {
    const image = join(dir, 'image');
    const fh = await open(image, 'wx');
    await fh.truncate(sizeMiB * 1024 * 1024);
    await fh.close();
    const [mkfs, args] = mkfsArgs(opts.fsType, image);
    await run(mkfs, args, { timeoutMs: 120_000 });
    const device = (await run('losetup', ['--find', '--show', image])).stdout.trim();
    state.device = device;
    const mountPoint = join(dir, 'mnt');
    await mkdir(mountPoint);
    await run('mount', ['-t', opts.fsType, ...(opts.mountOptions ? ['-o', opts.mountOptions] : []), device, mountPoint]);
    state.mountPoint = mountPoint;
    return { fsType: opts.fsType, dir, image, device, mountPoint, teardown };
  } catch (e) {
    await teardown().catch(() => undefined);
    throw e;
  }
}

/** Runs `fn` with a fresh loop filesystem and always tears it down. */
export async function withLoopFs<T>(opts: LoopFsOptions, fn: (fs: LoopFs) => Promise<T>): Promise<T> {
  const fs = await createLoopFs(opts);
  try {
    return await fn(fs);
  } finally {
    await fs.teardown();
  }
}
