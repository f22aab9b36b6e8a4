/**
 * The agent's recorder (`fsrvpd --record DIR`, config `record`): every accepted connection is
 * written as a capture file (src/replay/capture.ts format, one file per connection, replayable
 * with fsrvp-replay) while it runs. Writing is asynchronous and bounded: at most `maxQueuedBytes`
 * wait in memory per connection, a file stops at `maxFileBytes`, all files together at
 * `maxTotalBytes` (later records are dropped and counted). A disk error disables recording for
 * the whole agent with one log line; it never touches the connection. Files are created 0600 in
 * a 0700 directory: recordings hold whatever the PDUs carry (authentication tokens too).
 */
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { PduAnnotator } from './annotate.js';

const log = createDebug('fsrvp:recorder');

export interface RecorderOptions {
  readonly dir: string;
  /** Default 64 MiB. */
  readonly maxFileBytes?: number;
  /** Default 1 GiB. */
  readonly maxTotalBytes?: number;
  /** Default 4 MiB. */
  readonly maxQueuedBytes?: number;
  /** Where the one-line notices go (default stderr). */
  readonly notice?: (line: string) => void;
}

export interface RecordedConnection {
  readonly connectionId: number;
  /** `tcp` or `np` (the Samba named-pipe socket); becomes the records' fid. */
  readonly transport: 'tcp' | 'np';
  readonly pipe?: string;
}

/** The PDU observer of one connection (structurally a transport PduTap). */
export interface RecorderTap {
  pdu(dir: 'c2s' | 's2c', bytes: Uint8Array): void;
  close(): void;
}

export interface RecorderStats {
  files: number;
  records: number;
  droppedRecords: number;
  bytes: number;
}

let fileSeq = 0;

export class Recorder {
  readonly stats: RecorderStats = { files: 0, records: 0, droppedRecords: 0, bytes: 0 };
  private disabledReason: string | undefined;
  private readonly writers = new Set<ConnectionWriter>();
  private readonly notice: (line: string) => void;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly maxQueuedBytes: number;
  /** Bytes accepted for writing (queued or written), against maxTotalBytes. */
  committed = 0;

  /** Creates the directory (0700); throws if that fails (a configuration error at start-up). */
  constructor(readonly opts: RecorderOptions) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.maxFileBytes = opts.maxFileBytes ?? 64 << 20;
    this.maxTotalBytes = opts.maxTotalBytes ?? 1 << 30;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 4 << 20;
    this.notice = opts.notice ?? ((l) => console.error(l));
  }

  get disabled(): string | undefined {
    return this.disabledReason;
  }

  /** Stops recording for good (a disk error); open files are closed. */
  disable(reason: string): void {
    if (this.disabledReason !== undefined) return;
    this.disabledReason = reason;
    this.notice(`fsrvpd: recording disabled: ${reason}`);
    for (const w of this.writers) w.abandon();
  }

  /** A tap for a new connection, or undefined when recording is off. */
  open(c: RecordedConnection): RecorderTap | undefined {
    if (this.disabledReason !== undefined) return undefined;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = join(this.opts.dir, `${stamp}-${c.transport}-${c.connectionId}-${fileSeq++}.jsonl`);
    const w = new ConnectionWriter(this, file, new PduAnnotator(c.connectionId, c.transport, true, c.pipe));
    this.writers.add(w);
    this.stats.files++;
    return w;
  }

  /** @internal */
  forget(w: ConnectionWriter): void {
    this.writers.delete(w);
  }

  /** Waits until every open connection's queued records are on disk (files stay open). */
  async flush(): Promise<void> {
    await Promise.all([...this.writers].map((w) => w.idle()));
  }

  /** Closes every file after writing what is queued. */
  async close(): Promise<void> {
    await Promise.all([...this.writers].map((w) => w.finish()));
  }
}

class ConnectionWriter implements RecorderTap {
  private handle: FileHandle | undefined;
  private queue: string[] = [];
  private queued = 0;
  private written = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  private full = false;
  private readonly start = process.hrtime.bigint();

  constructor(private readonly rec: Recorder, readonly file: string, private readonly annotator: PduAnnotator) {}

  pdu(dir: 'c2s' | 's2c', bytes: Uint8Array): void {
    if (this.closed || this.rec.disabled !== undefined) return;
    const t = Number(process.hrtime.bigint() - this.start) / 1e9;
    const line = `${JSON.stringify(this.annotator.record(dir, bytes, t))}\n`;
    const size = Buffer.byteLength(line);
    if (this.queued + size > this.rec.maxQueuedBytes || this.written + this.queued + size > this.rec.maxFileBytes ||
      this.rec.committed + size > this.rec.maxTotalBytes) {
      this.rec.stats.droppedRecords++;
      if (!this.full) {
        this.full = true;
        log('%s: limit reached, later records dropped', this.file);
      }
      return;
    }
    this.rec.committed += size;
    this.queue.push(line);
    this.queued += size;
    this.rec.stats.records++;
    this.kick();
  }

  private kick(): void {
    if (this.running) return;
    // The promise is stored before `finally` can clear it (its callback always runs later).
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && this.rec.disabled === undefined) this.kick();
    });
  }

  close(): void {
    void this.finish();
  }

  /** Resolves when nothing is queued. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async finish(): Promise<void> {
    this.closed = true;
    await this.idle();
    await this.closeHandle();
    this.rec.forget(this);
  }

  /** Recording was disabled: drop what waits, close the file. */
  abandon(): void {
    this.closed = true;
    this.queue = [];
    this.queued = 0;
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.close().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    try {
      await Promise.resolve();
      while (this.queue.length > 0 && this.rec.disabled === undefined) {
        const text = this.queue.join('');
        this.queue = [];
        this.queued = 0;
        // Created on the first record, never over an existing file.
        this.handle ??= await open(this.file, 'wx', 0o600);
        await this.handle.write(text);
        const n = Buffer.byteLength(text);
        this.written += n;
        this.rec.stats.bytes += n;
      }
    } catch (e) {
      this.rec.disable(`${this.file}: ${e instanceof Error ? e.message : String(e)}`);
      await this.closeHandle();
    }
  }
}
