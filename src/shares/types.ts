/** Shares: the registry that maps share names to local paths, and publishers of snapshot shares. */

export interface Share {
  /** Canonical share name as configured (case preserved). */
  readonly name: string;
  /** Absolute local path. */
  readonly path: string;
  /** Backend override from configuration ('btrfs', 'copy', …); auto-detected when absent. */
  readonly backend?: string;
}

/** Looks up shares by name, case-insensitively. Never resolves hosts or touches the network. */
export interface ShareRegistry {
  lookup(name: string): Promise<Share | undefined>;
  list(): Promise<Share[]>;
}

/** A snapshot share to publish: `base` is the share it is a copy of. */
export interface PublishRequest {
  /** Exposed share name, e.g. `data@{guid}`. */
  readonly name: string;
  /** Path inside the snapshot that corresponds to the base share's root. */
  readonly path: string;
  readonly base: Share;
  readonly readOnly: boolean;
  /** Human-readable comment, e.g. "Shadow copy of data taken 2026-11-26T08:00:00Z". */
  readonly comment: string;
}

export interface SharePublisher {
  readonly name: string;
  publish(req: PublishRequest): Promise<void>;
  /** Publishes several shares at once, all or none: on failure none of them is left published. Optional. */
  publishMany?(reqs: readonly PublishRequest[]): Promise<void>;
  /** Makes a published share read-only (RecoveryComplete). Idempotent. */
  setReadOnly(name: string): Promise<void>;
  /** Removes a published share; a missing share is not an error. */
  unpublish(name: string): Promise<void>;
  /** Names of the snapshot shares this publisher has published (for reconciliation). */
  list(): Promise<string[]>;
  /** Waits for background work (queued disconnects) and releases helper processes; optional. */
  close?(): Promise<void>;
}
