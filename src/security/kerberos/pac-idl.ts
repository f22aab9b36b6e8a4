/**
 * KERB_VALIDATION_INFO (MS-PAC 2.5), the PAC's logon-information buffer, declared with the NDR
 * engine. On the wire it is a type-serialisation-1 stream (MS-RPCE 2.2.6): an 8-byte common
 * header (version 1, little-endian 0x10, length 8, filler 0xcccccccc), an 8-byte private header
 * (object buffer length, filler), then the top-level [unique] pointer to the structure, NDR20.
 *
 * FILETIMEs are two DWORDs (4-aligned: the engine's udlong), RPC_UNICODE_STRING is Length,
 * MaximumLength and a [unique, size_is(MaximumLength/2), length_is(Length/2)] WCHAR buffer with
 * no terminator, and a SID pointer points at a conformant RPC_SID (max_count = SubAuthorityCount).
 */
import {
  NdrError, conformantArray, decode, encode, fixedBytes, struct, u16, u32, udlong, unique,
  type Infer, type NdrReader, type NdrType, type NdrWriter,
} from '../../ndr/index.js';

/** RPC_UNICODE_STRING's pointee: the conformant-varying WCHAR array (no terminator). */
const unicodeBuffer: NdrType<string> = {
  name: 'WCHAR[*]',
  align: 4,
  hasBuffers: false,
  writeScalars(w: NdrWriter, v: string) {
    w.u32(v.length);
    w.u32(0);
    w.u32(v.length);
    for (let i = 0; i < v.length; i++) w.u16(v.charCodeAt(i));
  },
  writeBuffers() {},
  readScalars(r: NdrReader) {
    const at = r.pos;
    const max = r.u32();
    const offset = r.u32();
    const actual = r.u32();
    if (offset !== 0) r.fail('ARRAY_SIZE', `non-zero array offset ${offset}`, at + 4);
    if (actual > max) r.fail('ARRAY_SIZE', `actual_count ${actual} exceeds max_count ${max}`, at + 8);
    r.checkCount(actual, 2);
    const units: number[] = [];
    for (let i = 0; i < actual; i++) units.push(r.u16());
    let s = '';
    for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.slice(i, i + 4096));
    return s;
  },
  readBuffers: (_r, s) => s as string,
  print: (v) => JSON.stringify(v),
  generate: (g) => g.text(20),
};

/** RPC_UNICODE_STRING: the value is the text (Length and MaximumLength follow from it on encode). */
export const rpcUnicodeString: NdrType<string> = (() => {
  const ptr = unique(unicodeBuffer);
  return {
    name: 'RPC_UNICODE_STRING',
    align: 4,
    hasBuffers: true,
    writeScalars(w: NdrWriter, v: string) {
      w.align(4);
      w.u16(v.length * 2);
      w.u16(v.length * 2);
      ptr.writeScalars(w, v);
    },
    writeBuffers: (w: NdrWriter, v: string) => ptr.writeBuffers(w, v),
    readScalars(r: NdrReader) {
      r.align(4);
      const length = r.u16();
      const maximum = r.u16();
      if (length % 2 !== 0 || length > maximum) r.fail('RANGE', `RPC_UNICODE_STRING Length ${length}, MaximumLength ${maximum}`, r.pos - 4);
      return { length, ptr: ptr.readScalars(r) };
    },
    readBuffers(r: NdrReader, s: unknown) {
      const { length, ptr: p } = s as { length: number; ptr: unknown };
      const at = r.pos;
      const text = ptr.readBuffers(r, p) ?? '';
      if (text.length * 2 !== length) r.fail('RANGE', `RPC_UNICODE_STRING Length ${length} but ${text.length} characters`, at);
      return text;
    },
    print: (v) => JSON.stringify(v),
    generate: (g) => g.text(20),
  };
})();

/** The S-1-… text of a SID (MS-DTYP 2.4.2.1). */
export function sidText(authority: bigint, subAuthorities: readonly number[], revision = 1): string {
  const auth = authority < 1n << 32n ? authority.toString(10) : `0x${authority.toString(16).toUpperCase().padStart(12, '0')}`;
  return [`S-${revision}`, auth, ...subAuthorities.map((s) => String(s >>> 0))].join('-');
}

function parseSidText(text: string): { revision: number; authority: bigint; subs: number[] } {
  const m = /^S-(\d{1,3})-(\d{1,15})((?:-\d{1,10})*)$/.exec(text);
  if (!m) throw new RangeError(`not a SID: ${text}`);
  return { revision: Number(m[1]), authority: BigInt(m[2]!), subs: m[3]!.split('-').slice(1).map(Number) };
}

/** RPC_SID as the pointee of a SID pointer: conformant, so max_count comes first. Value: S-… text. */
export const rpcSid: NdrType<string> = {
  name: 'RPC_SID',
  align: 4,
  hasBuffers: false,
  writeScalars(w: NdrWriter, v: string) {
    const p = parseSidText(v);
    w.u32(p.subs.length);
    w.u8(p.revision);
    w.u8(p.subs.length);
    for (let i = 5; i >= 0; i--) w.u8(Number((p.authority >> BigInt(8 * i)) & 0xffn));
    for (const s of p.subs) w.u32(s);
  },
  writeBuffers() {},
  readScalars(r: NdrReader) {
    const at = r.pos;
    const max = r.u32();
    const revision = r.u8();
    const count = r.u8();
    if (revision !== 1) r.fail('RANGE', `SID revision ${revision}`, at + 4);
    if (count > 15 || count !== max) r.fail('RANGE', `SID with ${count} sub-authorities, max_count ${max}`, at + 5);
    let authority = 0n;
    for (const b of r.bytes(6)) authority = (authority << 8n) | BigInt(b);
    const subs: number[] = [];
    for (let i = 0; i < count; i++) subs.push(r.u32());
    return sidText(authority, subs, revision);
  },
  readBuffers: (_r, s) => s as string,
  print: (v) => v,
  generate: (g) => sidText(5n, [21, g.u32(), g.u32(), g.u32()]),
};

const sidPtr = unique(rpcSid);

export const groupMembership = struct('GROUP_MEMBERSHIP', { RelativeId: u32, Attributes: u32 });
export const kerbSidAndAttributes = struct('KERB_SID_AND_ATTRIBUTES', { Sid: sidPtr, Attributes: u32 });

export const kerbValidationInfo = struct('KERB_VALIDATION_INFO', {
  LogonTime: udlong,
  LogoffTime: udlong,
  KickOffTime: udlong,
  PasswordLastSet: udlong,
  PasswordCanChange: udlong,
  PasswordMustChange: udlong,
  EffectiveName: rpcUnicodeString,
  FullName: rpcUnicodeString,
  LogonScript: rpcUnicodeString,
  ProfilePath: rpcUnicodeString,
  HomeDirectory: rpcUnicodeString,
  HomeDirectoryDrive: rpcUnicodeString,
  LogonCount: u16,
  BadPasswordCount: u16,
  UserId: u32,
  PrimaryGroupId: u32,
  GroupCount: u32,
  GroupIds: unique(conformantArray(groupMembership)),
  UserFlags: u32,
  UserSessionKey: fixedBytes(16),
  LogonServer: rpcUnicodeString,
  LogonDomainName: rpcUnicodeString,
  LogonDomainId: sidPtr,
  Reserved1: fixedBytes(8),
  UserAccountControl: u32,
  SubAuthStatus: u32,
  LastSuccessfulILogon: udlong,
  LastFailedILogon: udlong,
  FailedILogonCount: u32,
  Reserved3: u32,
  SidCount: u32,
  ExtraSids: unique(conformantArray(kerbSidAndAttributes)),
  ResourceGroupDomainSid: sidPtr,
  ResourceGroupCount: u32,
  ResourceGroupIds: unique(conformantArray(groupMembership)),
});
export type KerbValidationInfo = Infer<typeof kerbValidationInfo>;

/** The top-level referent: the serialised object is a [unique] pointer to the structure. */
export const pacLogonInfo = unique(kerbValidationInfo);

/** The UserFlags bit saying ExtraSids is meaningful (LOGON_EXTRA_SIDS) and the resource-groups one. */
export const USER_FLAGS = { extraSids: 0x20, resourceGroups: 0x200 } as const;

/**
 * Decodes a type-serialisation-1 stream holding one KERB_VALIDATION_INFO. Throws only NdrError.
 * The counts in the structure must agree with its arrays.
 */
export function decodeLogonInfo(buf: Uint8Array): KerbValidationInfo {
  if (buf.length < 16) throw new NdrError('BUFSIZE', `type serialisation header needs 16 bytes, ${buf.length} given`, 0, '');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (buf[0] !== 1 || buf[1] !== 0x10 || v.getUint16(2, true) !== 8) {
    throw new NdrError('RANGE', 'not a little-endian type serialisation version 1 header', 0, '');
  }
  const objectLength = v.getUint32(8, true);
  if (objectLength > buf.length - 16) throw new NdrError('BUFSIZE', `object buffer of ${objectLength} bytes, ${buf.length - 16} present`, 8, '');
  const { value } = decode(pacLogonInfo, buf.subarray(16, 16 + objectLength));
  if (value === null) throw new NdrError('RANGE', 'NULL logon information', 16, '');
  const counts: Array<[string, number, number]> = [
    ['GroupCount', value.GroupCount, value.GroupIds?.length ?? 0],
    ['SidCount', value.SidCount, value.ExtraSids?.length ?? 0],
    ['ResourceGroupCount', value.ResourceGroupCount, value.ResourceGroupIds?.length ?? 0],
  ];
  for (const [name, n, len] of counts) if (n !== len) throw new NdrError('ARRAY_SIZE', `${name} ${n} but ${len} entries`, 16, '');
  return value;
}

/** Encodes a KERB_VALIDATION_INFO as a type-serialisation-1 stream (for tests and tools). */
export function encodeLogonInfo(info: KerbValidationInfo): Uint8Array {
  const body = encode(pacLogonInfo, info);
  const padded = new Uint8Array(Math.ceil(body.length / 8) * 8);
  padded.set(body);
  const out = new Uint8Array(16 + padded.length);
  const v = new DataView(out.buffer);
  out.set([1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc]);
  v.setUint32(8, padded.length, true);
  out.set(padded, 16);
  return out;
}
