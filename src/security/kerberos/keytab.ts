/**
 * MIT keytab files (versions 0x0501 and 0x0502), as `samba-tool domain exportkeytab`, `net ads
 * keytab` and ktutil write them. The decoder is total: any byte string gives a Keytab or a
 * KeytabError naming the offset; every length is checked against the record and the file, so
 * memory stays bounded by the input.
 *
 * Layout: a 2-byte version, then records of int32 size + entry (a negative size is a hole of
 * -size bytes left by a deleted entry; zero ends the file). An entry: uint16 component count
 * (version 1 counts the realm too), realm and components as uint16-length strings, uint32 name
 * type (version 2 only), uint32 timestamp, uint8 kvno, uint16 enctype, uint16-length key, then an
 * optional uint32 kvno that replaces the 8-bit one when present and non-zero. Version 2 is
 * big-endian; version 1 used the writer's byte order, taken here as little-endian (x86).
 */
import { KeytabError } from './errors.js';

export interface KeytabPrincipal {
  readonly components: readonly string[];
  readonly realm: string;
  /** KRB5_NT_* (1 = principal, 2 = srv-inst, 3 = srv-hst); version 1 files carry none (1 is assumed). */
  readonly nameType: number;
}

export interface KeytabEntry {
  readonly principal: KeytabPrincipal;
  /** Seconds since 1970 when the key was written. */
  readonly timestamp: number;
  readonly kvno: number;
  readonly etype: number;
  readonly key: Uint8Array;
}

export interface Keytab {
  readonly version: 1 | 2;
  readonly entries: readonly KeytabEntry[];
}

class Reader {
  constructor(private readonly view: DataView, public off: number, private readonly end: number, private readonly le: boolean) {}
  private need(n: number, what: string): void {
    if (this.off + n > this.end) throw new KeytabError(this.off, `${what}: ${n} bytes needed, ${this.end - this.off} left in the entry`);
  }
  left(): number { return this.end - this.off; }
  u8(what: string): number { this.need(1, what); return this.view.getUint8(this.off++); }
  u16(what: string): number { this.need(2, what); const v = this.view.getUint16(this.off, this.le); this.off += 2; return v; }
  u32(what: string): number { this.need(4, what); const v = this.view.getUint32(this.off, this.le); this.off += 4; return v; }
  octets(what: string): Uint8Array {
    const n = this.u16(`${what} length`);
    this.need(n, what);
    const b = new Uint8Array(this.view.buffer, this.view.byteOffset + this.off, n).slice();
    this.off += n;
    return b;
  }
  text(what: string): string { return Buffer.from(this.octets(what)).toString('utf8'); }
}

export function parseKeytab(data: Uint8Array): Keytab {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 2) throw new KeytabError(0, `a keytab starts with 2 version bytes; the file has ${data.length}`);
  if (data[0] !== 5 || (data[1] !== 1 && data[1] !== 2)) throw new KeytabError(0, `unknown keytab version 0x${Buffer.from(data.subarray(0, 2)).toString('hex')}`);
  const version = data[1] as 1 | 2;
  const le = version === 1;
  const entries: KeytabEntry[] = [];
  let off = 2;
  while (off < data.length) {
    if (data.length - off < 4) throw new KeytabError(off, `${data.length - off} stray bytes where a record size belongs`);
    const size = view.getInt32(off, le);
    off += 4;
    if (size === 0) break;
    const len = Math.abs(size);
    if (len > data.length - off) throw new KeytabError(off - 4, `record of ${len} bytes, ${data.length - off} left in the file`);
    if (size > 0) entries.push(readEntry(new Reader(view, off, off + len, le), version));
    off += len;
  }
  return { version, entries };
}

function readEntry(r: Reader, version: 1 | 2): KeytabEntry {
  let count = r.u16('component count');
  if (version === 1) {
    if (count === 0) throw new KeytabError(r.off - 2, 'a version 1 component count of 0 (it includes the realm)');
    count -= 1;
  }
  const realm = r.text('realm');
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(r.text(`component ${i}`));
  const nameType = version === 2 ? r.u32('name type') : 1;
  const timestamp = r.u32('timestamp');
  let kvno = r.u8('kvno');
  const etype = r.u16('enctype');
  const key = r.octets('key');
  if (r.left() >= 4) {
    const kvno32 = r.u32('32-bit kvno');
    if (kvno32 !== 0) kvno = kvno32;
  }
  return { principal: { components, realm, nameType }, timestamp, kvno, etype, key };
}

export interface KeytabQuery {
  readonly components: readonly string[];
  readonly realm: string;
  /** Omitted: the highest kvno present for the principal and etype. */
  readonly kvno?: number;
  readonly etype: number;
}

const samePrincipal = (p: KeytabPrincipal, q: KeytabQuery): boolean =>
  p.realm === q.realm && p.components.length === q.components.length && p.components.every((c, i) => c === q.components[i]);

/**
 * The entry for a principal (exact components, exact realm), etype and kvno; undefined when none.
 * A kvno above 255 also matches an entry with the low 8 bits of it and no 32-bit kvno, as older
 * writers left it.
 */
export function findKeytabEntry(keytab: Keytab, q: KeytabQuery): KeytabEntry | undefined {
  let best: KeytabEntry | undefined;
  let low8: KeytabEntry | undefined;
  for (const e of keytab.entries) {
    if (e.etype !== q.etype || !samePrincipal(e.principal, q)) continue;
    if (q.kvno !== undefined) {
      if (e.kvno === q.kvno) return e;
      if (q.kvno > 0xff && e.kvno === (q.kvno & 0xff)) low8 ??= e;
    } else if (best === undefined || e.kvno > best.kvno) {
      best = e;
    }
  }
  return q.kvno !== undefined ? low8 : best;
}
