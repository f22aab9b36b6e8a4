/**
 * `external_rpc_pipe:socket_dir` sends every pipe smbd opens to `<socket_dir>/np/<name>`, so
 * each pipe other than ours needs a symlink there to samba-dcerpcd's socket in
 * `<ncalrpc dir>/np/<name>`. The pipe names come from the rpcd helpers themselves
 * (`rpcd_* --list-interfaces`, lines `ncacn_np:[\pipe\NAME]`).
 */
import { execFile } from 'node:child_process';
import { lstat, readdir, readlink, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DEFAULT_LIBEXEC = '/usr/libexec/samba';
/** Pipes we serve ourselves: never linked to samba-dcerpcd. */
export const OWN_PIPES: readonly string[] = ['fssagentrpc'];

/** Pipe names (lower case, as smbd builds socket paths) in `--list-interfaces` output. */
export function parseInterfacePipes(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/ncacn_np:\[\\pipe\\([^\]\s]+)\]/gi)) out.add((m[1] as string).toLowerCase());
  return [...out];
}

/** Every rpcd helper in `libexecDir` with the pipes it serves. */
export async function listHelperPipes(libexecDir = DEFAULT_LIBEXEC): Promise<Map<string, string[]>> {
  const helpers = (await readdir(libexecDir)).filter((f) => f.startsWith('rpcd_')).sort();
  const out = new Map<string, string[]>();
  for (const h of helpers) {
    const { stdout } = await run(join(libexecDir, h), ['--list-interfaces'], { timeout: 10_000 });
    out.set(h, parseInterfacePipes(stdout));
  }
  return out;
}

/** All pipe names samba-dcerpcd serves, minus ours, sorted. */
export async function listSambaPipes(libexecDir = DEFAULT_LIBEXEC, exclude: readonly string[] = OWN_PIPES): Promise<string[]> {
  const all = new Set<string>();
  for (const pipes of (await listHelperPipes(libexecDir)).values()) for (const p of pipes) all.add(p);
  for (const p of exclude) all.delete(p);
  return [...all].sort();
}

export type LinkState = 'ok' | 'missing' | 'wrong-target' | 'not-a-link';

export interface LinkStatus {
  readonly pipe: string;
  readonly path: string;
  readonly target: string;
  readonly state: LinkState;
  /** What the entry points at now, for wrong-target. */
  readonly current?: string;
}

/** Checks `<npDir>/<pipe>` → `<targetNpDir>/<pipe>` for every pipe. */
export async function checkPipeLinks(npDir: string, targetNpDir: string, pipes: readonly string[]): Promise<LinkStatus[]> {
  const out: LinkStatus[] = [];
  for (const pipe of pipes) {
    const path = join(npDir, pipe);
    const target = join(targetNpDir, pipe);
    let state: LinkState = 'ok';
    let current: string | undefined;
    try {
      const st = await lstat(path);
      if (!st.isSymbolicLink()) state = 'not-a-link';
      else if ((current = await readlink(path)) !== target) state = 'wrong-target';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      state = 'missing';
    }
    out.push(current !== undefined && state === 'wrong-target' ? { pipe, path, target, state, current } : { pipe, path, target, state });
  }
  return out;
}

/** Creates missing links and repoints wrong symlinks; never touches anything that is not a symlink. */
export async function fixPipeLinks(links: readonly LinkStatus[]): Promise<LinkStatus[]> {
  const changed: LinkStatus[] = [];
  for (const l of links) {
    if (l.state === 'missing' || l.state === 'wrong-target') {
      if (l.state === 'wrong-target') await unlink(l.path);
      await symlink(l.target, l.path);
      changed.push(l);
    }
  }
  return changed;
}
