/**
 * Samba registry shares and stored share security descriptors through the long-lived Python
 * helper (src/sys/helpers/fsrvp_helper.py, mode `smbconf`: fsrvp_helper_smbconf.py): Samba's own smbconf library with the
 * registry backend (python3-samba), about 1 ms per change instead of 40–60 ms per `net conf`.
 * The helper loads the given smb.conf first, so a private configuration (state directory,
 * registry.tdb, share_info.tdb) is honoured like `-s` does for the tools.
 *
 * Failures: HelperUnavailableError (no interpreter, no python3-samba, a configuration Samba
 * cannot load), HelperFailure (the helper died or timed out), HelperError with `code` = Samba's
 * SBC_ERR_* name, or ENAME for a share name whose descriptor key this helper does not compute
 * (not plain ASCII).
 */
import { HelperClient, type FsrvpHelperOptions } from '../sys/helpers/fsrvp-helper.js';

/** A registry share: its name as stored and its parameters in order. */
export interface RegistryShare {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string]>;
}

export interface SmbConfHelperOptions extends FsrvpHelperOptions {
  /** smb.conf to load (default: Samba's default configuration file). */
  readonly configFile?: string;
  /** Timeout of each request, ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** What the helper reports about the configuration it loaded. */
export interface SmbConfInfo {
  /** The smb.conf Samba loaded (absolute). */
  readonly configFile: string;
  /** Where share security descriptors are stored. */
  readonly shareInfo: string;
}

/** Whether the helper computes the share_info.tdb key of this name (plain printable ASCII). */
export function helperHandlesSdName(name: string): boolean {
  return /^[\x20-\x7e]+$/.test(name);
}

export class SmbConfHelper extends HelperClient {
  constructor(options: SmbConfHelperOptions = {}) {
    super('smbconf', options.configFile ? [options.configFile] : [], options, options.timeoutMs ?? 30_000);
  }

  /** Starts the helper if needed; false when it cannot run here. */
  available(): Promise<boolean> {
    return this.helper.available();
  }

  /** The loaded configuration (starts the helper; throws HelperUnavailableError when it cannot run). */
  async info(): Promise<SmbConfInfo> {
    if (!this.helper.info) await this.call('ping');
    const i = this.helper.info ?? {};
    return { configFile: String(i.configfile ?? ''), shareInfo: String(i.shareInfo ?? '') };
  }

  /** The registry share of that name (names compare without case), or undefined. */
  async shareGet(name: string): Promise<RegistryShare | undefined> {
    return (await this.call<RegistryShare | null>('share_get', { name })) ?? undefined;
  }

  /** Several registry shares at once (`global` is the registry's [global]); undefined for missing ones. */
  async sharesGet(names: readonly string[]): Promise<Array<RegistryShare | undefined>> {
    return (await this.call<Array<RegistryShare | null>>('shares_get', { names })).map((s) => s ?? undefined);
  }

  /** Names of the registry shares ([global] excluded). */
  shareList(): Promise<string[]> {
    return this.call<string[]>('share_list');
  }

  /** Creates the share with exactly these parameters, replacing one of that name, in one registry transaction. */
  async shareCreate(name: string, params: ReadonlyArray<readonly [string, string]>): Promise<{ replaced: boolean }> {
    return this.call('share_create', { name, params, replace: true });
  }

  /** Creates several shares, each replacing one of its name, in one registry transaction (all or none). */
  async sharesCreate(shares: readonly RegistryShare[]): Promise<{ replaced: string[] }> {
    return this.call('shares_create', { shares });
  }

  /** Sets and deletes parameters of a share in one transaction; `exists: false` (and no change) when there is no such share. */
  async shareUpdate(name: string, set: ReadonlyArray<readonly [string, string]>, del: readonly string[] = []): Promise<{ exists: boolean }> {
    return this.call('share_update', { name, set, delete: del });
  }

  /** Deletes the share and its stored security descriptor; missing ones are fine. */
  async shareDelete(name: string): Promise<{ existed: boolean; sdDeleted: boolean }> {
    return this.call('share_delete', { name, sd: true });
  }

  /** The stored security descriptor of a share as SDDL, or undefined when none is stored (Samba then uses its default). */
  async sdGet(name: string): Promise<string | undefined> {
    return (await this.call<{ sddl: string | null }>('sd_get', { name })).sddl ?? undefined;
  }

  /** Deletes the stored security descriptor of a share; true when there was one. */
  async sdDelete(name: string): Promise<boolean> {
    return (await this.call<{ deleted: boolean }>('sd_delete', { name })).deleted;
  }

  /**
   * Asks smbd to disconnect the clients of a share (what `smbcontrol smbd close-share` does: the
   * MSG_SMB_FORCE_TDIS message to the main smbd, which passes it on). `sent: false` with a
   * reason when smbd is not running.
   */
  async closeShare(name: string): Promise<{ sent: boolean; reason?: string }> {
    return this.call('close_share', { name });
  }
}
