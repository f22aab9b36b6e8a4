/**
 * Snapshot backends: what the FSRVP service needs from a snapshot system. One backend instance
 * serves many shares; the service picks one per share (auto-detected, overridable).
 */
import type { SharePolicy, WalkProgress } from './policy.js';

/** The file store ("volume" in MS-FSRVP) a share lives on. One snapshot per volume per set. */
export interface Volume {
  /** Stable identity of the file store: shares with the same id are snapshotted together. */
  readonly id: string;
  /** Absolute path of the volume root (btrfs subvolume root, or the share root for copies). */
  readonly root: string;
  /** Backend name that owns this volume. */
  readonly backend: string;
}

/** A snapshot that exists (or existed) on disk. Persisted in the state journal. */
export interface SnapshotRef {
  readonly backend: string;
  readonly volumeId: string;
  /** Absolute path of the snapshot's root (corresponds to the volume root). */
  readonly path: string;
  /** Unique name of the snapshot; never collides, even within one second. */
  readonly name: string;
  readonly writable: boolean;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
}

/** Why a path cannot be shadow-copied; `path` is the offending path and `reason` says why. */
export interface Refusal {
  readonly path: string;
  readonly reason: string;
}

export interface CreateOptions {
  /** The shadow copy id (GUID text); backends embed it in the snapshot name. */
  readonly shadowCopyId: string;
  /** Create read-write (ATTR_AUTO_RECOVERY) or read-only. */
  readonly writable: boolean;
  /** Aborts a long-running create (client timeout); the backend removes what it made. */
  readonly signal?: AbortSignal;
  /** Progress for long work (copies), called now and then. */
  readonly progress?: (done: number, total: number | undefined) => void;
}

/** How to check one share's directory structure (policy.ts). */
export interface CheckOptions {
  /** The share's configured policy; absent: the backend's default. */
  readonly policy?: SharePolicy;
  /** Progress of a long walk. */
  readonly progress?: (p: WalkProgress) => void;
  /** The share's name (its settings are read again when a cached read does not know it). */
  readonly shareName?: string;
}

export interface SnapshotBackend {
  readonly name: string;
  /** Whether this backend can serve `path` at all (filesystem type, tools present). */
  supports(path: string): Promise<boolean>;
  /** The volume that holds the share at `sharePath`. */
  volumeOf(sharePath: string): Promise<Volume>;
  /** Checks the directory-structure policy below the share root; undefined when acceptable. */
  check(sharePath: string, options?: CheckOptions): Promise<Refusal | undefined>;
  /** Takes the snapshot of a volume. Must leave nothing behind if it fails or is aborted. */
  create(volume: Volume, opts: CreateOptions): Promise<SnapshotRef>;
  /** Makes a writable snapshot read-only (RecoveryComplete). Idempotent. */
  setReadOnly(snap: SnapshotRef): Promise<void>;
  /** Deletes a snapshot. Idempotent: a missing snapshot is not an error. */
  delete(snap: SnapshotRef): Promise<void>;
  /** Snapshots this backend made that exist on disk now (for reconciliation at start-up). */
  list(volume: Volume): Promise<SnapshotRef[]>;
  /** Releases what the backend holds (helper processes); optional. */
  close?(): Promise<void>;
}
