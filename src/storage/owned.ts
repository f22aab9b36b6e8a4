/**
 * Which snapshots with shadow_copy2-style names this agent made: a small state file (JSON,
 * replaced atomically), because such names (`@GMT-…`) say nothing about who made them and a
 * share may hold snapshots of Samba's own FSRVP server, snapper or an admin. `list()` reports,
 * and reconciliation deletes, only snapshots recorded here.
 *
 * Order: the intent (path) is persisted before the snapshot is made, the subvolume UUID after.
 * A crash in between leaves an intent whose snapshot exists: it is ours (its name was free
 * when the intent was written, and a failed create drops the intent), and listing upgrades it.
 * An entry with a UUID matches only that subvolume, so a stale entry never claims a snapshot
 * someone else made later under the same name.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../sys/atomic.js';
import { unlessMissing } from '../sys/enoent.js';

/** Its name in the agent's state directory. */
export const OWNED_FILE = 'btrfs-owned-snapshots.json';

export interface OwnedEntry {
  readonly path: string;
  readonly volumeId: string;
  /** The SnapshotRef name (unique: the directory name plus the shadow copy id). */
  readonly name: string;
  /** Creation time the directory name shows, ms since the epoch. */
  readonly createdAt: number;
  /** btrfs subvolume UUID; undefined while only the intent is recorded. */
  readonly uuid?: string;
}

export class OwnedLedgerError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'OwnedLedgerError';
  }
}

/** Decodes the ledger file; total (OwnedLedgerError for anything but the expected shape). */
export function decodeLedger(file: string, text: string): OwnedEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new OwnedLedgerError(file, `not JSON: ${(e as Error).message}`);
  }
  const entries = (v as { entries?: unknown } | null)?.entries;
  if (typeof v !== 'object' || v === null || (v as { version?: unknown }).version !== 1 || !Array.isArray(entries)) {
    throw new OwnedLedgerError(file, 'expected {"version":1,"entries":[…]}');
  }
  return entries.map((e: unknown, i) => {
    const o = e as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o.path !== 'string' || typeof o.volumeId !== 'string' ||
      typeof o.name !== 'string' || typeof o.createdAt !== 'number' || !Number.isFinite(o.createdAt) ||
      (o.uuid !== undefined && typeof o.uuid !== 'string')) {
      throw new OwnedLedgerError(file, `entry ${i} is malformed`);
    }
    return { path: o.path, volumeId: o.volumeId, name: o.name, createdAt: o.createdAt, ...(typeof o.uuid === 'string' ? { uuid: o.uuid } : {}) };
  });
}

export class OwnedSnapshots {
  /** Updates waiting for the next write; all of them go into one file replacement (group commit). */
  private waiting: Array<{ readonly fn: (m: Map<string, OwnedEntry>) => boolean; resolve(): void; reject(e: unknown): void }> = [];
  private writing: Promise<void> | undefined;

  constructor(readonly file: string) {}

  private async load(): Promise<Map<string, OwnedEntry>> {
    const text = await unlessMissing(readFile(this.file, 'utf8'));
    return new Map((text === undefined ? [] : decodeLedger(this.file, text)).map((e) => [e.path, e]));
  }

  /**
   * Read-modify-write, one write at a time in this process; the file is re-read each time (another
   * process may have changed it). Updates that arrive while a write is under way (the volumes of
   * one Commit) are applied together by the next one: one atomic replacement for all of them, each
   * resolving only once its change is on disk.
   */
  private update(fn: (m: Map<string, OwnedEntry>) => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ fn, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    await Promise.resolve();
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
      try {
        const m = await this.load();
        let changed = false;
        for (const u of batch) changed = u.fn(m) || changed;
        if (changed) await writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: [...m.values()] }, null, 1) + '\n', 0o600);
        for (const u of batch) u.resolve();
      } catch (e) {
        for (const u of batch) u.reject(e);
      }
    }
    this.writing = undefined;
  }

  /** Resolves when no update is waiting or being written. */
  private async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Persists the intent to make a snapshot at `entry.path` (without uuid), or records its UUID once made. */
  record(entry: OwnedEntry): Promise<void> {
    return this.update((m) => {
      m.set(entry.path, entry);
      return true;
    });
  }

  /** Forgets `path` (deleted, or never made). */
  forget(path: string): Promise<void> {
    return this.update((m) => m.delete(path));
  }

  async entries(): Promise<OwnedEntry[]> {
    await this.settled();
    return [...(await this.load()).values()];
  }

  async get(path: string): Promise<OwnedEntry | undefined> {
    await this.settled();
    return (await this.load()).get(path);
  }
}
