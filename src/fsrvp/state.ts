/**
 * The FSRVP abstract data model (MS-FSRVP 3.1.1; FSRVP.md §6), in a form that is also the
 * persisted record: plain JSON values only. Sets are replaced copy-on-write by the service, so
 * an object reachable from `FsrvpState.sets` is never mutated after it was persisted.
 */
import type { SnapshotRef, Volume } from '../storage/backend.js';
import type { Share } from '../shares/types.js';

export const SET_STATUSES = ['Started', 'Added', 'CreationInProgress', 'Committed', 'Exposed', 'Recovered'] as const;
export type SetStatus = (typeof SET_STATUSES)[number];

/** MappedShare: one share of a shadow copy. */
export interface ShareMappingState {
  /** ShareName as the client gave it in AddToShadowCopySet. */
  readonly shareNameUnc: string;
  /** The configured share (canonical name and local path) at the time it was added. */
  readonly share: Share;
  /** Path of the share root relative to the volume root ('' when they coincide; '/'-separated). */
  readonly relPath: string;
  /** Exposed (snapshot) share name, bare: `share@{guid}`. Fixed at Add. */
  readonly exposedName: string;
  readonly exposed: boolean;
}

/** ShadowCopy: one snapshot of one volume, serving one or more shares of the set. */
export interface ShadowCopyState {
  readonly id: string;
  readonly volume: Volume;
  /** CreationTimestamp as a FILETIME (100 ns since 1601-01-01 UTC), in decimal. */
  readonly creationTimestamp: string;
  /** The snapshot once taken (Commit); null before. */
  readonly snapshot: SnapshotRef | null;
  readonly mappings: readonly ShareMappingState[];
}

export interface ShadowCopySetState {
  readonly id: string;
  readonly status: SetStatus;
  /** The context (CurrentContext at Start), including ATTR_AUTO_RECOVERY if requested. */
  readonly context: number;
  readonly copies: readonly ShadowCopyState[];
  /** Wall-clock ms when the set was started (diagnostics). */
  readonly startedAt: number;
}

/** A snapshot kept after its last mapping was deleted (retention configured). */
export interface RetainedSnapshot {
  readonly snapshot: SnapshotRef;
  /** The volume it is a snapshot of (reconciliation lists snapshots per volume). */
  readonly volume: Volume;
  readonly setId: string;
  readonly shadowCopyId: string;
  /** Canonical names of the shares the snapshot served. */
  readonly shares: readonly string[];
  readonly retainedAt: number;
}

/**
 * Something a cleanup step could not remove yet (a share that would not unpublish, a snapshot
 * that would not delete). Persisted and retried, so nothing is forgotten. A snapshot under a
 * pending share is kept until the share is gone: no published share points at nothing.
 */
export type PendingCleanup =
  | { readonly kind: 'share'; readonly name: string; /** snapshotKey of the snapshot it exposes. */ readonly snapshot: string | null }
  | { readonly kind: 'snapshot'; readonly snapshot: SnapshotRef; readonly volume: Volume };

export function pendingKey(p: PendingCleanup): string {
  return p.kind === 'share' ? `share\u0000${p.name.toLowerCase()}` : `snapshot\u0000${snapshotKey(p.snapshot)}`;
}

/** Global state. Sets, retained snapshots and pending cleanups persist; the context does not (SPEC 3.1.3). */
export interface FsrvpState {
  contextSet: boolean;
  currentContext: number;
  /** ShadowCopyClientAddress (strict mode's SetContext rules). */
  clientAddress: string | null;
  retryCount: number;
  readonly sets: Map<string, ShadowCopySetState>;
  readonly retained: Map<string, RetainedSnapshot>;
  readonly pending: Map<string, PendingCleanup>;
}

export function emptyState(): FsrvpState {
  return {
    contextSet: false, currentContext: 0, clientAddress: null, retryCount: 0,
    sets: new Map(), retained: new Map(), pending: new Map(),
  };
}

/** Sets in these states are "in creation": they block a new Start (Samba's sc_set_active). */
export const IN_PROGRESS: ReadonlySet<SetStatus> = new Set(['Started', 'Added', 'CreationInProgress', 'Committed']);

/** Key of a snapshot across backends. */
export function snapshotKey(s: Pick<SnapshotRef, 'backend' | 'name'>): string {
  return `${s.backend}\u0000${s.name}`;
}

/** Difference between the FILETIME epoch (1601) and the Unix epoch, in 100 ns units. */
const FILETIME_UNIX_EPOCH = 116444736000000000n;

export function filetimeFromMs(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 10000n + FILETIME_UNIX_EPOCH;
}

export function msFromFiletime(ft: bigint): number {
  return Number((ft - FILETIME_UNIX_EPOCH) / 10000n);
}

/** Every mapping of the set with its shadow copy. */
export function* mappingsOf(set: ShadowCopySetState): Generator<[ShadowCopyState, ShareMappingState]> {
  for (const c of set.copies) for (const m of c.mappings) yield [c, m];
}

// ---------------------------------------------------------------------------------------------
// Shape checks for records read back from disk: a record that does not have this shape is
// reported and dropped, never half-applied.

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
const str = (x: unknown): x is string => typeof x === 'string';
const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function isVolume(x: unknown): x is Volume {
  return isObj(x) && str(x.id) && str(x.root) && str(x.backend);
}

export function isSnapshotRef(x: unknown): x is SnapshotRef {
  return isObj(x) && str(x.backend) && str(x.volumeId) && str(x.path) && str(x.name)
    && typeof x.writable === 'boolean' && num(x.createdAt);
}

function isShare(x: unknown): x is Share {
  return isObj(x) && str(x.name) && str(x.path) && (x.backend === undefined || str(x.backend));
}

function isMapping(x: unknown): x is ShareMappingState {
  return isObj(x) && str(x.shareNameUnc) && isShare(x.share) && str(x.relPath) && str(x.exposedName)
    && typeof x.exposed === 'boolean';
}

function isCopy(x: unknown): x is ShadowCopyState {
  return isObj(x) && str(x.id) && isVolume(x.volume) && str(x.creationTimestamp) && /^\d+$/.test(x.creationTimestamp)
    && (x.snapshot === null || isSnapshotRef(x.snapshot)) && Array.isArray(x.mappings) && x.mappings.every(isMapping);
}

export function isSetRecord(x: unknown): x is ShadowCopySetState {
  return isObj(x) && str(x.id) && str(x.status) && (SET_STATUSES as readonly string[]).includes(x.status)
    && num(x.context) && num(x.startedAt) && Array.isArray(x.copies) && x.copies.every(isCopy);
}

export function isRetainedRecord(x: unknown): x is RetainedSnapshot {
  return isObj(x) && isSnapshotRef(x.snapshot) && isVolume(x.volume) && str(x.setId) && str(x.shadowCopyId)
    && Array.isArray(x.shares) && x.shares.every(str) && num(x.retainedAt);
}

export function isPendingRecord(x: unknown): x is PendingCleanup {
  if (!isObj(x)) return false;
  if (x.kind === 'share') return str(x.name) && (x.snapshot === null || str(x.snapshot));
  return x.kind === 'snapshot' && isSnapshotRef(x.snapshot) && isVolume(x.volume);
}
