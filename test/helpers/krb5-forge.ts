/**
 * Builds service tickets with a PAC and AP-REQs from our own declarations (messages.ts,
 * pac-idl.ts) for the pure unit tests; the interop tests use impacket's instead
 * (impacket-krb5-ticket.py). Only what the acceptor tests need.
 */
import { encode } from '../../src/security/asn1/index.js';
import { getEnctype } from '../../src/security/kerberos/crypto.js';
import {
  AD_TYPE, GSS_CHECKSUM_TYPE, KEY_USAGE, MSG_TYPE, TOK_ID, apReq, authenticator, authorizationData, encTicketPart, frameKrbToken,
  ticket as ticketType,
} from '../../src/security/kerberos/messages.js';
import type { ServiceTicket } from '../../src/security/kerberos/kdc-client.js';
import { encodeLogonInfo, type KerbValidationInfo } from '../../src/security/kerberos/pac-idl.js';
import { fileTimeOf } from '../../src/security/kerberos/pac.js';

export const REALM = 'EXAMPLE.COM';
export const SNAME = ['host', 'fs.example.com'];
const SIZE: Record<number, number> = { 17: 16, 18: 32, 23: 16 };
export const keyOf = (etype: number, seed: number): Uint8Array => new Uint8Array(SIZE[etype]!).map((_, i) => (i * 29 + seed * 11 + etype) & 0xff);

export function logonInfo(o: Partial<KerbValidationInfo> = {}): KerbValidationInfo {
  return {
    LogonTime: 0n, LogoffTime: 0x7fffffffffffffffn, KickOffTime: 0x7fffffffffffffffn, PasswordLastSet: 0n, PasswordCanChange: 0n,
    PasswordMustChange: 0x7fffffffffffffffn, EffectiveName: 'alice', FullName: 'Alice A.', LogonScript: '', ProfilePath: '', HomeDirectory: '',
    HomeDirectoryDrive: '', LogonCount: 3, BadPasswordCount: 0, UserId: 1105, PrimaryGroupId: 513, GroupCount: 2,
    GroupIds: [{ RelativeId: 513, Attributes: 7 }, { RelativeId: 512, Attributes: 7 }], UserFlags: 0x20, UserSessionKey: new Uint8Array(16),
    LogonServer: 'DC1', LogonDomainName: 'EXAMPLE', LogonDomainId: 'S-1-5-21-1-2-3', Reserved1: new Uint8Array(8), UserAccountControl: 0x210,
    SubAuthStatus: 0, LastSuccessfulILogon: 0n, LastFailedILogon: 0n, FailedILogonCount: 0, Reserved3: 0, SidCount: 1,
    ExtraSids: [{ Sid: 'S-1-18-1', Attributes: 7 }], ResourceGroupDomainSid: null, ResourceGroupCount: 0, ResourceGroupIds: null,
    ...o,
  };
}

const pad8 = (b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(b.length / 8) * 8);
  out.set(b);
  return out;
};

/** A PACTYPE with logon info, client info and both signatures (the KDC one keyed with the service key: nobody checks it). */
export function buildPac(serviceEtype: number, serviceKey: Uint8Array, authtime: Date, clientName: string, info = logonInfo()): Uint8Array {
  const e = getEnctype(serviceEtype)!;
  const name = Buffer.from(clientName, 'utf16le');
  const ci = new Uint8Array(10 + name.length);
  const dv = new DataView(ci.buffer);
  dv.setBigUint64(0, fileTimeOf(authtime), true);
  dv.setUint16(8, name.length, true);
  ci.set(name, 10);
  const sig = (): Uint8Array => {
    const b = new Uint8Array(4 + e.checksumSize);
    new DataView(b.buffer).setInt32(0, e.checksumType, true);
    return b;
  };
  const buffers: Array<[number, Uint8Array]> = [[1, encodeLogonInfo(info)], [10, ci], [6, sig()], [7, sig()]];
  let offset = 8 + 16 * buffers.length;
  const head = new Uint8Array(offset);
  const hv = new DataView(head.buffer);
  hv.setUint32(0, buffers.length, true);
  const at: Record<number, number> = {};
  buffers.forEach(([type, data], i) => {
    hv.setUint32(8 + i * 16, type, true);
    hv.setUint32(12 + i * 16, data.length, true);
    hv.setBigUint64(16 + i * 16, BigInt(offset), true);
    at[type] = offset;
    offset += pad8(data).length;
  });
  const pac = Buffer.concat([head, ...buffers.map(([, d]) => pad8(d))]);
  const srv = e.checksum(serviceKey, KEY_USAGE.pacChecksum, pac);
  pac.set(srv, at[6]! + 4);
  pac.set(e.checksum(serviceKey, KEY_USAGE.pacChecksum, srv), at[7]! + 4);
  return new Uint8Array(pac);
}

export interface ForgeOptions {
  readonly etype: number;
  readonly serviceKey?: Uint8Array;
  readonly kvno?: number;
  readonly now: number; // ms
  readonly endOffsetSec?: number;
  readonly ctimeOffsetSec?: number;
  readonly cusec?: number;
  readonly gssFlags?: number;
  readonly subkey?: boolean;
  readonly seq?: number;
  readonly framed?: boolean;
  readonly pac?: boolean;
}

export interface Forged {
  readonly token: Uint8Array;
  readonly sessionKey: Uint8Array;
  readonly subkey?: Uint8Array;
  readonly ctime: Date;
  readonly cusec: number;
}

const whole = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

export function forgeApReq(o: ForgeOptions): Forged {
  const e = getEnctype(o.etype)!;
  const serviceKey = o.serviceKey ?? keyOf(o.etype, 1);
  const sessionKey = keyOf(o.etype, 2);
  const authtime = whole(o.now - 60_000);
  const cname = { nameType: 1, nameString: ['alice'] };
  const ad = o.pac === false ? undefined : [{
    adType: AD_TYPE.ifRelevant,
    adData: encode(authorizationData, [{ adType: AD_TYPE.win2kPac, adData: buildPac(o.etype, serviceKey, authtime, 'alice') }]),
  }];
  const tp = encode(encTicketPart, {
    flags: { bytes: Uint8Array.of(0x40, 0x81, 0, 0), unusedBits: 0 }, key: { keytype: o.etype, keyvalue: sessionKey }, crealm: REALM, cname,
    transited: { trType: 0, contents: new Uint8Array(0) }, authtime, endtime: whole(o.now + (o.endOffsetSec ?? 36000) * 1000),
    ...(ad ? { authorizationData: ad } : {}),
  });
  const subkey = o.subkey === false ? undefined : keyOf(o.etype, 3);
  const ck = new Uint8Array(24);
  new DataView(ck.buffer).setUint32(0, 16, true);
  new DataView(ck.buffer).setUint32(20, o.gssFlags ?? 0x103e, true);
  const ctime = whole(o.now + (o.ctimeOffsetSec ?? -5) * 1000);
  const cusec = o.cusec ?? 4242;
  const auth = encode(authenticator, {
    authenticatorVno: 5, crealm: REALM, cname, cksum: { cksumtype: GSS_CHECKSUM_TYPE, checksum: ck }, cusec, ctime,
    ...(subkey ? { subkey: { keytype: o.etype, keyvalue: subkey } } : {}), seqNumber: o.seq ?? 100,
  });
  const req = encode(apReq, {
    pvno: 5, msgType: MSG_TYPE.apReq, apOptions: { bytes: Uint8Array.of(0x20, 0, 0, 0), unusedBits: 0 },
    ticket: { tktVno: 5, realm: REALM, sname: { nameType: 3, nameString: SNAME }, encPart: { etype: o.etype, kvno: o.kvno ?? 3, cipher: e.encrypt(serviceKey, KEY_USAGE.ticket, tp) } },
    authenticator: { etype: o.etype, cipher: e.encrypt(sessionKey, KEY_USAGE.apReqAuthenticator, auth) },
  });
  return { token: o.framed === false ? req : frameKrbToken(TOK_ID.apReq, req), sessionKey, ...(subkey ? { subkey } : {}), ctime, cusec };
}

/** A service ticket for host/fs.example.com as a KDC issues it: the ticket and its session key. */
export function issue(etype: number, o: { now?: number; lifeSec?: number; serviceSeed?: number } = {}): ServiceTicket {
  const now = o.now ?? Date.now();
  const e = getEnctype(etype)!;
  const serviceKey = keyOf(etype, o.serviceSeed ?? 1);
  const sessionKey = e.randomToKey(new Uint8Array(e.keySize).map((_, i) => i * 7 + etype));
  const authtime = whole(now - 60_000);
  const endtime = whole(now + (o.lifeSec ?? 36000) * 1000);
  const cname = { nameType: 1, nameString: ['alice'] };
  const tp = encode(encTicketPart, {
    flags: { bytes: Uint8Array.of(0x40, 0x81, 0, 0), unusedBits: 0 }, key: { keytype: etype, keyvalue: sessionKey }, crealm: REALM, cname,
    transited: { trType: 0, contents: new Uint8Array(0) }, authtime, endtime,
    authorizationData: [{ adType: AD_TYPE.ifRelevant, adData: encode(authorizationData, [{ adType: AD_TYPE.win2kPac, adData: buildPac(etype, serviceKey, authtime, 'alice') }]) }],
  });
  const ticket = encode(ticketType, {
    tktVno: 5, realm: REALM, sname: { nameType: 2, nameString: SNAME }, encPart: { etype, kvno: 3, cipher: e.encrypt(serviceKey, KEY_USAGE.ticket, tp) },
  });
  return {
    client: { nameType: 1, realm: REALM, components: ['alice'] }, server: { nameType: 2, realm: REALM, components: SNAME },
    ticket, sessionKey: { etype, key: sessionKey }, authtime, endtime,
  };
}
