/**
 * The hook backend: any snapshot system (ZFS, LVM-thin, a storage array's CLI, snapper, …)
 * behind one executable that the operator writes, called with an argument array — never through
 * a shell — and a clean environment. The protocol (version 1) is in README "Snapshot hooks":
 *
 *     COMMAND [ARGS…] hello                                  → {"protocol": 1, "description"?}
 *     COMMAND [ARGS…] supports PATH                          → {"supported": bool, "reason"?}
 *     COMMAND [ARGS…] volume PATH                            → {"id", "root"}
 *     COMMAND [ARGS…] check PATH VOLUME_ID VOLUME_ROOT       → {"refusal": null | {"path", "reason"}}
 *     COMMAND [ARGS…] create VOLUME_ID VOLUME_ROOT NAME MODE → {"path"}   (MODE: readonly | writable)
 *     COMMAND [ARGS…] set-readonly VOLUME_ID NAME PATH       → {}
 *     COMMAND [ARGS…] delete VOLUME_ID NAME PATH             → {}         (PATH "" when create failed)
 *     COMMAND [ARGS…] list VOLUME_ID VOLUME_ROOT             → {"snapshots": [{"name", "path", "writable"?, "createdAt"?}]}
 *
 * Exit status 0 is success and stdout holds one JSON object; any other status is a failure whose
 * stderr the error carries. Two statuses mean something: 17 from `create` says the name is taken
 * (the agent takes the next name), 64 says the verb is unknown (for `check`: no objection).
 * A long `create` may report how far it is with stderr lines `progress DONE [TOTAL]`.
 *
 * The agent keeps every promise the built-in backends keep: names come from naming.ts (so
 * `list` replies are filtered to names this agent makes), a create that fails, times out or is
 * aborted is followed by a `delete` of its name, and the directory-structure policy runs here
 * before the hook's own `check`.
 */
import { realpath, stat } from 'node:fs/promises';
import createDebug from 'debug';
import type { CheckOptions, CreateOptions, SnapshotBackend, SnapshotRef, Volume } from './backend.js';
import {
  decodeCheck, decodeCreate, decodeHello, decodeList, decodeSupports, decodeVolume, HOOK_PROTOCOL, HookReplyError,
  type HelloReply,
} from './hook-reply.js';
import { isInside } from './mounts.js';
import { normalizeGuid, parseSnapshotName, snapshotName, toSeconds } from './naming.js';
import { checkTree, policyOptionsFor, refusal, type PolicyOptions, type PolicyRefusal } from './policy.js';
import { abortError, CommandError, commandLine, lastLines, which } from '../sys/exec.js';
import { runGroup, type GroupRunResult } from '../sys/exec-group.js';

const debug = createDebug('fsrvp:hook');

/** Exit status of `create` when a snapshot of that name exists already. */
export const HOOK_EXIT_EXISTS = 17;
/** Exit status of a verb the hook does not implement. */
export const HOOK_EXIT_UNKNOWN_VERB = 64;
/** Names tried for one shadow copy in one second before giving up (`.2` … `.16`). */
const MAX_NAME_TRIES = 16;
/** Largest reply accepted (a list of many thousands of snapshots fits). */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface HookBackendOptions {
  /** The backend's name: what shares and `storage.defaultBackend` choose it by. */
  readonly name: string;
  /** Absolute path of the executable. */
  readonly command: string;
  /** Arguments put before the verb (the hook's own options). */
  readonly args?: readonly string[];
  /** The hook's whole environment besides PATH, LC_ALL and the FSRVP_HOOK_* variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Limit of every call but `create`, in seconds (default 60). */
  readonly timeoutSeconds?: number;
  /** Limit of `create` (default 600); the client's own timeout may stop it sooner. */
  readonly createTimeoutSeconds?: number;
  /** Directory-structure policy for `check()` (ONTAP-like defaults, see policy.ts). */
  readonly policy?: Partial<PolicyOptions>;
}

/** A hook failed, timed out, could not be started, or printed a reply that is not valid. */
export class HookError extends Error {
  override readonly name = 'HookError';
  constructor(
    readonly backend: string,
    readonly verb: string,
    readonly kind: 'failed' | 'timeout' | 'aborted' | 'not-found' | 'bad-reply' | 'protocol',
    detail: string,
    /** The hook's exit status when kind is 'failed'. */
    readonly exitCode?: number,
  ) {
    super(`snapshot hook ${backend}: ${verb}: ${detail}`);
  }
}

const PROGRESS_RE = /^progress (\d{1,15})(?: (\d{1,15}))?\s*$/;

/** A `progress DONE [TOTAL]` line of a hook's stderr, passed on; other lines are not progress. */
function reportProgress(line: string, progress: NonNullable<CreateOptions['progress']>): void {
  const m = PROGRESS_RE.exec(line);
  if (m) progress(Number(m[1]), m[2] === undefined ? undefined : Number(m[2]));
}

export class HookBackend implements SnapshotBackend {
  readonly name: string;
  private hello: Promise<HelloReply> | undefined;

  constructor(private readonly options: HookBackendOptions) {
    this.name = options.name;
  }

  /** The hook's `hello`, asked once (again after a failure); checks the protocol version. */
  describe(): Promise<HelloReply> {
    if (this.hello) return this.hello;
    const asked = this.invoke('hello', [], this.timeoutMs()).then((out) => {
      const h = this.decode('hello', () => decodeHello(out));
      if (h.protocol !== HOOK_PROTOCOL) {
        throw new HookError(this.name, 'hello', 'protocol', `the hook speaks protocol ${h.protocol}; this agent speaks ${HOOK_PROTOCOL}`);
      }
      return h;
    });
    asked.catch(() => { if (this.hello === asked) this.hello = undefined; });
    this.hello = asked;
    return asked;
  }

  async supports(path: string): Promise<boolean> {
    return (await this.supportsWhy(path)).supported;
  }

  /** `supports` with the hook's reason when it says no (doctor, logs). */
  async supportsWhy(path: string): Promise<{ supported: boolean; reason?: string }> {
    try {
      if (!(await stat(path)).isDirectory()) return { supported: false, reason: `${path} is not a directory` };
    } catch (e) {
      return { supported: false, reason: (e as Error).message };
    }
    const r = await this.call('supports', [await realpath(path)], decodeSupports);
    if (!r.supported) debug('%s does not support %s: %s', this.name, path, r.reason ?? '(no reason given)');
    return r;
  }

  async volumeOf(sharePath: string): Promise<Volume> {
    const path = await realpath(sharePath);
    const v = await this.call('volume', [path], decodeVolume);
    if (v.root !== path && !isInside(path, v.root)) {
      throw new HookError(this.name, 'volume', 'bad-reply', `the volume root ${v.root} does not hold ${path}`);
    }
    return { id: v.id, root: v.root, backend: this.name };
  }

  async check(sharePath: string, options: CheckOptions = {}): Promise<PolicyRefusal | undefined> {
    let path: string;
    try {
      path = await realpath(sharePath);
      if (!(await stat(path)).isDirectory()) return refusal('not-a-directory', sharePath, `${sharePath} is not a directory`);
    } catch (e) {
      return refusal('not-a-directory', sharePath, (e as Error).message);
    }
    try {
      const volume = await this.volumeOf(path);
      const policy = options.policy ? policyOptionsFor(options.policy) : this.options.policy;
      const own = await checkTree(path, policy, options.progress ? { progress: options.progress } : {});
      if (own) return own;
      const out = await this.invokeOptional('check', [path, volume.id, volume.root]);
      if (out === undefined) return undefined;
      const r = this.decode('check', () => decodeCheck(out)).refusal;
      return r ? refusal('backend', r.path, r.reason) : undefined;
    } catch (e) {
      // The hook failed or answered badly: the share cannot be shadow-copied now, and the log says why.
      if (e instanceof HookError) return refusal('backend', path, e.message);
      throw e;
    }
  }

  async create(volume: Volume, opts: CreateOptions): Promise<SnapshotRef> {
    const guid = normalizeGuid(opts.shadowCopyId);
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const createdAt = toSeconds(Date.now());
    const mode = opts.writable ? 'writable' : 'readonly';
    for (let seq = 1; seq <= MAX_NAME_TRIES; seq++) {
      const name = snapshotName(guid, createdAt, seq);
      debug('%s: creating %s of %s (%s)', this.name, name, volume.id, mode);
      let out: string;
      try {
        out = await this.invoke('create', [volume.id, volume.root, name, mode], this.createTimeoutMs(), opts.signal, opts.progress);
      } catch (e) {
        if (e instanceof HookError && e.kind === 'failed' && e.exitCode === HOOK_EXIT_EXISTS) {
          debug('%s: %s exists on %s; trying the next name', this.name, name, volume.id);
          continue;
        }
        await this.removeAfterFailure(volume, name);
        throw e;
      }
      let ref: SnapshotRef;
      try {
        const path = this.decode('create', () => decodeCreate(out)).path;
        if (!(await stat(path).then((st) => st.isDirectory(), () => false))) {
          throw new HookError(this.name, 'create', 'bad-reply', `the snapshot's path ${path} is not a directory`);
        }
        ref = { backend: this.name, volumeId: volume.id, path, name, writable: opts.writable, createdAt };
        if (opts.signal?.aborted) throw abortError(opts.signal);
      } catch (e) {
        await this.removeAfterFailure(volume, name);
        throw e;
      }
      debug('%s: snapshot %s of %s at %s (%s)', this.name, name, volume.id, ref.path, mode);
      return ref;
    }
    throw new HookError(this.name, 'create', 'failed', `${MAX_NAME_TRIES} names for shadow copy ${guid} in one second were all taken`);
  }

  async setReadOnly(snap: SnapshotRef): Promise<void> {
    this.assertOurs(snap);
    await this.invoke('set-readonly', [snap.volumeId, snap.name, snap.path], this.timeoutMs());
  }

  async delete(snap: SnapshotRef): Promise<void> {
    this.assertOurs(snap);
    await this.invoke('delete', [snap.volumeId, snap.name, snap.path], this.timeoutMs());
    debug('%s: deleted %s', this.name, snap.path);
  }

  async list(volume: Volume): Promise<SnapshotRef[]> {
    const r = await this.call('list', [volume.id, volume.root], decodeList);
    const found: SnapshotRef[] = [];
    for (const s of r.snapshots) {
      const parsed = parseSnapshotName(s.name);
      // Only names this agent makes: another tool's snapshots are never reported (nor deleted).
      if (!parsed) continue;
      found.push({
        backend: this.name, volumeId: volume.id, path: s.path, name: s.name,
        writable: s.writable ?? false, createdAt: s.createdAt ?? parsed.createdAt,
      });
    }
    return found;
  }

  /** After a failed, timed-out or aborted create: the hook may have made part of it. */
  private async removeAfterFailure(volume: Volume, name: string): Promise<void> {
    try {
      await this.invoke('delete', [volume.id, name, ''], this.timeoutMs());
    } catch (e) {
      debug('%s: removing %s after a failed create: %s', this.name, name, (e as Error).message);
    }
  }

  private assertOurs(snap: SnapshotRef): void {
    if (snap.backend !== this.name || !parseSnapshotName(snap.name)) {
      throw new Error(`${snap.path} is not a snapshot made by the ${this.name} hook backend`);
    }
  }

  private timeoutMs(): number {
    return (this.options.timeoutSeconds ?? 60) * 1000;
  }

  private createTimeoutMs(): number {
    return (this.options.createTimeoutSeconds ?? 600) * 1000;
  }

  /** A verb whose reply is decoded, after `hello` has checked the protocol. */
  private async call<T>(verb: string, operands: readonly string[], decoder: (out: string) => T): Promise<T> {
    const out = await this.invoke(verb, operands, this.timeoutMs());
    return this.decode(verb, () => decoder(out));
  }

  private decode<T>(verb: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof HookReplyError) throw new HookError(this.name, verb, 'bad-reply', e.message);
      throw e;
    }
  }

  /** Like invoke, but undefined when the hook does not know the verb (exit 64). */
  private async invokeOptional(verb: string, operands: readonly string[]): Promise<string | undefined> {
    try {
      return await this.invoke(verb, operands, this.timeoutMs());
    } catch (e) {
      if (e instanceof HookError && e.kind === 'failed' && e.exitCode === HOOK_EXIT_UNKNOWN_VERB) return undefined;
      throw e;
    }
  }

  private async invoke(
    verb: string, operands: readonly string[], timeoutMs: number, signal?: AbortSignal, progress?: CreateOptions['progress'],
  ): Promise<string> {
    if (verb !== 'hello') await this.describe();
    const args = [...(this.options.args ?? []), verb, ...operands];
    const env: Record<string, string> = {
      ...this.options.env, PATH: SAFE_PATH, LC_ALL: 'C.UTF-8',
      FSRVP_HOOK_PROTOCOL: String(HOOK_PROTOCOL), FSRVP_HOOK_BACKEND: this.name,
    };
    // Missing before the start (setpriv would only report an exit status), or at it (a race).
    const notFound = (): HookError => new HookError(this.name, verb, 'not-found', `${this.options.command} does not exist or is not executable`);
    if ((await which(this.options.command)) === undefined) throw notFound();
    let r: GroupRunResult;
    try {
      r = await runGroup(this.options.command, args, {
        timeoutMs, env, maxStdout: MAX_REPLY_BYTES, dieWithParent: true, ...(signal ? { signal } : {}),
        ...(progress ? { onStderrLine: (line: string) => reportProgress(line, progress) } : {}),
      });
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      if (e.kind === 'aborted') throw new HookError(this.name, verb, 'aborted', 'the request was cancelled before the hook started');
      if (e.kind === 'not-found') throw notFound();
      throw new HookError(this.name, verb, 'failed', e.message);
    }
    const cmd = commandLine(this.options.command, args);
    const stderr = r.stderr.trim();
    const why = stderr ? `: ${lastLines(stderr)}` : '';
    if (r.killed === 'timeout') throw new HookError(this.name, verb, 'timeout', `${cmd} did not finish within ${timeoutMs / 1000} s and was killed${why}`);
    if (r.killed === 'aborted') throw new HookError(this.name, verb, 'aborted', `${cmd} was stopped: the request was cancelled${why}`);
    if (r.killed === 'overflow') throw new HookError(this.name, verb, 'bad-reply', `${cmd} printed more than ${MAX_REPLY_BYTES} bytes and was killed`);
    if (r.code !== 0) {
      throw new HookError(this.name, verb, 'failed', `${cmd} ${r.code === null ? 'was killed by a signal' : `exited with status ${r.code}`}${why}`, r.code ?? undefined);
    }
    if (stderr) debug('%s %s: stderr: %s', this.name, verb, stderr);
    return r.stdout;
  }
}
