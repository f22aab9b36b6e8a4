/**
 * Service configuration, and the table of places where the Samba-compatible default and the
 * `strict` (MS-FSRVP as written) mode answer differently (FSRVP.md §5.1, §7, §10).
 */
import type { SnapshotBackend } from '../storage/backend.js';
import type { PolicyCacheOptions } from '../storage/policy-cache.js';
import type { SharePolicy } from '../storage/policy.js';
import type { Share, SharePublisher, ShareRegistry } from '../shares/types.js';
import type { CallerIdentity } from '../dcerpc/interface.js';
import type { AuthzPolicy } from './authz.js';
import type { Scheduler } from './timer.js';
import { HRESULT } from './codes.js';

export type FsrvpMode = 'samba' | 'strict';

/** Things worth telling an operator about, besides the debug log. */
export type FsrvpEvent =
  | { readonly kind: 'denied'; readonly op: string; readonly reason: string; readonly caller: CallerIdentity }
  | { readonly kind: 'expired'; readonly setIds: readonly string[] }
  /** Long work under way (a copy-backend snapshot): entries done of total, every few seconds. */
  | { readonly kind: 'progress'; readonly what: string; readonly done: number; readonly total: number | undefined }
  /** A share that cannot be shadow-copied (directory policy, filesystem, backend), and why. */
  | { readonly kind: 'refused'; readonly share: string; readonly reason: string }
  | { readonly kind: 'cleanup-failed'; readonly what: string; readonly reason: string };

export interface FsrvpConfig {
  /** `samba` (default): what Samba's clients and smbtorture expect. `strict`: MS-FSRVP as written. */
  readonly mode?: FsrvpMode;
  /** Directory of the state journal (created 0700 if missing). */
  readonly stateDir: string;
  /** This server's NetBIOS name; used in ShareNameUNC and as the default OwnerMachineName. */
  readonly netbiosName: string;
  /** IsPathSupported's OwnerMachineName (default: netbiosName). Never taken from a request. */
  readonly ownerMachineName?: string;
  /** Further names the UNC host may be: aliases, FQDNs, local IPs. Loopback is always accepted. */
  readonly localNames?: readonly string[];
  /** Accept any UNC host, as Samba does (no lookups are made either way). Default false. */
  readonly acceptAnyHost?: boolean;
  readonly authz?: AuthzPolicy;
  /** Samba's `fss: sequence timeout` in seconds: replaces 180/1800 s; 0 disables the timer. */
  readonly sequenceTimeoutSeconds?: number;
  /** Keep snapshots when their last mapping is deleted (recorded as retained). Default false. */
  readonly retainSnapshots?: boolean;
  /**
   * A second, different share on a volume already in the set: `join` maps it to the existing
   * shadow copy (one snapshot serves both), `reject` answers FSRVP_E_OBJECT_ALREADY_EXISTS as
   * SPEC and Samba do. Default: `join` in samba mode, `reject` in strict mode. Adding the same
   * share twice is always FSRVP_E_OBJECT_ALREADY_EXISTS.
   */
  readonly sameVolume?: 'join' | 'reject';
  /** Strict mode's SetContext retry limit (SPEC <5>: 5 on Windows Server 2012 R2+). */
  readonly setContextRetryLimit?: number;
  /** How long a timed-out Commit/Expose waits for aborted work to wind down. Default 30 s. */
  readonly abortGraceMs?: number;
  /** fsync the state journal (default true; tests on tmpfs may turn it off). */
  readonly fsync?: boolean;
  /** Journal compaction threshold (records). Default 1024. */
  readonly compactMinRecords?: number;
  /** Remembered directory-structure checks (storage/policy-cache.ts): size and recent-result age. */
  readonly policyCache?: Pick<PolicyCacheOptions, 'maxEntries' | 'recentMs'>;
}

export interface FsrvpDeps {
  readonly registry: ShareRegistry;
  readonly publisher: SharePublisher;
  /** Candidate backends in preference order; a share's `backend` override picks one by name. */
  readonly backends: readonly SnapshotBackend[];
  /** Clock for the sequence timer and client timeouts (default: Node timers). */
  readonly scheduler?: Scheduler;
  /** Wall clock in ms (default Date.now). */
  readonly now?: () => number;
  /** Server-side GUIDs (default crypto.randomUUID). */
  readonly newGuid?: () => string;
  readonly onEvent?: (e: FsrvpEvent) => void;
  /** A share's directory-structure policy (profile, limits); undefined: the backend's default. */
  readonly policyFor?: (share: Share) => SharePolicy | undefined;
}

export type FsrvpServiceOptions = FsrvpConfig & FsrvpDeps;

/** The answers that depend on the mode. */
export interface ModePolicy {
  readonly mode: FsrvpMode;
  /** Add/Commit/Expose/RecoveryComplete/Abort/GetShareMapping/Prepare with an unknown set. */
  readonly setNotFound: number;
  /** DeleteShareMapping: unknown shadow copy / mapping (the unknown set is OBJECT_NOT_FOUND in both). */
  readonly deleteItemNotFound: number;
  /** Add/IsPathSupported/IsPathShadowCopied: share not found, or a foreign host. */
  readonly shareNotFound: number;
  /** SetContext with an invalid context. */
  readonly badContext: number;
  /** GetShareMapping before Expose. */
  readonly notExposed: number;
  /** Exposed name `$` rule. */
  readonly dollarRule: 'share' | 'unc';
}

export const SAMBA_POLICY: ModePolicy = {
  mode: 'samba',
  setNotFound: HRESULT.E_INVALIDARG,
  deleteItemNotFound: HRESULT.E_INVALIDARG,
  shareNotFound: HRESULT.E_INVALIDARG,
  badContext: HRESULT.E_INVALIDARG,
  notExposed: HRESULT.VSS_E_INVALID_XML_DOCUMENT,
  dollarRule: 'share',
};

export const STRICT_POLICY: ModePolicy = {
  mode: 'strict',
  setNotFound: HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
  deleteItemNotFound: HRESULT.FSRVP_E_OBJECT_NOT_FOUND,
  shareNotFound: HRESULT.FSRVP_E_OBJECT_NOT_FOUND,
  badContext: HRESULT.FSRVP_E_UNSUPPORTED_CONTEXT,
  notExposed: HRESULT.FSRVP_E_BAD_STATE,
  dollarRule: 'unc',
};

/** Configuration with every default filled in. */
export interface ResolvedConfig {
  readonly policy: ModePolicy;
  readonly stateDir: string;
  readonly netbiosName: string;
  readonly ownerMachineName: string;
  readonly localNames: readonly string[];
  readonly acceptAnyHost: boolean;
  readonly authz: AuthzPolicy;
  readonly sequenceTimeoutSeconds: number | undefined;
  readonly retainSnapshots: boolean;
  readonly sameVolume: 'join' | 'reject';
  readonly setContextRetryLimit: number;
  readonly abortGraceMs: number;
  readonly fsync: boolean;
  readonly compactMinRecords: number;
  readonly policyCache: Pick<PolicyCacheOptions, 'maxEntries' | 'recentMs'>;
}

export function resolveConfig(c: FsrvpConfig): ResolvedConfig {
  const mode = c.mode ?? 'samba';
  if (mode !== 'samba' && mode !== 'strict') throw new Error(`unknown FSRVP mode ${String(mode)}`);
  if (!c.netbiosName) throw new Error('netbiosName is required');
  if (c.sequenceTimeoutSeconds !== undefined && !(c.sequenceTimeoutSeconds >= 0)) {
    throw new Error('sequenceTimeoutSeconds must be >= 0');
  }
  return {
    policy: mode === 'strict' ? STRICT_POLICY : SAMBA_POLICY,
    stateDir: c.stateDir,
    netbiosName: c.netbiosName,
    ownerMachineName: c.ownerMachineName ?? c.netbiosName,
    localNames: c.localNames ?? [],
    acceptAnyHost: c.acceptAnyHost ?? false,
    authz: c.authz ?? {},
    sequenceTimeoutSeconds: c.sequenceTimeoutSeconds,
    retainSnapshots: c.retainSnapshots ?? false,
    sameVolume: c.sameVolume ?? (mode === 'strict' ? 'reject' : 'join'),
    setContextRetryLimit: c.setContextRetryLimit ?? 5,
    abortGraceMs: c.abortGraceMs ?? 30_000,
    fsync: c.fsync ?? true,
    compactMinRecords: c.compactMinRecords ?? 1024,
    policyCache: c.policyCache ?? {},
  };
}
