/**
 * A private Heimdal KCM daemon (Debian heimdal-kcm) for tests of KCM: credential caches. This
 * kcm build always listens on /var/run/.heim_org.h5l.kcm-socket, whatever --socket-path says, so
 * it runs in a mount namespace of its own (unshare) where a directory of ours is bind-mounted on
 * /run: its socket and pid file land in that directory, and the host's /run is untouched. Clients
 * reach it with `kcm_socket = <dir>/.heim_org.h5l.kcm-socket` in [libdefaults] of krb5.conf.
 * Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { aptInstall } from './apt.js';

export const KCM_BINARY = '/usr/sbin/kcm';
const SOCKET_NAME = '.heim_org.h5l.kcm-socket';
/** Bind-mounts argv[1] on /run (MS_BIND), then becomes kcm: no shell involved. */
const BIND_AND_EXEC = [
  'import ctypes, os, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'if libc.mount(sys.argv[1].encode(), b"/run", None, 4096, None) != 0: raise OSError(ctypes.get_errno(), "bind mount on /run")',
  'os.execv(sys.argv[2], [sys.argv[2]])',
].join('\n');

export interface KcmDaemon {
  /** The daemon's socket, for kcm_socket. */
  readonly socket: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts kcm with its /run in `dir` (installing heimdal-kcm first when it is missing). */
export async function startKcm(dir: string): Promise<KcmDaemon> {
  if (!existsSync(KCM_BINARY)) await aptInstall(['heimdal-kcm']);
  await mkdir(dir, { recursive: true });
  const socket = join(dir, SOCKET_NAME);
  const child: ChildProcess = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/usr/bin/python3', '-c', BIND_AND_EXEC, dir, KCM_BINARY], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  for (let i = 0; i < 100 && !existsSync(socket); i++) {
    if (child.exitCode !== null || pid === undefined) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(socket) || pid === undefined) {
    await stop();
    throw new Error(`kcm did not create ${socket}: ${out || `exit ${child.exitCode}`}`);
  }
  return { socket, pid, stop };
}
