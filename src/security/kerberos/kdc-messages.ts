/**
 * The RFC 4120 messages a Kerberos client exchanges with a KDC (§5.4, §5.2.7), declared with our
 * DER library beside the acceptor's (messages.ts): AS-REQ / TGS-REQ with their KDC-REQ-BODY,
 * AS-REP / TGS-REP and the encrypted EncKDCRepPart, the PA-DATA we send or read (PA-TGS-REQ,
 * PA-ENC-TIMESTAMP, PA-PAC-REQUEST, ETYPE-INFO2), and an AP-REQ whose ticket is carried as the
 * exact bytes the KDC issued (`apReqRaw`): a ticket is never re-encoded on its way back.
 */
import {
  any, application, bitString, boolean, choice, explicit, generalString, generalizedTime, int32, integer, microseconds, octetString,
  optional, seq, seqOf, uint32, type Infer,
} from '../asn1/index.js';
import { encryptedData, encryptionKey, principalName } from './messages.js';

export const KDC_MSG_TYPE = { asReq: 10, asRep: 11, tgsReq: 12, tgsRep: 13, encAsRepPart: 25, encTgsRepPart: 26 } as const;

/** Key usages of the KDC exchanges (RFC 4120 §7.5.1). */
export const KDC_KEY_USAGE = {
  paEncTimestamp: 1,
  asRepEncPart: 3,
  tgsReqAuthCksum: 6,
  tgsReqAuthenticator: 7,
  tgsRepEncPartSessionKey: 8,
  tgsRepEncPartSubkey: 9,
} as const;

/** Pre-authentication data types (RFC 4120 §7.5.2, MS-KILE 2.2.3). */
export const PA_TYPE = { tgsReq: 1, encTimestamp: 2, etypeInfo2: 19, pacRequest: 128 } as const;

/** KDCOptions bits (RFC 4120 §5.4.1). */
export const KDC_OPTION = { forwardable: 1, renewable: 8, canonicalize: 15, renewableOk: 27 } as const;

/** Principal name types (RFC 4120 §6.2). */
export const NAME_TYPE = { principal: 1, srvInst: 2, srvHst: 3 } as const;

const kerberosString = generalString;

export const paData = seq({
  padataType: explicit(1, int32()),
  padataValue: explicit(2, octetString()),
}, 'PA-DATA');
export type PaData = Infer<typeof paData>;
export const methodData = seqOf(paData, 64);

const hostAddresses = seqOf(seq({ addrType: explicit(0, int32()), address: explicit(1, octetString()) }, 'HostAddress'), 64);

export const kdcReqBody = seq({
  kdcOptions: explicit(0, bitString()),
  cname: optional(explicit(1, principalName)),
  realm: explicit(2, kerberosString()),
  sname: optional(explicit(3, principalName)),
  from: optional(explicit(4, generalizedTime())),
  till: explicit(5, generalizedTime()),
  rtime: optional(explicit(6, generalizedTime())),
  nonce: explicit(7, uint32()),
  etype: explicit(8, seqOf(int32(), 32)),
  addresses: optional(explicit(9, hostAddresses)),
  encAuthorizationData: optional(explicit(10, encryptedData)),
  additionalTickets: optional(explicit(11, seqOf(any(), 8))),
}, 'KDC-REQ-BODY');
export type KdcReqBody = Infer<typeof kdcReqBody>;

const kdcReq = (name: string, type: number) => seq({
  pvno: explicit(1, integer({ min: 5, max: 5 })),
  msgType: explicit(2, integer({ min: type, max: type })),
  padata: optional(explicit(3, methodData)),
  /** The body as DER bytes: the TGS authenticator's checksum covers exactly these. */
  reqBody: explicit(4, any()),
}, name);

export const asReq = application(KDC_MSG_TYPE.asReq, kdcReq('AS-REQ', KDC_MSG_TYPE.asReq));
export const tgsReq = application(KDC_MSG_TYPE.tgsReq, kdcReq('TGS-REQ', KDC_MSG_TYPE.tgsReq));
export type KdcReq = Infer<typeof asReq>;

const kdcRep = (name: string, type: number) => seq({
  pvno: explicit(0, integer({ min: 5, max: 5 })),
  msgType: explicit(1, integer({ min: type, max: type })),
  padata: optional(explicit(2, methodData)),
  crealm: explicit(3, kerberosString()),
  cname: explicit(4, principalName),
  /** The Ticket element exactly as issued (it goes into AP-REQs and the ccache as is). */
  ticket: explicit(5, any()),
  encPart: explicit(6, encryptedData),
}, name);

export const asRep = application(KDC_MSG_TYPE.asRep, kdcRep('AS-REP', KDC_MSG_TYPE.asRep));
export const tgsRep = application(KDC_MSG_TYPE.tgsRep, kdcRep('TGS-REP', KDC_MSG_TYPE.tgsRep));
export type KdcRep = Infer<typeof asRep>;

const encKdcRepPartBody = seq({
  key: explicit(0, encryptionKey),
  lastReq: explicit(1, seqOf(seq({ lrType: explicit(0, int32()), lrValue: explicit(1, generalizedTime()) }, 'LastReq entry'), 64)),
  nonce: explicit(2, uint32()),
  keyExpiration: optional(explicit(3, generalizedTime())),
  flags: explicit(4, bitString()),
  authtime: explicit(5, generalizedTime()),
  starttime: optional(explicit(6, generalizedTime())),
  endtime: explicit(7, generalizedTime()),
  renewTill: optional(explicit(8, generalizedTime())),
  srealm: explicit(9, kerberosString()),
  sname: explicit(10, principalName),
  caddr: optional(explicit(11, hostAddresses)),
  encryptedPaData: optional(explicit(12, methodData)),
}, 'EncKDCRepPart');

/**
 * EncASRepPart [APPLICATION 25] or EncTGSRepPart [26]: either is accepted for either reply, as
 * MIT does (Windows KDCs have sent 26 in AS-REPs).
 */
export const encKdcRepPart = choice({
  as: application(KDC_MSG_TYPE.encAsRepPart, encKdcRepPartBody),
  tgs: application(KDC_MSG_TYPE.encTgsRepPart, encKdcRepPartBody),
}, 'EncKDCRepPart');
export type EncKdcRepPart = Infer<typeof encKdcRepPartBody>;

export const paEncTsEnc = seq({
  patimestamp: explicit(0, generalizedTime()),
  pausec: optional(explicit(1, microseconds())),
}, 'PA-ENC-TS-ENC');

export const etypeInfo2 = seqOf(seq({
  etype: explicit(0, int32()),
  salt: optional(explicit(1, kerberosString())),
  s2kparams: optional(explicit(2, octetString())),
}, 'ETYPE-INFO2-ENTRY'), 32);
export type EtypeInfo2 = Infer<typeof etypeInfo2>;

/** KERB-PA-PAC-REQUEST (MS-KILE 2.2.3). */
export const paPacRequest = seq({ includePac: explicit(0, boolean()) }, 'KERB-PA-PAC-REQUEST');

/** AP-REQ (RFC 4120 §5.5.1) with the ticket as raw bytes, for initiators. */
export const apReqRaw = application(14, seq({
  pvno: explicit(0, integer({ min: 5, max: 5 })),
  msgType: explicit(1, integer({ min: 14, max: 14 })),
  apOptions: explicit(2, bitString()),
  ticket: explicit(3, any()),
  authenticator: explicit(4, encryptedData),
}, 'AP-REQ'));

/** A BIT STRING of 32 bits with the given bit numbers set (bit 0 = most significant of the first octet). */
export function flagBits(...bits: number[]): { bytes: Uint8Array; unusedBits: number } {
  const bytes = new Uint8Array(4);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return { bytes, unusedBits: 0 };
}
