/**
 * The state journal's line format (store.ts): `<crc32 of the JSON, 8 hex digits> <JSON>\n`, a
 * header first, then whole-set upserts, deletions and the other changes, alone or in a `batch`.
 * Decoding is total: a line yields a record or a Corrupt error.
 */
import { writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { isPendingRecord, isRetainedRecord, isSetRecord, type PendingCleanup, type RetainedSnapshot, type ShadowCopySetState } from './state.js';

export const FORMAT = 'fsrvp-state';
export const VERSION = 1;

/** One change to the persisted state. */
export type Change =
  | { readonly t: 'set'; readonly set: ShadowCopySetState }
  | { readonly t: 'del'; readonly id: string }
  | { readonly t: 'retain'; readonly r: RetainedSnapshot }
  | { readonly t: 'release'; readonly key: string }
  | { readonly t: 'pending'; readonly p: PendingCleanup }
  | { readonly t: 'done'; readonly key: string };

export type Line = Change | { readonly t: 'batch'; readonly c: readonly Change[] } | { readonly t: 'hdr'; readonly format: string; readonly v: number };

/** A line that cannot be used: dropped on its own and reported. */
export class Corrupt extends Error {}

function isChange(x: unknown): x is Change {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  switch (r.t) {
    case 'set': return isSetRecord(r.set);
    case 'del': return typeof r.id === 'string';
    case 'retain': return isRetainedRecord(r.r);
    case 'release': return typeof r.key === 'string';
    case 'pending': return isPendingRecord(r.p);
    case 'done': return typeof r.key === 'string';
    default: return false;
  }
}

export function parseLine(buf: Buffer, start: number, end: number): Line {
  if (end - start < 10 || buf[start + 8] !== 0x20) throw new Corrupt('no checksum prefix');
  const want = buf.toString('latin1', start, start + 8);
  if (!/^[0-9a-f]{8}$/.test(want)) throw new Corrupt('malformed checksum');
  const body = buf.subarray(start + 9, end);
  const got = crc32(body).toString(16).padStart(8, '0');
  if (got !== want) throw new Corrupt(`checksum mismatch (stored ${want}, computed ${got})`);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new Corrupt(`bad JSON: ${(e as Error).message}`);
  }
  const r = v as Record<string, unknown> | null;
  if (r && r.t === 'hdr') {
    if (r.format !== FORMAT) throw new Corrupt(`unknown header format ${String(r.format)}`);
    if (r.v !== VERSION) throw new Error(`state journal version ${String(r.v)} is not supported (expected ${VERSION})`);
    return r as unknown as Line;
  }
  if (r && r.t === 'batch') {
    if (!Array.isArray(r.c) || !r.c.every(isChange)) throw new Corrupt('batch with a malformed change');
    return r as unknown as Line;
  }
  if (!isChange(v)) throw new Corrupt('record of unknown type or shape');
  return v;
}

/**
 * Writes the whole of `text` at the end of the journal (opened for appending), synchronously: a
 * write into the page cache, microseconds, where an async write costs a thread-pool round trip
 * on every reply. Only the fsync that follows waits for the disk, and it stays asynchronous.
 */
export function appendSync(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
}

export function encodeLine(rec: Line): string {
  const json = JSON.stringify(rec);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

