/**
 * MIT credential caches, FILE: type, format versions 3 and 4 (0x0503, 0x0504: what `kinit`
 * writes), read and written. The decoder is total: any bytes give a Ccache or a CcacheError with
 * the offset; every length and count is checked against the bytes left, so memory stays bounded
 * by the input. Versions 1 and 2 (host byte order, 1990s) are refused by name.
 *
 * Layout (big-endian): u16 version; v4 only: u16 header length and tagged fields (tag 1 = the
 * KDC clock offset, s32 seconds + s32 microseconds); the default principal; then credentials to
 * the end of the file. A principal: u32 name type, u32 component count, the realm, the
 * components (each a u32-length octet string). A credential: client, server, keyblock (u16
 * enctype, v3: u16 again, u32-length key), u32 authtime / starttime / endtime / renew-till,
 * u8 is-skey, u32 ticket flags (bit 0 of RFC 4120 in the top bit), u32 count of addresses
 * (u16 type + data), u32 count of authdata (u16 type + data), the ticket and the second ticket.
 * Entries whose server realm is "X-CACHECONF:" are configuration (krb5_ccache_conf_data), not
 * tickets.
 *
 * Which file a cache name (KRB5CCNAME, --krb5-ccache) means: ccache-name.ts (FILE: and DIR:).
 */
import { readFile } from 'node:fs/promises';

export interface CcachePrincipal {
  readonly nameType: number;
  readonly realm: string;
  readonly components: readonly string[];
}

export interface CcacheCredential {
  readonly client: CcachePrincipal;
  readonly server: CcachePrincipal;
  readonly key: { readonly etype: number; readonly key: Uint8Array };
  /** Seconds since 1970 (0 = absent, as in the file). */
  readonly authtime: number;
  readonly starttime: number;
  readonly endtime: number;
  readonly renewTill: number;
  readonly isSkey: boolean;
  /** TicketFlags as a u32, RFC 4120 bit 0 the most significant. */
  readonly ticketFlags: number;
  readonly addresses: readonly { readonly type: number; readonly data: Uint8Array }[];
  readonly authdata: readonly { readonly type: number; readonly data: Uint8Array }[];
  /** The Ticket, DER, as the KDC issued it. */
  readonly ticket: Uint8Array;
  readonly secondTicket: Uint8Array;
}

export interface Ccache {
  readonly version: 3 | 4;
  /** The KDC's clock minus ours (v4 header tag 1), when kinit recorded one. */
  readonly kdcOffset?: { readonly seconds: number; readonly microseconds: number };
  readonly principal: CcachePrincipal;
  readonly credentials: readonly CcacheCredential[];
}

/** A credential cache that does not decode (or cannot be found): where and why. */
export class CcacheError extends Error {
  override readonly name = 'CcacheError';
  constructor(readonly offset: number, readonly reason: string) {
    super(offset >= 0 ? `credential cache at offset ${offset}: ${reason}` : `credential cache: ${reason}`);
  }
}

const MAX_COMPONENTS = 64;
export const MAX_CREDENTIALS = 4096;
export const CONF_REALM = 'X-CACHECONF:';

class Reader {
  off = 0;
  private readonly view: DataView;
  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  left(): number {
    return this.data.length - this.off;
  }
  private need(n: number, what: string): void {
    if (n > this.left()) throw new CcacheError(this.off, `${what}: ${n} bytes needed, ${this.left()} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.off++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }
  s32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.data.slice(this.off, this.off + n);
    this.off += n;
    return b;
  }
  /** A u32-length octet string. */
  counted(what: string): Uint8Array {
    const at = this.off;
    const n = this.u32(`${what} length`);
    if (n > this.left()) throw new CcacheError(at, `${what} of ${n} bytes, ${this.left()} left`);
    return this.bytes(n, what);
  }
  text(what: string): string {
    return Buffer.from(this.counted(what)).toString('utf8');
  }
  /** A count of elements of at least `min` bytes each: refused when the rest cannot hold them. */
  count(what: string, min: number, max: number): number {
    const at = this.off;
    const n = this.u32(what);
    if (n > max || n * min > this.left()) throw new CcacheError(at, `${what} ${n}: more than ${Math.min(max, Math.floor(this.left() / min))} fit`);
    return n;
  }
}

function readPrincipal(r: Reader, what: string): CcachePrincipal {
  const nameType = r.u32(`${what} name type`);
  const n = r.count(`${what} component count`, 4, MAX_COMPONENTS);
  const realm = r.text(`${what} realm`);
  const components: string[] = [];
  for (let i = 0; i < n; i++) components.push(r.text(`${what} component ${i}`));
  return { nameType, realm, components };
}

function readTagged(r: Reader, what: string): Array<{ type: number; data: Uint8Array }> {
  const n = r.count(`${what} count`, 6, 1024);
  const out: Array<{ type: number; data: Uint8Array }> = [];
  for (let i = 0; i < n; i++) {
    const type = r.u16(`${what} ${i} type`);
    out.push({ type, data: r.counted(`${what} ${i}`) });
  }
  return out;
}

function readCredential(r: Reader, version: 3 | 4): CcacheCredential {
  const client = readPrincipal(r, 'client');
  const server = readPrincipal(r, 'server');
  const etype = r.u16('key enctype');
  if (version === 3) r.u16('key enctype (repeated)');
  const key = r.counted('key');
  const authtime = r.u32('authtime');
  const starttime = r.u32('starttime');
  const endtime = r.u32('endtime');
  const renewTill = r.u32('renew-till');
  const skey = r.u8('is-skey');
  if (skey > 1) throw new CcacheError(r.off - 1, `is-skey ${skey}`);
  const ticketFlags = r.u32('ticket flags');
  const addresses = readTagged(r, 'address');
  const authdata = readTagged(r, 'authdata');
  const ticket = r.counted('ticket');
  const secondTicket = r.counted('second ticket');
  return {
    client, server, key: { etype, key }, authtime, starttime, endtime, renewTill, isSkey: skey === 1, ticketFlags,
    addresses, authdata, ticket, secondTicket,
  };
}

/** Decodes exactly one principal as the v4 FILE format (and KCM) marshals it. Throws only CcacheError. */
export function parsePrincipal(data: Uint8Array): CcachePrincipal {
  const r = new Reader(data);
  const p = readPrincipal(r, 'principal');
  if (r.left() > 0) throw new CcacheError(r.off, `${r.left()} bytes after the principal`);
  return p;
}

/** Decodes exactly one credential as the v4 FILE format (and KCM) marshals it. Throws only CcacheError. */
export function parseCredential(data: Uint8Array): CcacheCredential {
  const r = new Reader(data);
  const c = readCredential(r, 4);
  if (r.left() > 0) throw new CcacheError(r.off, `${r.left()} bytes after the credential`);
  return c;
}

/** Decodes a FILE: credential cache. Throws only CcacheError. */
export function parseCcache(data: Uint8Array): Ccache {
  const r = new Reader(data);
  const v = r.u16('format version');
  if (v === 0x0501 || v === 0x0502) throw new CcacheError(0, `format version 0x0${v.toString(16)} (host byte order) is not supported; kinit writes 0x0504`);
  if (v !== 0x0503 && v !== 0x0504) throw new CcacheError(0, `not an MIT credential cache (version 0x${v.toString(16).padStart(4, '0')})`);
  const version = v === 0x0503 ? 3 : 4;
  let kdcOffset: Ccache['kdcOffset'];
  if (version === 4) {
    const len = r.u16('header length');
    if (len > r.left()) throw new CcacheError(2, `header of ${len} bytes, ${r.left()} left`);
    const end = r.off + len;
    while (r.off < end) {
      const tag = r.u16('header tag');
      const flen = r.u16('header field length');
      if (r.off + flen > end) throw new CcacheError(r.off - 2, `header field of ${flen} bytes past the header's end`);
      const field = r.bytes(flen, 'header field');
      if (tag === 1 && flen === 8) {
        const dv = new DataView(field.buffer, field.byteOffset, 8);
        kdcOffset = { seconds: dv.getInt32(0), microseconds: dv.getInt32(4) };
      }
    }
  }
  const principal = readPrincipal(r, 'default principal');
  const credentials: CcacheCredential[] = [];
  while (r.left() > 0) {
    if (credentials.length >= MAX_CREDENTIALS) throw new CcacheError(r.off, `more than ${MAX_CREDENTIALS} credentials`);
    credentials.push(readCredential(r, version));
  }
  return { version, ...(kdcOffset ? { kdcOffset } : {}), principal, credentials };
}

class Writer {
  private readonly parts: Uint8Array[] = [];
  u8(v: number): void { this.parts.push(Uint8Array.of(v)); }
  u16(v: number): void { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v); this.parts.push(b); }
  u32(v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0); this.parts.push(b); }
  counted(b: Uint8Array): void { this.u32(b.length); this.parts.push(Uint8Array.from(b)); }
  text(s: string): void { this.counted(new Uint8Array(Buffer.from(s, 'utf8'))); }
  raw(b: Uint8Array): void { this.parts.push(b); }
  done(): Uint8Array { return new Uint8Array(Buffer.concat(this.parts)); }
}

function writePrincipal(w: Writer, p: CcachePrincipal): void {
  w.u32(p.nameType);
  w.u32(p.components.length);
  w.text(p.realm);
  for (const c of p.components) w.text(c);
}

/** Encodes a credential cache (version 4 unless the cache says 3); parseCcache reads it back. */
export function encodeCcache(cc: Ccache): Uint8Array {
  const w = new Writer();
  w.u16(cc.version === 3 ? 0x0503 : 0x0504);
  if (cc.version !== 3) {
    if (cc.kdcOffset) {
      w.u16(12);
      w.u16(1);
      w.u16(8);
      w.u32(cc.kdcOffset.seconds);
      w.u32(cc.kdcOffset.microseconds);
    } else {
      w.u16(0);
    }
  }
  writePrincipal(w, cc.principal);
  for (const c of cc.credentials) {
    writePrincipal(w, c.client);
    writePrincipal(w, c.server);
    w.u16(c.key.etype);
    if (cc.version === 3) w.u16(c.key.etype);
    w.counted(c.key.key);
    for (const t of [c.authtime, c.starttime, c.endtime, c.renewTill]) w.u32(t);
    w.u8(c.isSkey ? 1 : 0);
    w.u32(c.ticketFlags);
    for (const list of [c.addresses, c.authdata]) {
      w.u32(list.length);
      for (const a of list) {
        w.u16(a.type);
        w.counted(a.data);
      }
    }
    w.counted(c.ticket);
    w.counted(c.secondTicket);
  }
  return w.done();
}

/** Reads and decodes a cache file; a missing file is a CcacheError saying to run kinit. */
export async function readCcache(path: string): Promise<Ccache> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new CcacheError(-1, code === 'ENOENT' ? `no credential cache ${path} (run kinit first)` : `${path}: ${code}`);
  }
  try {
    return parseCcache(new Uint8Array(data));
  } catch (e) {
    if (e instanceof CcacheError) throw new CcacheError(e.offset, `${path}: ${e.reason}`);
    throw e;
  }
}

export const principalString = (p: CcachePrincipal): string => `${p.components.join('/')}@${p.realm}`;
export const isConfigEntry = (c: CcacheCredential): boolean => c.server.realm === CONF_REALM;

const samePrincipal = (a: CcachePrincipal, b: { realm: string; components: readonly string[] }): boolean =>
  a.realm.toLowerCase() === b.realm.toLowerCase() && a.components.length === b.components.length &&
  a.components.every((c, i) => c.toLowerCase() === b.components[i]!.toLowerCase());

/**
 * The newest usable ticket for `server` (not a config entry, not a user-to-user ticket, valid at
 * `nowSec` with `marginSec` to spare), or undefined.
 */
export function findCredential(cc: Ccache, server: { realm: string; components: readonly string[] }, nowSec: number, marginSec = 60): CcacheCredential | undefined {
  let best: CcacheCredential | undefined;
  for (const c of cc.credentials) {
    if (isConfigEntry(c) || c.isSkey || c.ticket.length === 0 || !samePrincipal(c.server, server)) continue;
    if (c.endtime <= nowSec + marginSec || (c.starttime !== 0 && c.starttime > nowSec + marginSec)) continue;
    if (best === undefined || c.endtime > best.endtime) best = c;
  }
  return best;
}

/** The TGT for `realm` (krbtgt/REALM@REALM), with why not when there is none usable. */
export function findTgt(cc: Ccache, realm: string, nowSec: number): CcacheCredential | string {
  const c = findCredential(cc, { realm, components: ['krbtgt', realm] }, nowSec);
  if (c !== undefined) return c;
  const any = cc.credentials.find((x) => !isConfigEntry(x) && samePrincipal(x.server, { realm, components: ['krbtgt', realm] }));
  if (any !== undefined) return `the ticket-granting ticket for ${realm} expired at ${new Date(any.endtime * 1000).toISOString()} (run kinit again)`;
  return `no ticket-granting ticket for ${realm} in the credential cache of ${principalString(cc.principal)} (run kinit)`;
}
