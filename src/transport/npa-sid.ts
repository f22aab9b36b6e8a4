/**
 * dom_sid as Samba marshals it inside NDR (librpc/idl/security.idl, hand-written push/pull):
 * 4-aligned; u8 revision, u8 sub-authority count (0..15), a 6-byte big-endian identifier
 * authority, then that many little-endian u32 sub-authorities. The value is the S-1-… text.
 */
import type { NdrType, NdrReader, NdrWriter, Rng } from '../ndr/index.js';

export interface SidParts {
  readonly revision: number;
  readonly authority: bigint;
  readonly subAuthorities: readonly number[];
}

const MAX_SUB_AUTHS = 15;
const MAX_AUTHORITY = (1n << 48n) - 1n;

/** MS-DTYP 2.4.2.1: decimal authority below 2^32, otherwise 0x and 12 hex digits. */
export function formatSid(p: SidParts): string {
  const auth = p.authority < 1n << 32n
    ? p.authority.toString(10)
    : `0x${p.authority.toString(16).toUpperCase().padStart(12, '0')}`;
  return [`S-${p.revision}`, auth, ...p.subAuthorities.map((s) => String(s >>> 0))].join('-');
}

/** Parses S-R-I-S…; undefined for anything that is not a SID we could marshal. */
export function parseSid(text: string): SidParts | undefined {
  const m = /^S-(\d{1,3})-(0x[0-9a-fA-F]{1,12}|\d{1,15})((?:-\d{1,10})*)$/i.exec(text.trim());
  if (!m) return undefined;
  const revision = Number(m[1]);
  const authority = BigInt(m[2] as string);
  const subAuthorities = (m[3] as string).split('-').slice(1).map(Number);
  if (revision > 255 || authority > MAX_AUTHORITY || subAuthorities.length > MAX_SUB_AUTHS) return undefined;
  if (subAuthorities.some((s) => s > 0xffffffff)) return undefined;
  return { revision, authority, subAuthorities };
}

function writeSid(w: NdrWriter, text: string): void {
  const p = parseSid(text);
  if (p === undefined) throw new RangeError(`not a SID: ${text}`);
  w.align(4);
  w.u8(p.revision);
  w.u8(p.subAuthorities.length);
  const auth = new Uint8Array(6);
  for (let i = 0; i < 6; i++) auth[i] = Number((p.authority >> BigInt(8 * (5 - i))) & 0xffn);
  w.bytes(auth);
  for (const s of p.subAuthorities) w.u32(s);
}

function readSid(r: NdrReader): string {
  r.align(4);
  const revision = r.u8();
  const at = r.pos;
  const count = r.u8();
  if (count > MAX_SUB_AUTHS) r.fail('RANGE', `dom_sid with ${count} sub-authorities (at most ${MAX_SUB_AUTHS})`, at);
  let authority = 0n;
  for (const b of r.bytes(6)) authority = (authority << 8n) | BigInt(b);
  const subAuthorities: number[] = [];
  for (let i = 0; i < count; i++) subAuthorities.push(r.u32());
  return formatSid({ revision, authority, subAuthorities });
}

function generateSid(g: Rng): string {
  const common = ['S-1-1-0', 'S-1-5-11', 'S-1-5-32-544', 'S-1-5-32-551', 'S-1-22-1-0'];
  if (g.chance(0.3)) return g.pick(common);
  const subs = Array.from({ length: g.below(MAX_SUB_AUTHS + 1) }, () => g.u32());
  const authority = g.chance(0.9) ? BigInt(g.below(64)) : g.u64() & MAX_AUTHORITY;
  return formatSid({ revision: 1, authority, subAuthorities: subs });
}

export const domSid: NdrType<string> = {
  name: 'dom_sid',
  align: 4,
  hasBuffers: false,
  writeScalars: writeSid,
  writeBuffers() {},
  readScalars: readSid,
  readBuffers: (_r, s) => s as string,
  print: (v) => v,
  generate: (g) => generateSid(g),
};
