/**
 * The Kerberos client's KDC exchanges (RFC 4120 §3.3 and §3.1): a TGS-REQ with the TGT of a
 * credential cache for a service ticket, and (kdc-as.ts) an AS-REQ with a password. The TGS-REQ
 * carries PA-TGS-REQ: an AP-REQ with the TGT and an authenticator (key usage 7) whose checksum
 * (usage 6, the session key's keyed checksum type) covers the DER of the KDC-REQ-BODY exactly as
 * sent. The reply is a TGS-REP whose enc-part (usage 8) must decrypt under the TGT session key
 * and echo our nonce, or a KRB-ERROR turned into a KerberosClientError that says what it means.
 */
import { randomBytes } from 'node:crypto';
import { Asn1Error, decode, encode } from '../asn1/index.js';
import { getEnctype } from './crypto.js';
import { KerberosCryptoError } from './errors.js';
import type { CcacheCredential, CcachePrincipal } from './ccache.js';
import {
  KDC_KEY_USAGE, KDC_MSG_TYPE, NAME_TYPE, PA_TYPE, apReqRaw, encKdcRepPart, flagBits, kdcReqBody, tgsRep, tgsReq,
  type EncKdcRepPart, type KdcRep, type KdcReqBody,
} from './kdc-messages.js';
import { KerberosClientError, krbErrorText, sendToKdc } from './kdc-transport.js';
import type { KdcAddress } from './krb5-conf.js';
import { MSG_TYPE, authenticator, krbError, principalText, type KrbError, type PrincipalName } from './messages.js';

/** A ticket and what goes with it: everything an AP-REQ needs. */
export interface ServiceTicket {
  readonly client: CcachePrincipal;
  readonly server: CcachePrincipal;
  /** The Ticket, DER, as the KDC issued it. */
  readonly ticket: Uint8Array;
  readonly sessionKey: { readonly etype: number; readonly key: Uint8Array };
  readonly authtime: Date;
  readonly endtime: Date;
}

/** Our enctypes in preference order. */
export const CLIENT_ETYPES = [18, 17, 23] as const;

export const nonce31 = (): number => randomBytes(4).readUInt32BE(0) & 0x7fffffff;
const whole = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
export const asName = (p: CcachePrincipal): PrincipalName => ({ nameType: p.nameType, nameString: [...p.components] });

/** The ticket of a ccache credential, as a ServiceTicket. */
export function ticketOf(c: CcacheCredential): ServiceTicket {
  return {
    client: c.client, server: c.server, ticket: c.ticket, sessionKey: c.key,
    authtime: new Date(c.authtime * 1000), endtime: new Date(c.endtime * 1000),
  };
}

/** A KRB-ERROR as a KerberosClientError with a sentence, and the KDC's time for skew errors. */
export function kdcErrorOf(e: KrbError, nowMs: number): KerberosClientError {
  let text = krbErrorText(e.errorCode);
  if (e.errorCode === 37) text += ` (KDC time ${e.stime.toISOString()}, ours ${new Date(nowMs).toISOString()})`;
  if (e.errorCode === 7) text += `: ${principalText(e.sname, e.realm)}`;
  if (e.eText !== undefined && e.eText !== '') text += ` [${e.eText}]`;
  return new KerberosClientError('kdc', `the KDC refused: ${text}`, e.errorCode);
}

/** The reply's message: a KDC-REP of the expected kind, or a KerberosClientError. */
export function decodeKdcReply(bytes: Uint8Array, kind: 'as' | 'tgs', nowMs: number, repType: typeof tgsRep): KdcRep {
  const tag = bytes[0];
  try {
    if (tag === (0x60 | MSG_TYPE.krbError)) throw kdcErrorOf(decode(krbError, bytes), nowMs);
    return decode(repType, bytes);
  } catch (e) {
    if (e instanceof Asn1Error) throw new KerberosClientError('protocol', `malformed ${kind.toUpperCase()}-REP from the KDC: ${e.message}`);
    throw e;
  }
}

/** Decrypts and checks a KDC-REP's enc-part: usage, nonce, and the sname asked for. */
export function openKdcRep(rep: KdcRep, key: { etype: number; key: Uint8Array }, usage: number, nonce: number): EncKdcRepPart {
  if (rep.encPart.etype !== key.etype) {
    throw new KerberosClientError('protocol', `the KDC's reply is encrypted with etype ${rep.encPart.etype}, the key is etype ${key.etype}`);
  }
  const plain = getEnctype(key.etype)!.decrypt(key.key, usage, rep.encPart.cipher);
  if (plain instanceof KerberosCryptoError) throw new KerberosClientError('protocol', `the KDC's reply does not decrypt (${plain.reason})`);
  let part: EncKdcRepPart;
  try {
    part = decode(encKdcRepPart, plain).value;
  } catch (e) {
    if (e instanceof Asn1Error) throw new KerberosClientError('protocol', `malformed EncKDCRepPart: ${e.message}`);
    throw e;
  }
  if (part.nonce !== nonce) throw new KerberosClientError('protocol', `the KDC's reply carries nonce ${part.nonce}, we sent ${nonce}`);
  const sk = getEnctype(part.key.keytype);
  if (sk === undefined || part.key.keyvalue.length !== sk.keySize) {
    throw new KerberosClientError('protocol', `session key of etype ${part.key.keytype} (${part.key.keyvalue.length} bytes): not one we support`);
  }
  return part;
}

export interface TgsRequestOptions {
  /** The ticket-granting ticket (krbtgt/REALM@REALM) and its session key. */
  readonly tgt: CcacheCredential;
  /** The service: components (["host", "fs.example.com"]) and realm (default: the TGT's). */
  readonly service: { readonly components: readonly string[]; readonly realm?: string };
  readonly kdcs: readonly KdcAddress[];
  /** Milliseconds since 1970, our clock corrected by the ccache's KDC offset. */
  readonly now?: number;
  readonly timeoutMs?: number;
}

/** The TGS-REQ bytes and its nonce (separate for tests). */
export function buildTgsReq(o: TgsRequestOptions, nonce: number, now: number): Uint8Array {
  const tgt = o.tgt;
  const e = getEnctype(tgt.key.etype);
  if (e === undefined) throw new KerberosClientError('ccache', `the TGT's session key is etype ${tgt.key.etype}, which we do not support`);
  const realm = o.service.realm ?? tgt.server.realm;
  const body: KdcReqBody = {
    kdcOptions: flagBits(),
    realm,
    sname: { nameType: NAME_TYPE.srvInst, nameString: [...o.service.components] },
    till: new Date(Math.max(tgt.endtime * 1000, now + 60_000)),
    nonce,
    etype: [...CLIENT_ETYPES],
  };
  const bodyDer = encode(kdcReqBody, body);
  const auth = encode(authenticator, {
    authenticatorVno: 5, crealm: tgt.client.realm, cname: asName(tgt.client),
    cksum: { cksumtype: e.checksumType, checksum: e.checksum(tgt.key.key, KDC_KEY_USAGE.tgsReqAuthCksum, bodyDer) },
    cusec: (now % 1000) * 1000, ctime: whole(now),
  });
  const ap = encode(apReqRaw, {
    pvno: 5, msgType: MSG_TYPE.apReq, apOptions: flagBits(), ticket: tgt.ticket,
    authenticator: { etype: tgt.key.etype, cipher: e.encrypt(tgt.key.key, KDC_KEY_USAGE.tgsReqAuthenticator, auth) },
  });
  return encode(tgsReq, { pvno: 5, msgType: KDC_MSG_TYPE.tgsReq, padata: [{ padataType: PA_TYPE.tgsReq, padataValue: ap }], reqBody: bodyDer });
}

/** A TGS exchange: the service ticket for `o.service`, or a KerberosClientError. */
export async function requestServiceTicket(o: TgsRequestOptions): Promise<ServiceTicket> {
  const now = o.now ?? Date.now();
  const nonce = nonce31();
  const req = buildTgsReq(o, nonce, now);
  const bytes = await sendToKdc(o.kdcs, req, o.timeoutMs);
  const rep = decodeKdcReply(bytes, 'tgs', now, tgsRep);
  const part = openKdcRep(rep, o.tgt.key, KDC_KEY_USAGE.tgsRepEncPartSessionKey, nonce);
  return {
    client: { nameType: rep.cname.nameType, realm: rep.crealm, components: rep.cname.nameString },
    server: { nameType: part.sname.nameType, realm: part.srealm, components: part.sname.nameString },
    ticket: rep.ticket,
    sessionKey: { etype: part.key.keytype, key: part.key.keyvalue },
    authtime: part.authtime,
    endtime: part.endtime,
  };
}
