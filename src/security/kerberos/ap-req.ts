/**
 * Checking an AP-REQ (RFC 4120 §3.2.3, RFC 4121 §4.1.1, MS-KILE 3.4.5.1) with the service's
 * keytab: which key, the ticket decrypted and its times, the authenticator decrypted and matched
 * to the ticket, its clock skew and replay, the GSS checksum (0x8003) and its flags, the
 * initiator's subkey and sequence number, and the PAC (pac.ts). The result is everything the
 * acceptor needs to answer, or a rejection reason for the log. Never throws on any input.
 */
import { Asn1Error, decode } from '../asn1/index.js';
import { getEnctype } from './crypto.js';
import { KerberosCryptoError } from './errors.js';
import { findKeytabEntry, type KeytabEntry } from './keytab.js';
import {
  AP_OPTION, GSS_CHECKSUM_TYPE, GSS_FLAG, KEY_USAGE, TICKET_FLAG, apReq, authenticator, encTicketPart, findPacs, flagSet,
  principalText, type ApReq, type Authenticator, type EncTicketPart, type EncryptionKey,
} from './messages.js';
import { PacError, fileTimeOf, pacIdentity, parsePac, verifyServerSignature, type PacIdentity } from './pac.js';
import { replayKey, type ReplayCache } from './replay-cache.js';

export interface ApReqPolicy {
  /** Keys of the service principals this host may decrypt tickets for. */
  readonly keys: readonly KeytabEntry[];
  /** Accepted server principals as text ("host/fs.example.com" or with "@REALM"); absent = any in `keys`. */
  readonly principals?: readonly string[];
  readonly clockSkewMs: number;
  readonly now: number;
  readonly replay: ReplayCache;
}

export interface VerifiedApReq {
  readonly apReq: ApReq;
  readonly ticketPart: EncTicketPart;
  readonly authenticator: Authenticator;
  /** The ticket session key (etype, bytes). */
  readonly sessionKey: { readonly etype: number; readonly key: Uint8Array };
  /** The initiator's subkey when it sent one. */
  readonly initiatorSubkey?: { readonly etype: number; readonly key: Uint8Array };
  /** GSS flags from the 0x8003 checksum (0 without one). */
  readonly gssFlags: number;
  readonly mutualRequired: boolean;
  /** The initiator's first sequence number (0 when the authenticator has none). */
  readonly initiatorSeq: number;
  readonly client: string;
  readonly server: string;
  readonly identity: PacIdentity;
}

export type ApReqResult = { readonly ok: true; readonly value: VerifiedApReq } | { readonly ok: false; readonly reason: string };

class Reject extends Error {}
const fail = (reason: string): never => {
  throw new Reject(reason);
};

const sameText = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function principalAccepted(policy: ApReqPolicy, name: string, realm: string): boolean {
  if (policy.principals === undefined) return true;
  return policy.principals.some((p) => {
    const at = p.lastIndexOf('@');
    return at < 0 ? sameText(p, name) : sameText(p.slice(0, at), name) && sameText(p.slice(at + 1), realm);
  });
}

/** The service key for the ticket: exact principal, realm, etype and kvno (highest when the ticket names none). */
function serviceKey(policy: ApReqPolicy, req: ApReq): KeytabEntry {
  const t = req.ticket;
  const components = t.sname.nameString;
  const name = principalText(t.sname, t.realm);
  if (!principalAccepted(policy, components.join('/'), t.realm)) fail(`ticket for ${name}, which this service does not accept`);
  const keytab = { version: 2 as const, entries: policy.keys };
  const etype = t.encPart.etype;
  const kvno = t.encPart.kvno;
  const entry = findKeytabEntry(keytab, { components, realm: t.realm, etype, ...(kvno !== undefined ? { kvno } : {}) });
  if (entry !== undefined) return entry;
  const same = policy.keys.filter((k) => k.principal.realm === t.realm && k.principal.components.join('/') === components.join('/'));
  if (same.length === 0) return fail(`no key for ${name} in the keytab (wrong service or realm)`);
  const have = same.map((k) => `kvno ${k.kvno} etype ${k.etype}`).join(', ');
  return fail(`no key for ${name} with kvno ${kvno ?? '(none)'} etype ${etype} in the keytab (it has ${have}); rekeyed account?`);
}

function decrypt(key: { etype: number; key: Uint8Array }, etypeOfData: number, usage: number, cipher: Uint8Array, what: string): Uint8Array {
  if (etypeOfData !== key.etype) fail(`${what} encrypted with etype ${etypeOfData}, the key is etype ${key.etype}`);
  const e = getEnctype(key.etype);
  if (e === undefined) return fail(`${what}: unsupported etype ${key.etype}`);
  const plain = e.decrypt(key.key, usage, cipher);
  if (plain instanceof KerberosCryptoError) return fail(`${what} does not decrypt (${plain.code}: wrong key or altered): ${plain.reason}`);
  return plain;
}

function asKey(k: EncryptionKey, what: string): { etype: number; key: Uint8Array } {
  const e = getEnctype(k.keytype);
  if (e === undefined) return fail(`${what} of unsupported etype ${k.keytype}`);
  if (k.keyvalue.length !== e.keySize) fail(`${what} of ${k.keyvalue.length} bytes for etype ${k.keytype}`);
  return { etype: k.keytype, key: k.keyvalue };
}

const samePrincipal = (a: { nameString: string[] }, b: { nameString: string[] }): boolean =>
  a.nameString.length === b.nameString.length && a.nameString.every((c, i) => c === b.nameString[i]);

/** RFC 4121 §4.1.1: Lgth (16), Bnd, Flags, then optional delegation and extensions. Returns the flags. */
function gssChecksumFlags(a: Authenticator, sessionKey: { etype: number; key: Uint8Array }): number {
  const ck = a.cksum;
  if (ck === undefined) return 0; // MS-KILE 3.4.5.1: a missing checksum means no flags
  if (ck.cksumtype !== GSS_CHECKSUM_TYPE) {
    // An ordinary keyed checksum over empty data (some SMB clients): proves nothing was bound.
    const e = getEnctype(sessionKey.etype);
    if (e === undefined || ck.cksumtype !== e.checksumType || !e.verifyChecksum(sessionKey.key, KEY_USAGE.apReqAuthCksum, new Uint8Array(0), ck.checksum)) {
      fail(`authenticator checksum of type ${ck.cksumtype} does not verify`);
    }
    return GSS_FLAG.replay | GSS_FLAG.sequence;
  }
  const b = ck.checksum;
  if (b.length < 24) fail(`GSS checksum of ${b.length} bytes (at least 24)`);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  if (v.getUint32(0, true) !== 16) fail(`GSS checksum channel-binding length ${v.getUint32(0, true)}, not 16`);
  return v.getUint32(20, true);
}

function checkPac(tp: EncTicketPart, key: KeytabEntry): PacIdentity {
  const pacs = findPacs(tp.authorizationData);
  if (pacs.length === 0) fail('ticket without a PAC: refused (this server maps clients only through the PAC; Samba would need a local account lookup)');
  if (pacs.length > 1) fail(`ticket with ${pacs.length} PACs`);
  const bytes = pacs[0]!;
  const pac = parsePac(bytes);
  const bad = verifyServerSignature(bytes, pac, key);
  if (bad !== undefined) fail(bad);
  if (pac.clientInfo.clientId !== fileTimeOf(tp.authtime)) fail('PAC client information is for another logon (ClientId differs from the ticket authtime)');
  const cname = tp.cname.nameString.join('/');
  if (!sameText(pac.clientInfo.name, cname)) fail(`PAC is for ${JSON.stringify(pac.clientInfo.name)}, the ticket for ${JSON.stringify(cname)}`);
  return pacIdentity(pac);
}

function verify(token: Uint8Array, policy: ApReqPolicy): VerifiedApReq {
  const req = decode(apReq, token);
  const entry = serviceKey(policy, req);
  const tkey = { etype: entry.etype, key: entry.key };
  const server = principalText(req.ticket.sname, req.ticket.realm);
  const tp = decode(encTicketPart, decrypt(tkey, req.ticket.encPart.etype, KEY_USAGE.ticket, req.ticket.encPart.cipher, `ticket for ${server}`));
  const client = principalText(tp.cname, tp.crealm);
  const { now, clockSkewMs: skew } = policy;
  if (flagSet(tp.flags, TICKET_FLAG.invalid)) fail(`ticket of ${client} is marked invalid (postdated, not yet validated)`);
  const start = (tp.starttime ?? tp.authtime).getTime();
  if (start - skew > now) fail(`ticket of ${client} not valid before ${new Date(start).toISOString()} (clock skew?)`);
  if (tp.endtime.getTime() + skew < now) fail(`ticket of ${client} expired at ${tp.endtime.toISOString()}`);
  const sessionKey = asKey(tp.key, 'ticket session key');
  const auth = decode(authenticator, decrypt(sessionKey, req.authenticator.etype, KEY_USAGE.apReqAuthenticator, req.authenticator.cipher, 'authenticator'));
  if (auth.crealm !== tp.crealm || !samePrincipal(auth.cname, tp.cname)) {
    fail(`authenticator names ${principalText(auth.cname, auth.crealm)}, the ticket ${client}`);
  }
  const ctime = auth.ctime.getTime();
  if (Math.abs(ctime - now) > skew) fail(`authenticator of ${client} at ${auth.ctime.toISOString()} is outside the clock skew of ${skew / 1000} s`);
  const gssFlags = gssChecksumFlags(auth, sessionKey);
  const initiatorSubkey = auth.subkey === undefined ? undefined : asKey(auth.subkey, 'initiator subkey');
  const identity = checkPac(tp, entry);
  // Last: only an authenticator that passed every check takes a place in the cache.
  if (!policy.replay.check(replayKey(client, server, ctime, auth.cusec), ctime + skew, now)) fail(`replayed authenticator of ${client} (ctime ${auth.ctime.toISOString()}.${auth.cusec})`);
  return {
    apReq: req, ticketPart: tp, authenticator: auth, sessionKey, gssFlags,
    ...(initiatorSubkey ? { initiatorSubkey } : {}),
    mutualRequired: flagSet(req.apOptions, AP_OPTION.mutualRequired),
    initiatorSeq: (auth.seqNumber ?? 0) >>> 0,
    client, server, identity,
  };
}

/** Checks an AP-REQ (the raw message, no GSS framing). Never throws. */
export function verifyApReq(token: Uint8Array, policy: ApReqPolicy): ApReqResult {
  try {
    return { ok: true, value: verify(token, policy) };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, reason: e.message };
    if (e instanceof Asn1Error) return { ok: false, reason: `malformed Kerberos message: ${e.message}` };
    if (e instanceof PacError) return { ok: false, reason: `malformed PAC: ${e.message}` };
    if (e instanceof KerberosCryptoError) return { ok: false, reason: `Kerberos crypto: ${e.message}` };
    return { ok: false, reason: `AP-REQ check failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}
