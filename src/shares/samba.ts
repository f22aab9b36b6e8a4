/**
 * Publishes snapshot shares to Samba as registry shares (smb.conf needs `registry shares = yes`;
 * `include = registry` at the end of [global] lets testparm and `smbclient -L` see them).
 *
 * publish: the base share's definition (every parameter testparm prints for it) is cloned into
 * `<share>@{<guid>}` with `path` = the snapshot, `read only = yes` unless writable (and no
 * `write list` then), `comment = …`; the base share's security descriptor is cloned with
 * `sharesec --viewsddl` / `--setsddl` (skipped when the base has Samba's default, Everyone:FULL,
 * which the clone gets anyway). `reload: true` adds `smbcontrol smbd reload-config` after each
 * change (a missing smbd is fine) — measured unnecessary, see below.
 * unpublish: `net conf delshare` (which also deletes the stored descriptor), then
 * `smbcontrol smbd close-share` so connected clients lose the tree.
 * All tools get `-s <configFile>` (testparm: the positional argument) so tests use a private smb.conf.
 *
 * Measured (Samba 4.17.12, 2 vCPU shared with other jobs, load 2.5–3; private smb.conf; a base
 * share with 8 parameters and a stored ACL; median of 20 publish → setReadOnly → unpublish cycles
 * per variant, interleaved; run-to-run noise ±25 %):
 *   publish, 'import'  (testparm ∥ sharesec --viewsddl, then net conf import ∥ sharesec --setsddl): 123–142 ms
 *   publish, 'setparm' (same reads, then net conf addshare + one net conf setparm per parameter):  521–578 ms
 *   `smbcontrol smbd reload-config` after each change: +20–30 ms per operation (about 30 ms a call,
 *   with or without a running smbd); setReadOnly 83–86 ms without it, unpublish 94–100 ms.
 *   One tool call costs 28–57 ms (testparm --section-name 28–31, sharesec 34–39, net conf 53–57).
 * Checked against a running smbd (port 4455, private config): a new registry share, a `read only`
 * flip and a deleted share all take effect for the next tree connect without any reload (smbd
 * re-reads changed registry shares at tree connect, with or without `include = registry`), and a
 * reload does not change trees already connected — only `close-share` does (the client gets
 * NT_STATUS_NETWORK_NAME_DELETED). Existing trees of a flipped share are kept read-only by the
 * storage (btrfs ro snapshot, immutable copy), not by smbd.
 * Chosen: 'import', parallel where steps are independent, no reload (option `reload: true` adds
 * it), close-share on unpublish.
 *
 * Fast path (option `helper`, default on): the registry edits — create/replace, the read-only
 * flip, delete (with the stored descriptor), list — and reading the base share's stored
 * descriptor go through a long-lived Python helper that uses Samba's own smbconf library and
 * share_info.tdb (samba-helper.ts; ~1 ms instead of 40–60 ms per tool). The base definition
 * still comes from testparm, cached while nothing testparm reads has changed (samba-base-cache.ts:
 * smb.conf and its includes by inode/size/times, the registry's base share and [global] by
 * content). The descriptor is read fresh at every publish; setting a non-default one on the clone
 * stays `sharesec --setsddl`. close-share runs after unpublish returns, in the background, one at
 * a time (errors are logged; `idle()` waits for them): the helper sends smbd the message
 * `smbcontrol smbd close-share` sends, the tool is the fallback. When the helper cannot
 * run (no /usr/bin/python3 or python3-samba, a configuration Samba's library refuses) or fails
 * (it died, timed out, or Samba's library reported an error), the tools above do the work, as
 * before. The 'setparm' strategy always uses the tools. One deviation: setReadOnly of a share
 * that is not in the registry does nothing (`net conf setparm` would create a share with only
 * `read only = yes`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import createDebug from 'debug';
import { CommandError, run } from '../sys/exec.js';
import { HelperError, HelperFailure, HelperUnavailableError } from '../sys/helper-process.js';
import { BaseDefinitionCache, ConfFingerprinter } from './samba-base-cache.js';
import { cloneDefinition, DEFAULT_SHARE_SDDL, SNAPSHOT_SHARE_RE } from './samba-clone.js';
import { SmbConfHelper, helperHandlesSdName } from './samba-helper.js';
import { assertConfSafe, parseSmbConf, renderSection, type SmbConfSection } from './smbconf.js';
import type { PublishRequest, SharePublisher } from './types.js';

const debug = createDebug('fsrvp:shares');

export { DEFAULT_SHARE_SDDL, SNAPSHOT_SHARE_RE } from './samba-clone.js';

/** Returned by viaHelper when the tools must do the work. */
const FALLBACK: unique symbol = Symbol('fallback');

export interface SambaPublisherOptions {
  /** smb.conf passed to every tool (`-s`); default: Samba's own. */
  readonly configFile?: string;
  /** 'import' (default, one `net conf import`) or 'setparm' (`net conf addshare` + `setparm` per parameter). */
  readonly strategy?: 'import' | 'setparm';
  /**
   * Also run `smbcontrol smbd reload-config` after each change (default false: measured unnecessary
   * on Samba 4.17 — every new tree connect sees registry changes — and without effect on existing
   * connections; see the file comment). A missing smbd is tolerated.
   */
  readonly reload?: boolean;
  /** Ask smbd to disconnect clients from unpublished shares (default true). */
  readonly closeShares?: boolean;
  /** Clone the base share's security descriptor (default true). */
  readonly cloneSecurityDescriptor?: boolean;
  readonly netCommand?: string;
  readonly testparmCommand?: string;
  readonly smbcontrolCommand?: string;
  readonly sharesecCommand?: string;
  /** Directory for the temporary import files (default: the OS temp dir). */
  readonly tmpDir?: string;
  readonly timeoutMs?: number;
  /** Use the long-lived smbconf helper for registry edits (default true; the tools are the fallback). */
  readonly helper?: boolean;
  /** Python interpreter for the helper (default /usr/bin/python3). */
  readonly python?: string;
  /** The helper script (default: src/sys/helpers/fsrvp_helper.py, found from this module). */
  readonly helperScript?: string;
  /** Cache the base share definitions testparm prints, while nothing it reads has changed (default true; needs the helper). */
  readonly cacheBaseDefinitions?: boolean;
}

export class SambaRegistryPublisher implements SharePublisher {
  readonly name = 'samba-registry';
  /** The last reload failure (smbd not running is the usual one), for diagnostics. */
  lastReloadError: string | undefined;
  /** The last reason the helper was not used for an operation, for diagnostics. */
  lastHelperError: string | undefined;
  private readonly helper: SmbConfHelper | undefined;
  private readonly fingerprints = new ConfFingerprinter();
  private readonly baseCache = new BaseDefinitionCache();
  /** Background smbd notifications (close-share after unpublish), one at a time. */
  private background: Promise<void> = Promise.resolve();

  constructor(private readonly options: SambaPublisherOptions = {}) {
    if (options.helper ?? true) {
      this.helper = new SmbConfHelper({
        configFile: options.configFile, python: options.python, script: options.helperScript, timeoutMs: options.timeoutMs,
      });
    }
  }

  /** Waits for the background smbd notifications, then stops the helper (if this was its last user). Usable afterwards. */
  async close(): Promise<void> {
    await this.idle();
    await this.helper?.close();
  }

  /** Resolves when the background smbd notifications queued so far are done. */
  idle(): Promise<void> {
    return this.background;
  }

  /**
   * Runs `fn` with the helper; FALLBACK when there is none or it failed in a way the tools may
   * not (it cannot start, it died or timed out, Samba's library reported an error: the tools then
   * redo the work, or report the error in their words).
   */
  private async viaHelper<T>(what: string, fn: (h: SmbConfHelper) => Promise<T>): Promise<T | typeof FALLBACK> {
    const h = this.helper;
    if (!h) return FALLBACK;
    try {
      return await fn(h);
    } catch (e) {
      if (e instanceof HelperUnavailableError || e instanceof HelperFailure || e instanceof HelperError) {
        this.lastHelperError = `${what}: ${e.message}`;
        debug('%s: helper not used (%s); using the Samba tools', what, e.message);
        return FALLBACK;
      }
      throw e;
    }
  }

  private conf(): string[] {
    return this.options.configFile ? ['-s', this.options.configFile] : [];
  }

  private tool(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(file, args, { timeoutMs: this.options.timeoutMs ?? 30_000 });
  }

  private net(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return this.tool(this.options.netCommand ?? 'net', [...this.conf(), ...args]);
  }

  private sharesec(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return this.tool(this.options.sharesecCommand ?? 'sharesec', [...this.conf(), ...args]);
  }

  private smbcontrol(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return this.tool(this.options.smbcontrolCommand ?? 'smbcontrol', [...this.conf(), ...args]);
  }

  /** The base share's parameters as testparm prints them (smb.conf or registry); cached, see samba-base-cache.ts. */
  async baseDefinition(baseName: string): Promise<SmbConfSection> {
    if (this.options.cacheBaseDefinitions ?? true) {
      const viaCache = await this.viaHelper('base definition', (h) => this.cachedBaseDefinition(h, baseName));
      if (viaCache !== FALLBACK) return viaCache;
    }
    return this.testparmDefinition(baseName);
  }

  private async cachedBaseDefinition(h: SmbConfHelper, baseName: string): Promise<SmbConfSection> {
    const started = Date.now();
    const main = this.options.configFile ?? (await h.info()).configFile;
    const readKey = async (): Promise<string | undefined> => {
      const [fp, registry] = await Promise.all([this.fingerprints.fingerprint(main), h.sharesGet([baseName, 'global'])]);
      if ('uncacheable' in fp) {
        debug('base definitions are not cached: %s', fp.uncacheable);
        return undefined;
      }
      if (fp.racyUntilMs > started) return undefined;
      return `${fp.key}\n${JSON.stringify(registry)}`;
    };
    const key = await readKey();
    const hit = key === undefined ? undefined : this.baseCache.get(baseName, key);
    if (hit) return hit;
    const section = await this.testparmDefinition(baseName);
    if (key !== undefined && (await readKey()) === key) this.baseCache.set(baseName, key, section);
    return section;
  }

  private async testparmDefinition(baseName: string): Promise<SmbConfSection> {
    const args = ['--suppress-prompt', `--section-name=${baseName}`, ...(this.options.configFile ? [this.options.configFile] : [])];
    const { stdout } = await this.tool(this.options.testparmCommand ?? 'testparm', args);
    const section = parseSmbConf(stdout).find((s) => s.name.toLowerCase() === baseName.toLowerCase());
    if (!section) throw new Error(`Samba has no share named ${baseName}`);
    return section;
  }

  /** The security descriptor stored for a share, as SDDL (Samba's default when none is stored); read fresh each time. */
  async securityDescriptor(share: string): Promise<string> {
    if (helperHandlesSdName(share)) {
      const sddl = await this.viaHelper('read the security descriptor', (h) => h.sdGet(share));
      if (sddl !== FALLBACK) return sddl ?? DEFAULT_SHARE_SDDL;
    }
    const { stdout } = await this.sharesec([share, '--viewsddl']);
    const sddl = stdout.trim().split('\n').pop()?.trim() ?? '';
    if (!/^[OGDS]:/.test(sddl)) throw new Error(`unexpected sharesec output for ${share}: ${stdout.trim()}`);
    return sddl;
  }

  /** The clone's parameters: the base's, with path/comment/read only replaced (samba-clone.ts). */
  static cloneDefinition = cloneDefinition;

  async publish(req: PublishRequest): Promise<void> {
    assertConfSafe('share name', req.name, true);
    assertConfSafe('path', req.path);
    assertConfSafe('comment', req.comment);
    const started = Date.now();
    const clone = this.options.cloneSecurityDescriptor ?? true;
    const [base, sddl] = await Promise.all([
      this.baseDefinition(req.base.name),
      clone ? this.securityDescriptor(req.base.name) : Promise.resolve(undefined),
    ]);
    const def = cloneDefinition(base, req);
    const writes: Array<Promise<unknown>> = [this.writeShare(def)];
    if (sddl && sddl !== DEFAULT_SHARE_SDDL) writes.push(this.sharesec([req.name, '--force', `--setsddl=${sddl}`])); // --force: the share may not exist yet
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.remove(req.name).catch(() => undefined);
      throw failed.reason;
    }
    await this.reload();
    debug('published %s -> %s (%s) in %d ms', req.name, req.path, req.readOnly ? 'read-only' : 'writable', Date.now() - started);
  }

  /**
   * Several shares at once, all or none: each base read once, the registry shares made in one
   * helper transaction (else by the tools, in parallel), descriptors set in parallel. On any
   * failure all of `reqs` are removed again before this rejects.
   */
  async publishMany(reqs: readonly PublishRequest[]): Promise<void> {
    if (reqs.length <= 1) return reqs[0] ? this.publish(reqs[0]) : undefined;
    for (const r of reqs) {
      assertConfSafe('share name', r.name, true);
      assertConfSafe('path', r.path);
      assertConfSafe('comment', r.comment);
    }
    const started = Date.now();
    const clone = this.options.cloneSecurityDescriptor ?? true;
    const bases = [...new Set(reqs.map((r) => r.base.name))];
    const read = new Map(await Promise.all(bases.map(async (b) => [b, await Promise.all([
      this.baseDefinition(b), clone ? this.securityDescriptor(b) : Promise.resolve(undefined),
    ])] as const)));
    const defs = reqs.map((r) => cloneDefinition(read.get(r.base.name)![0], r));
    for (const d of defs) renderSection(d); // refuses what the tools would refuse, before anything is written
    const writes: Array<Promise<unknown>> = [this.writeShares(defs)];
    for (const r of reqs) {
      const sddl = read.get(r.base.name)![1];
      if (sddl && sddl !== DEFAULT_SHARE_SDDL) writes.push(this.sharesec([r.name, '--force', `--setsddl=${sddl}`]));
    }
    const failed = (await Promise.allSettled(writes)).find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) {
      await Promise.all(reqs.map((r) => this.remove(r.name).catch(() => undefined)));
      throw failed.reason;
    }
    await this.reload();
    debug('published %d shares in %d ms', reqs.length, Date.now() - started);
  }

  private async writeShares(defs: readonly SmbConfSection[]): Promise<void> {
    if ((this.options.strategy ?? 'import') === 'import'
      && (await this.viaHelper('create shares', (h) => h.sharesCreate(defs))) !== FALLBACK) return;
    await Promise.all(defs.map((d) => this.writeShare(d)));
  }

  private async writeShare(def: SmbConfSection): Promise<void> {
    if ((this.options.strategy ?? 'import') === 'import') {
      const text = renderSection(def); // also refuses names and values the tools would refuse
      if ((await this.viaHelper('create share', (h) => h.shareCreate(def.name, def.params))) !== FALLBACK) return;
      const dir = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), 'fsrvp-share-'));
      try {
        const file = join(dir, 'share.conf');
        await writeFile(file, text, { mode: 0o600 });
        await this.net(['conf', 'import', file, def.name]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return;
    }
    const path = def.params.find(([k]) => k === 'path')![1];
    await this.net(['conf', 'addshare', def.name, path, 'writeable=n', 'guest_ok=n']);
    for (const [k, v] of def.params) {
      if (k === 'path') continue;
      await this.net(['conf', 'setparm', def.name, k, v]);
    }
  }

  async setReadOnly(name: string): Promise<void> {
    const flipped = await this.viaHelper('read-only flip', (h) => h.shareUpdate(name, [['read only', 'yes']], ['write list']));
    if (flipped !== FALLBACK) {
      if (!flipped.exists) debug('setReadOnly %s: no such registry share; nothing to do', name);
      await this.reload();
      return;
    }
    // Both edits run at once: registry.tdb serialises the two transactions.
    const dropWriteList = this.net(['conf', 'delparm', name, 'write list']).catch((e: unknown) => {
      if (!(e instanceof CommandError && /NO_SUCH_PARAM|no such parameter|not set/i.test(e.stderr + e.stdout))) throw e;
    });
    await Promise.all([this.net(['conf', 'setparm', name, 'read only', 'yes']), dropWriteList]);
    await this.reload();
  }

  async unpublish(name: string): Promise<void> {
    await this.remove(name);
    if (this.options.closeShares ?? true) this.inBackground(['close-share', name]);
    await this.reload();
  }

  /**
   * Queues an smbcontrol message to smbd after the current operation returns (one at a time;
   * failures are logged and recorded in lastReloadError). close-share only disconnects clients
   * still connected to a deleted share: new tree connects already fail.
   */
  private inBackground(args: string[]): void {
    this.background = this.background.then(() => this.signalSmbd(args)).catch((e: Error) => debug('smbcontrol smbd %s: %s', args.join(' '), e.message));
  }

  /**
   * Deletes the registry share and its stored security descriptor; missing ones are fine.
   * `net conf delshare` removes the descriptor too; `sharesec -D` is only needed when the share
   * itself is gone (a publish that failed half-way, or a crash).
   */
  private async remove(name: string): Promise<void> {
    if (helperHandlesSdName(name) && (await this.viaHelper('delete share', (h) => h.shareDelete(name))) !== FALLBACK) return;
    try {
      await this.net(['conf', 'delshare', name]);
      return;
    } catch (e) {
      if (!(e instanceof CommandError && /NO_SUCH_SERVICE/.test(e.stderr + e.stdout))) throw e;
    }
    await this.sharesec([name, '--force', '-D']).catch((e: unknown) => {
      if (e instanceof CommandError && /NOT_FOUND/.test(e.stderr + e.stdout)) return;
      throw e;
    });
  }

  async list(): Promise<string[]> {
    const names = await this.viaHelper('list shares', (h) => h.shareList());
    if (names !== FALLBACK) return names.filter((l) => SNAPSHOT_SHARE_RE.test(l));
    const { stdout } = await this.net(['conf', 'listshares']);
    return stdout.split('\n').map((l) => l.trim()).filter((l) => SNAPSHOT_SHARE_RE.test(l));
  }

  /** The registry definition of a share (`net conf showshare`), or undefined when there is none. */
  async show(name: string): Promise<SmbConfSection | undefined> {
    try {
      const { stdout } = await this.net(['conf', 'showshare', name]);
      return parseSmbConf(stdout)[0];
    } catch (e) {
      if (e instanceof CommandError && /NO_SUCH_SERVICE/.test(e.stderr + e.stdout)) return undefined;
      throw e;
    }
  }

  /** Asks smbd to reload its configuration when the `reload` option is on (tolerates a missing smbd). */
  async reload(): Promise<void> {
    if (this.options.reload !== true) return;
    await this.signalSmbd(['reload-config']);
  }

  private async signalSmbd(args: string[]): Promise<void> {
    if (args[0] === 'close-share' && args[1] !== undefined) {
      const name = args[1];
      const r = await this.viaHelper('close-share', (h) => h.closeShare(name));
      if (r !== FALLBACK) {
        this.lastReloadError = r.sent ? undefined : `close-share ${name}: ${r.reason ?? 'not sent'}`;
        if (!r.sent) debug('%s', this.lastReloadError);
        return;
      }
    }
    try {
      await this.smbcontrol(['smbd', ...args]);
      this.lastReloadError = undefined;
    } catch (e) {
      this.lastReloadError = (e as Error).message;
      debug('smbcontrol smbd %s: %s', args.join(' '), this.lastReloadError);
    }
  }
}
