/**
 * The RFC 4120 messages a Kerberos acceptor reads and writes, declared once with our DER library:
 * AP-REQ with its Ticket and Authenticator, the EncTicketPart inside the ticket, AP-REP and
 * EncAPRepPart, AuthorizationData (AD-IF-RELEVANT, AD-WIN2K-PAC) and KRB-ERROR; plus the
 * GSS-API framing of the context tokens (RFC 1964 §1.1 / RFC 4121 §4.1: the [APPLICATION 0]
 * InitialContextToken with the krb5 OID, then a 2-byte TOK_ID, then the message).
 *
 * Flags (TicketFlags, APOptions) are kept as BIT STRINGs of any length: bit numbers count from
 * the most significant bit of the first octet, and `flagSet` reads one.
 */
import {
  Asn1Error, CLASS, application, bitString, concat, decode, decodePrefix, explicit, generalString, generalizedTime, int32, integer,
  microseconds, octetString, oid, optional, readHeader, seq, seqOf, tlv, type BitString, type Infer,
} from '../asn1/index.js';
import { MECH_OID } from '../gss.js';

/** Message types (RFC 4120 §5.10, the [APPLICATION n] tags). */
export const MSG_TYPE = { ticket: 1, authenticator: 2, encTicketPart: 3, apReq: 14, apRep: 15, encApRepPart: 27, krbError: 30 } as const;
/** Key usages (RFC 4120 §7.5.1) and the PAC checksum usage (MS-PAC 2.8.1, KERB_NON_KERB_CKSUM_SALT). */
export const KEY_USAGE = { ticket: 2, apReqAuthCksum: 10, apReqAuthenticator: 11, apRepEncPart: 12, pacChecksum: 17 } as const;
/** Authorization data types (RFC 4120 §7.5.4, MS-PAC 2.4). */
export const AD_TYPE = { ifRelevant: 1, win2kPac: 128 } as const;
/** APOptions bits (RFC 4120 §5.5.1) and TicketFlags bits (§5.3). */
export const AP_OPTION = { useSessionKey: 1, mutualRequired: 2 } as const;
export const TICKET_FLAG = { invalid: 7 } as const;
/** The GSS checksum type (RFC 4121 §4.1.1) and its flags. */
export const GSS_CHECKSUM_TYPE = 0x8003;
export const GSS_FLAG = { deleg: 0x1, mutual: 0x2, replay: 0x4, sequence: 0x8, conf: 0x10, integ: 0x20, dceStyle: 0x1000 } as const;

const kerberosString = generalString;
const pvno = (): ReturnType<typeof integer> => integer({ min: 5, max: 5 });
const msgType = (n: number): ReturnType<typeof integer> => integer({ min: n, max: n });
/**
 * seq-number: UInt32 in RFC 4120, but older encoders (and some Windows builds) send it as a
 * signed 32-bit value; both decode, and `>>> 0` gives the sequence number.
 */
const seqNumber = (): ReturnType<typeof integer> => integer({ min: -0x80000000, max: 0xffffffff });

export const principalName = seq({
  nameType: explicit(0, int32()),
  nameString: explicit(1, seqOf(kerberosString(), 16)),
}, 'PrincipalName');
export type PrincipalName = Infer<typeof principalName>;

export const encryptionKey = seq({
  keytype: explicit(0, int32()),
  keyvalue: explicit(1, octetString()),
}, 'EncryptionKey');
export type EncryptionKey = Infer<typeof encryptionKey>;

export const encryptedData = seq({
  etype: explicit(0, int32()),
  kvno: optional(explicit(1, integer({ min: 0, max: 0xffffffff }))),
  cipher: explicit(2, octetString()),
}, 'EncryptedData');
export type EncryptedData = Infer<typeof encryptedData>;

export const checksum = seq({
  cksumtype: explicit(0, int32()),
  checksum: explicit(1, octetString()),
}, 'Checksum');
export type Checksum = Infer<typeof checksum>;

export const authorizationData = seqOf(seq({
  adType: explicit(0, int32()),
  adData: explicit(1, octetString()),
}, 'AuthorizationData entry'), 256);
export type AuthorizationData = Infer<typeof authorizationData>;

const hostAddresses = seqOf(seq({ addrType: explicit(0, int32()), address: explicit(1, octetString()) }, 'HostAddress'), 64);

export const ticket = application(MSG_TYPE.ticket, seq({
  tktVno: explicit(0, pvno()),
  realm: explicit(1, kerberosString()),
  sname: explicit(2, principalName),
  encPart: explicit(3, encryptedData),
}, 'Ticket'));
export type Ticket = Infer<typeof ticket>;

export const encTicketPart = application(MSG_TYPE.encTicketPart, seq({
  flags: explicit(0, bitString()),
  key: explicit(1, encryptionKey),
  crealm: explicit(2, kerberosString()),
  cname: explicit(3, principalName),
  transited: explicit(4, seq({ trType: explicit(0, int32()), contents: explicit(1, octetString()) }, 'TransitedEncoding')),
  authtime: explicit(5, generalizedTime()),
  starttime: optional(explicit(6, generalizedTime())),
  endtime: explicit(7, generalizedTime()),
  renewTill: optional(explicit(8, generalizedTime())),
  caddr: optional(explicit(9, hostAddresses)),
  authorizationData: optional(explicit(10, authorizationData)),
}, 'EncTicketPart'));
export type EncTicketPart = Infer<typeof encTicketPart>;

export const apReq = application(MSG_TYPE.apReq, seq({
  pvno: explicit(0, pvno()),
  msgType: explicit(1, msgType(MSG_TYPE.apReq)),
  apOptions: explicit(2, bitString()),
  ticket: explicit(3, ticket),
  authenticator: explicit(4, encryptedData),
}, 'AP-REQ'));
export type ApReq = Infer<typeof apReq>;

export const authenticator = application(MSG_TYPE.authenticator, seq({
  authenticatorVno: explicit(0, pvno()),
  crealm: explicit(1, kerberosString()),
  cname: explicit(2, principalName),
  cksum: optional(explicit(3, checksum)),
  cusec: explicit(4, microseconds()),
  ctime: explicit(5, generalizedTime()),
  subkey: optional(explicit(6, encryptionKey)),
  seqNumber: optional(explicit(7, seqNumber())),
  authorizationData: optional(explicit(8, authorizationData)),
}, 'Authenticator'));
export type Authenticator = Infer<typeof authenticator>;

export const apRep = application(MSG_TYPE.apRep, seq({
  pvno: explicit(0, pvno()),
  msgType: explicit(1, msgType(MSG_TYPE.apRep)),
  encPart: explicit(2, encryptedData),
}, 'AP-REP'));
export type ApRep = Infer<typeof apRep>;

export const encApRepPart = application(MSG_TYPE.encApRepPart, seq({
  ctime: explicit(0, generalizedTime()),
  cusec: explicit(1, microseconds()),
  subkey: optional(explicit(2, encryptionKey)),
  seqNumber: optional(explicit(3, seqNumber())),
}, 'EncAPRepPart'));
export type EncApRepPart = Infer<typeof encApRepPart>;

export const krbError = application(MSG_TYPE.krbError, seq({
  pvno: explicit(0, pvno()),
  msgType: explicit(1, msgType(MSG_TYPE.krbError)),
  ctime: optional(explicit(2, generalizedTime())),
  cusec: optional(explicit(3, microseconds())),
  stime: explicit(4, generalizedTime()),
  susec: explicit(5, microseconds()),
  errorCode: explicit(6, int32()),
  crealm: optional(explicit(7, kerberosString())),
  cname: optional(explicit(8, principalName)),
  realm: explicit(9, kerberosString()),
  sname: explicit(10, principalName),
  eText: optional(explicit(11, kerberosString())),
  eData: optional(explicit(12, octetString())),
}, 'KRB-ERROR'));
export type KrbError = Infer<typeof krbError>;

/** Whether bit `n` (0 = the most significant bit of the first octet) is set. */
export function flagSet(b: BitString, n: number): boolean {
  const byte = b.bytes[n >> 3];
  return byte !== undefined && n < b.bytes.length * 8 - b.unusedBits && (byte & (0x80 >> (n & 7))) !== 0;
}

/** A principal as text: components joined by '/', then '@realm'. */
export const principalText = (p: PrincipalName, realm?: string): string => p.nameString.join('/') + (realm === undefined ? '' : `@${realm}`);

/** GSS context-token identifiers (RFC 4121 §4.1). */
export const TOK_ID = { apReq: 0x0100, apRep: 0x0200, error: 0x0300 } as const;

/** The InitialContextToken (or later context token) around a Kerberos message: 60 len OID TOK_ID message. */
export function frameKrbToken(tokId: number, message: Uint8Array, mechOid: string = MECH_OID.kerberos): Uint8Array {
  const body = concat([decodeOidDer(mechOid), Uint8Array.of(tokId >> 8, tokId & 0xff), message]);
  return tlv({ cls: CLASS.application, constructed: true, num: 0 }, body);
}

function decodeOidDer(mechOid: string): Uint8Array {
  return oid().write(mechOid);
}

/** A context token split: which mechanism OID and TOK_ID, and the message after them. Throws only Asn1Error. */
export function unframeKrbToken(bytes: Uint8Array): { mechOid: string; tokId: number; message: Uint8Array } {
  const c = { buf: bytes, depth: 0, maxDepth: 1 };
  const h = readHeader(c, 0, bytes.length);
  if (h.cls !== CLASS.application || !h.constructed || h.num !== 0) throw new Asn1Error('TAG', 'not a GSS context token', 0);
  if (h.end !== bytes.length) throw new Asn1Error('TRAILING', 'bytes after the GSS context token', h.end);
  const body = bytes.subarray(h.contentStart, h.end);
  const { value: mechOid, consumed } = decodePrefix(oid(), body);
  if (body.length < consumed + 2) throw new Asn1Error('TRUNCATED', 'no TOK_ID after the mechanism OID', h.contentStart + consumed);
  return { mechOid, tokId: (body[consumed]! << 8) | body[consumed + 1]!, message: body.subarray(consumed + 2) };
}

/** The PAC inside a ticket's authorization data: AD-IF-RELEVANT wrapping AD-WIN2K-PAC (MS-PAC 2.4); all found. */
export function findPacs(ad: AuthorizationData | undefined, depth = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const e of ad ?? []) {
    if (e.adType === AD_TYPE.win2kPac) out.push(e.adData);
    else if (e.adType === AD_TYPE.ifRelevant && depth < 4) out.push(...findPacs(decode(authorizationData, e.adData), depth + 1));
  }
  return out;
}
