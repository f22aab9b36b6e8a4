/**
 * The agent's Python helper (fsrvp_helper.py, beside this file in the source tree): where the
 * script is, and shared, reference-counted helper processes — one per (interpreter, script,
 * mode, mode arguments), however many backends or publishers use it.
 *
 * The script is found next to this module when running from the TypeScript sources
 * (`src/sys/helpers/`), and in the source tree when running compiled code
 * (`dist/src/sys/helpers/` → `src/sys/helpers/`): the build does not copy it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HelperProcess } from '../helper-process.js';

export const HELPER_SCRIPT_NAME = 'fsrvp_helper.py';

/** Debian's interpreter: it has Samba's Python modules (python3-samba); a pyenv `python3` on PATH may not. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/** Where fsrvp_helper.py can be, for a module at `moduleUrl` (this module by default), in order. */
export function helperScriptCandidates(moduleUrl: string = import.meta.url): string[] {
  const here = dirname(fileURLToPath(moduleUrl));
  const out = [join(here, HELPER_SCRIPT_NAME)];
  const parts = here.split(sep);
  const dist = parts.lastIndexOf('dist');
  if (dist >= 0) out.push(join(parts.slice(0, dist).join(sep) || sep, ...parts.slice(dist + 1), HELPER_SCRIPT_NAME));
  return out;
}

/** The path of fsrvp_helper.py, or undefined when it cannot be found. */
export function locateHelperScript(moduleUrl?: string): string | undefined {
  return helperScriptCandidates(moduleUrl).find((p) => existsSync(p));
}

export type HelperMode = 'btrfs' | 'smbconf' | 'files' | 'passdb' | 'ping';

export interface FsrvpHelperOptions {
  /** Python interpreter (default DEFAULT_PYTHON). */
  readonly python?: string;
  /** The helper script (default: located next to this module, see above). */
  readonly script?: string;
}

/** A use of a shared helper; `release()` closes the process when its last user lets go. */
export interface HelperLease {
  readonly helper: HelperProcess;
  release(): Promise<void>;
}

const pool = new Map<string, { helper: HelperProcess; users: number }>();

/** A shared helper process for `mode` with `modeArgs` (e.g. the smb.conf path), started on its first request. */
export function acquireHelper(mode: HelperMode, modeArgs: readonly string[], opts: FsrvpHelperOptions = {}): HelperLease {
  const python = opts.python ?? DEFAULT_PYTHON;
  const script = opts.script ?? locateHelperScript() ?? helperScriptCandidates()[0]!;
  // -I: isolated (no PYTHON* variables, no user site, script directory not on sys.path); -B: no .pyc files.
  const args = ['-I', '-B', script, mode, ...modeArgs];
  const key = JSON.stringify([python, args]);
  let entry = pool.get(key);
  if (!entry) {
    entry = { helper: new HelperProcess({ name: mode === 'smbconf' ? 'smbconf' : mode, command: python, args }), users: 0 };
    pool.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    helper: held.helper,
    async release() {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      if (pool.get(key) === held) pool.delete(key);
      await held.helper.close();
    },
  };
}

/**
 * A client of one helper mode: the shared helper process is acquired on the first request and
 * released by close(), after which the client is still usable (it acquires it again).
 */
export class HelperClient {
  private lease: HelperLease | undefined;

  constructor(
    private readonly mode: HelperMode,
    private readonly modeArgs: readonly string[],
    private readonly helperOptions: FsrvpHelperOptions,
    /** Timeout of each request, ms (0: none). */
    private readonly requestTimeoutMs: number,
  ) {}

  protected get helper(): HelperProcess {
    this.lease ??= acquireHelper(this.mode, this.modeArgs, this.helperOptions);
    return this.lease.helper;
  }

  protected call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.helper.request<T>(op, args, { timeoutMs: this.requestTimeoutMs });
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release();
  }
}
