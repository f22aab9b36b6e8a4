/**
 * Crash-safe persistence of FSRVP state: an append-only journal with periodic compaction.
 *
 * File `fsrvp-state.journal` in the state directory, one record per line:
 *   `<crc32 of the JSON, 8 hex digits> <JSON>\n`
 * The first record is a header. Each `apply()` appends exactly one line (several changes are
 * wrapped in one `batch` record, so a batch is all-or-nothing) and fsyncs it before returning,
 * unless the caller marks it not durable: then it is written (a process crash keeps it) and
 * reaches the disk with the next durable record.
 * Records are whole-set upserts and deletions, so replaying them needs no earlier record to be
 * intact: a torn or corrupt line is dropped on its own and reported, and the file is then
 * rewritten (after keeping a copy of the damaged one). Compaction writes the live records to a
 * temporary file, fsyncs it, renames it over the journal and fsyncs the directory.
 *
 * The line format is in journal-format.ts. The store knows records, not protocol: the service
 * decides what to write.
 */
import { constants as fsc } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { lockStateDir, type StateLock } from './lock.js';
import { appendSync, Corrupt, encodeLine, FORMAT, parseLine, VERSION, type Change, type Line } from './journal-format.js';
import { pendingKey, snapshotKey, type PendingCleanup, type RetainedSnapshot, type ShadowCopySetState } from './state.js';

export type { Change } from './journal-format.js';

const debug = createDebug('fsrvp:store');

export const JOURNAL_FILE = 'fsrvp-state.journal';

export interface DroppedRecord {
  /** 1-based line number in the damaged file. */
  readonly line: number;
  /** Byte offset of the line. */
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

export interface LoadReport {
  readonly path: string;
  /** Records replayed (header excluded). */
  readonly records: number;
  readonly sets: number;
  readonly retained: number;
  readonly dropped: readonly DroppedRecord[];
  /** Where the damaged journal was copied before it was rewritten. */
  readonly backupPath?: string;
  readonly loadMs: number;
}

export interface StoreOptions {
  /** fsync each append (and the directory after a rename). Default true. */
  readonly fsync?: boolean;
  /** Compact when the journal has more records than this and more than `compactRatio` × live. */
  readonly compactMinRecords?: number;
  readonly compactRatio?: number;
}

/** What a read-only look at a journal finds (see StateStore.peek). */
export interface JournalSnapshot {
  readonly sets: ShadowCopySetState[];
  readonly retained: RetainedSnapshot[];
  readonly pending: PendingCleanup[];
  readonly dropped: readonly DroppedRecord[];
}

export class StateStore {
  private readonly sets = new Map<string, ShadowCopySetState>();
  private readonly retainedMap = new Map<string, RetainedSnapshot>();
  private readonly pendingMap = new Map<string, PendingCleanup>();
  private fh: FileHandle | undefined;
  /** Records in the journal file now (header excluded). */
  private journalRecords = 0;
  /** Set after a failed append: the file may end in a torn line, so the next write rewrites it. */
  private mustRewrite = false;
  private tail: Promise<unknown> = Promise.resolve();
  private loadReport!: LoadReport;
  private closed = false;

  private lock: StateLock | undefined;
  private readOnly = false;

  private constructor(readonly dir: string, private readonly opts: Required<StoreOptions>) {}

  get path(): string {
    return join(this.dir, JOURNAL_FILE);
  }

  get report(): LoadReport {
    return this.loadReport;
  }

  /** Opens (creating if needed) the journal in `dir` and replays it. */
  static async open(dir: string, opts: StoreOptions = {}): Promise<StateStore> {
    const s = new StateStore(dir, {
      fsync: opts.fsync ?? true,
      compactMinRecords: opts.compactMinRecords ?? 1024,
      compactRatio: opts.compactRatio ?? 2,
    });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    s.lock = await lockStateDir(dir);
    try {
      await s.load();
    } catch (e) {
      await s.lock.release();
      throw e;
    }
    return s;
  }

  /**
   * Reads the journal of `dir` without taking the lock or writing anything, e.g. for operator
   * tools while the agent runs. Damaged lines are skipped and reported, not repaired.
   */
  static async peek(dir: string): Promise<JournalSnapshot> {
    const s = new StateStore(dir, { fsync: false, compactMinRecords: 1024, compactRatio: 2 });
    s.readOnly = true;
    await s.load();
    return { sets: s.loadedSets(), retained: s.loadedRetained(), pending: s.loadedPending(), dropped: s.loadReport.dropped };
  }

  /** Persisted sets as last written. */
  loadedSets(): ShadowCopySetState[] {
    return [...this.sets.values()];
  }

  loadedRetained(): RetainedSnapshot[] {
    return [...this.retainedMap.values()];
  }

  loadedPending(): PendingCleanup[] {
    return [...this.pendingMap.values()];
  }

  /** Records in the journal file (for tests and the benchmark). */
  get records(): number {
    return this.journalRecords;
  }

  /** Durably records `changes` (one line, one fsync) before resolving. */
  apply(changes: readonly Change[], opts: { durable?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`state journal ${this.path} is closed`));
    if (changes.length === 0) return Promise.resolve();
    const durable = opts.durable ?? true;
    const run = this.tail.then(() => this.applyNow(changes, durable));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Records `changes` in memory only and rewrites the whole journal on the next write. For
   * changes that already happened on disk (a snapshot deleted) when the append failed: the
   * journal heals with the next successful write, or start-up reconciliation repairs it.
   */
  applyLater(changes: readonly Change[]): void {
    this.applyToMaps(changes);
    this.mustRewrite = true;
  }

  /** Rewrites the journal with only the live records. */
  compact(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`state journal ${this.path} is closed`));
    const run = this.tail.then(() => this.rewrite());
    this.tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await this.fh?.close();
    this.fh = undefined;
    await this.lock?.release();
  }

  // -------------------------------------------------------------------------------------------

  private async load(): Promise<void> {
    const t0 = performance.now();
    let buf: Buffer | undefined;
    try {
      buf = await readFile(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const dropped: DroppedRecord[] = [];
    let records = 0;
    let sawHeader = false;
    let needRewrite = buf === undefined;
    if (buf) {
      let pos = 0;
      let line = 0;
      while (pos < buf.length) {
        line++;
        const nl = buf.indexOf(0x0a, pos);
        const end = nl < 0 ? buf.length : nl;
        try {
          if (nl < 0) throw new Corrupt('torn record (no end of line)');
          const rec = parseLine(buf, pos, end);
          if (rec.t === 'hdr') sawHeader = true;
          else {
            this.replay(rec);
            records++;
          }
        } catch (e) {
          if (!(e instanceof Corrupt)) throw e;
          dropped.push({ line, offset: pos, bytes: end - pos, reason: e.message });
        }
        pos = end + 1;
      }
      if (!sawHeader && buf.length > 0) {
        dropped.push({ line: 1, offset: 0, bytes: 0, reason: 'journal header missing' });
      }
      needRewrite = needRewrite || dropped.length > 0 || !sawHeader;
    }
    let backupPath: string | undefined;
    if (this.readOnly) {
      this.loadReport = { path: this.path, records, sets: this.sets.size, retained: this.retainedMap.size, dropped, loadMs: performance.now() - t0 };
      return;
    }
    if (buf && dropped.length > 0) {
      backupPath = `${this.path}.damaged-${Date.now()}`;
      await copyFile(this.path, backupPath, fsc.COPYFILE_EXCL);
      for (const d of dropped) {
        debug('dropped journal line %d (offset %d, %d bytes): %s', d.line, d.offset, d.bytes, d.reason);
      }
    }
    this.journalRecords = records;
    if (needRewrite || this.compactDue()) await this.rewrite();
    else this.fh = await open(this.path, 'a', 0o600);
    this.loadReport = {
      path: this.path,
      records,
      sets: this.sets.size,
      retained: this.retainedMap.size,
      dropped,
      ...(backupPath ? { backupPath } : {}),
      loadMs: performance.now() - t0,
    };
    debug('loaded %s: %d records, %d sets, %d retained, %d dropped', this.path, records, this.sets.size,
      this.retainedMap.size, dropped.length);
  }

  private replay(rec: Line): void {
    if (rec.t === 'batch') {
      for (const c of rec.c) this.replay(c);
      return;
    }
    switch (rec.t) {
      case 'set': this.sets.set(rec.set.id, rec.set); break;
      case 'del': this.sets.delete(rec.id); break;
      case 'retain': this.retainedMap.set(snapshotKey(rec.r.snapshot), rec.r); break;
      case 'release': this.retainedMap.delete(rec.key); break;
      case 'pending': this.pendingMap.set(pendingKey(rec.p), rec.p); break;
      case 'done': this.pendingMap.delete(rec.key); break;
      case 'hdr': break;
    }
  }

  /** Applies to the maps and returns how to undo it. */
  private applyToMaps(changes: readonly Change[]): () => void {
    const undo: Array<() => void> = [];
    for (const c of changes) {
      if (c.t === 'set' || c.t === 'del') {
        const id = c.t === 'set' ? c.set.id : c.id;
        const before = this.sets.get(id);
        undo.push(() => (before ? this.sets.set(id, before) : this.sets.delete(id)));
      } else if (c.t === 'retain' || c.t === 'release') {
        const key = c.t === 'retain' ? snapshotKey(c.r.snapshot) : c.key;
        const before = this.retainedMap.get(key);
        undo.push(() => (before ? this.retainedMap.set(key, before) : this.retainedMap.delete(key)));
      } else {
        const key = c.t === 'pending' ? pendingKey(c.p) : c.key;
        const before = this.pendingMap.get(key);
        undo.push(() => (before ? this.pendingMap.set(key, before) : this.pendingMap.delete(key)));
      }
      this.replay(c);
    }
    return () => undo.reverse().forEach((f) => f());
  }

  private compactDue(): boolean {
    const live = this.sets.size + this.retainedMap.size + this.pendingMap.size;
    return this.journalRecords > this.opts.compactMinRecords && this.journalRecords > this.opts.compactRatio * live;
  }

  private async applyNow(changes: readonly Change[], durable: boolean): Promise<void> {
    const undo = this.applyToMaps(changes);
    if (this.mustRewrite || !this.fh) {
      try {
        await this.rewrite();
      } catch (e) {
        undo();
        throw e;
      }
      return;
    }
    const rec: Line = changes.length === 1 ? (changes[0] as Change) : { t: 'batch', c: changes };
    try {
      appendSync(this.fh.fd, encodeLine(rec));
      // A non-durable record is in the file (a process crash keeps it) and reaches the disk
      // with the next durable record's datasync, which covers everything written before it.
      if (this.opts.fsync && durable) await this.fh.datasync();
    } catch (e) {
      undo();
      this.mustRewrite = true;
      debug('journal append failed, next write rewrites the file: %s', (e as Error).message);
      throw e;
    }
    this.journalRecords++;
    if (this.compactDue()) {
      try {
        await this.rewrite();
      } catch (e) {
        // The append itself is durable; compaction is retried on the next write.
        this.mustRewrite = true;
        debug('compaction failed: %s', (e as Error).message);
      }
    }
  }

  private async rewrite(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const parts: string[] = [encodeLine({ t: 'hdr', format: FORMAT, v: VERSION })];
    for (const set of this.sets.values()) parts.push(encodeLine({ t: 'set', set }));
    for (const r of this.retainedMap.values()) parts.push(encodeLine({ t: 'retain', r }));
    for (const p of this.pendingMap.values()) parts.push(encodeLine({ t: 'pending', p }));
    const out = await open(tmp, 'w', 0o600);
    try {
      await out.write(parts.join(''));
      if (this.opts.fsync) await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.path).catch(async (e: unknown) => {
      await rm(tmp, { force: true });
      throw e;
    });
    if (this.opts.fsync) {
      const d = await open(this.dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    }
    await this.fh?.close().catch(() => undefined);
    this.fh = await open(this.path, 'a', 0o600);
    this.journalRecords = this.sets.size + this.retainedMap.size + this.pendingMap.size;
    this.mustRewrite = false;
    debug('journal rewritten: %d live records', this.journalRecords);
  }
}
