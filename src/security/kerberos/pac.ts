/**
 * The Privilege Attribute Certificate (MS-PAC) a service ticket carries: the PACTYPE buffer
 * directory (2.3), the logon information (KERB_VALIDATION_INFO, 2.5, NDR: pac-idl.ts), the client
 * information (2.7), UPN_DNS_INFO (2.10, optional) and the signatures (2.8).
 *
 * What an acceptor can check and does:
 * - the server signature (type 6): a keyed checksum with the service's own key (the key that
 *   decrypted the ticket), key usage 17, over the whole PAC with both signature fields zeroed;
 * - the client information: its ClientId must be the ticket's authtime and its name the
 *   ticket's client name (Samba's checks), so a PAC cannot be moved to another ticket.
 * The KDC signature (type 7) is keyed with krbtgt's key, which a member server does not have:
 * it is NOT verified here (a domain controller could, through netlogon; we do not ask it).
 *
 * Every parser here is total: any bytes give a value or a PacError.
 */
import { NdrError } from '../../ndr/index.js';
import { getEnctype } from './crypto.js';
import { KEY_USAGE } from './messages.js';
import { USER_FLAGS, decodeLogonInfo, type KerbValidationInfo } from './pac-idl.js';

export const PAC_TYPE = {
  logonInfo: 1, credentials: 2, serverChecksum: 6, kdcChecksum: 7, clientInfo: 10, delegation: 11, upnDnsInfo: 12,
  clientClaims: 13, deviceInfo: 14, deviceClaims: 15, ticketChecksum: 16, attributes: 17, requestor: 18, fullChecksum: 19,
} as const;

export class PacError extends Error {
  override readonly name = 'PacError';
}

export interface PacBuffer {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly data: Uint8Array;
}

export interface PacSignature {
  readonly type: number;
  readonly signature: Uint8Array;
  /** Where the signature bytes sit in the whole PAC (to zero them for verification). */
  readonly at: number;
}

export interface UpnDnsInfo {
  readonly upn: string;
  readonly dnsDomain: string;
  readonly flags: number;
}

export interface Pac {
  readonly buffers: readonly PacBuffer[];
  readonly logonInfo: KerbValidationInfo;
  readonly clientInfo: { readonly clientId: bigint; readonly name: string };
  readonly serverSignature: PacSignature;
  readonly kdcSignature?: PacSignature;
  readonly upnDnsInfo?: UpnDnsInfo;
}

const MAX_BUFFERS = 64;

/** Signature length per checksum type: hmac-sha1-96-aes128/256 12, hmac-md5 16. */
const SIGNATURE_SIZE: ReadonlyMap<number, number> = new Map([[15, 12], [16, 12], [-138, 16]]);

function utf16le(b: Uint8Array): string {
  if (b.length % 2 !== 0) throw new PacError('UTF-16 string of an odd byte length');
  return Buffer.from(b).toString('utf16le');
}

function only(buffers: readonly PacBuffer[], type: number, required: boolean): PacBuffer | undefined {
  const found = buffers.filter((b) => b.type === type);
  if (found.length > 1) throw new PacError(`${found.length} PAC buffers of type ${type}`);
  if (required && found.length === 0) throw new PacError(`no PAC buffer of type ${type}`);
  return found[0];
}

function signature(b: PacBuffer): PacSignature {
  if (b.size < 4) throw new PacError(`signature buffer of ${b.size} bytes`);
  const type = new DataView(b.data.buffer, b.data.byteOffset, b.data.length).getInt32(0, true);
  const size = SIGNATURE_SIZE.get(type);
  if (size === undefined) throw new PacError(`signature of unsupported checksum type ${type}`);
  if (b.size < 4 + size) throw new PacError(`signature buffer of ${b.size} bytes for checksum type ${type}`);
  return { type, signature: b.data.slice(4, 4 + size), at: b.offset + 4 };
}

function clientInfo(b: PacBuffer): Pac['clientInfo'] {
  if (b.size < 10) throw new PacError(`PAC_CLIENT_INFO of ${b.size} bytes`);
  const v = new DataView(b.data.buffer, b.data.byteOffset, b.data.length);
  const clientId = v.getBigUint64(0, true);
  const n = v.getUint16(8, true);
  if (10 + n > b.size) throw new PacError(`PAC_CLIENT_INFO name of ${n} bytes in ${b.size}`);
  return { clientId, name: utf16le(b.data.subarray(10, 10 + n)) };
}

function upnDnsInfo(b: PacBuffer): UpnDnsInfo {
  if (b.size < 12) throw new PacError(`UPN_DNS_INFO of ${b.size} bytes`);
  const v = new DataView(b.data.buffer, b.data.byteOffset, b.data.length);
  const field = (lenAt: number): string => {
    const len = v.getUint16(lenAt, true);
    const off = v.getUint16(lenAt + 2, true);
    if (off + len > b.size) throw new PacError(`UPN_DNS_INFO string ${off}+${len} past ${b.size}`);
    return utf16le(b.data.subarray(off, off + len));
  };
  return { upn: field(0), dnsDomain: field(4), flags: v.getUint32(8, true) };
}

/** Parses a PAC (AD-WIN2K-PAC ad-data). Throws only PacError. */
export function parsePac(pac: Uint8Array): Pac {
  if (pac.length < 8) throw new PacError(`PAC of ${pac.length} bytes`);
  const v = new DataView(pac.buffer, pac.byteOffset, pac.length);
  const count = v.getUint32(0, true);
  const version = v.getUint32(4, true);
  if (version !== 0) throw new PacError(`PACTYPE version ${version}`);
  if (count === 0 || count > MAX_BUFFERS) throw new PacError(`PACTYPE with ${count} buffers`);
  if (8 + count * 16 > pac.length) throw new PacError(`${count} buffer entries do not fit in ${pac.length} bytes`);
  const buffers: PacBuffer[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + i * 16;
    const type = v.getUint32(at, true);
    const size = v.getUint32(at + 4, true);
    const offset = v.getBigUint64(at + 8, true);
    if (offset % 8n !== 0n) throw new PacError(`PAC buffer ${type} at unaligned offset ${offset}`);
    if (offset < BigInt(8 + count * 16) || offset + BigInt(size) > BigInt(pac.length)) {
      throw new PacError(`PAC buffer ${type} (${size} bytes at ${offset}) outside the PAC`);
    }
    const off = Number(offset);
    buffers.push({ type, offset: off, size, data: pac.subarray(off, off + size) });
  }
  let logonInfo: KerbValidationInfo;
  try {
    logonInfo = decodeLogonInfo(only(buffers, PAC_TYPE.logonInfo, true)!.data);
  } catch (e) {
    if (e instanceof NdrError) throw new PacError(`KERB_VALIDATION_INFO: ${e.message}`);
    throw e;
  }
  const kdc = only(buffers, PAC_TYPE.kdcChecksum, false);
  const upn = only(buffers, PAC_TYPE.upnDnsInfo, false);
  return {
    buffers,
    logonInfo,
    clientInfo: clientInfo(only(buffers, PAC_TYPE.clientInfo, true)!),
    serverSignature: signature(only(buffers, PAC_TYPE.serverChecksum, true)!),
    ...(kdc ? { kdcSignature: signature(kdc) } : {}),
    ...(upn ? { upnDnsInfo: upnDnsInfo(upn) } : {}),
  };
}

/**
 * Checks the server signature with the service key (the ticket's key): undefined when good, else
 * why not. The checksum type must be the one that key's enctype computes.
 */
export function verifyServerSignature(pacBytes: Uint8Array, pac: Pac, serviceKey: { readonly etype: number; readonly key: Uint8Array }): string | undefined {
  const e = getEnctype(serviceKey.etype);
  if (e === undefined) return `service key of unsupported etype ${serviceKey.etype}`;
  const sig = pac.serverSignature;
  if (sig.type !== e.checksumType) return `PAC server checksum type ${sig.type} does not fit a ${e.name} service key`;
  const zeroed = Uint8Array.from(pacBytes);
  zeroed.fill(0, sig.at, sig.at + sig.signature.length);
  if (pac.kdcSignature) zeroed.fill(0, pac.kdcSignature.at, pac.kdcSignature.at + pac.kdcSignature.signature.length);
  return e.verifyChecksum(serviceKey.key, KEY_USAGE.pacChecksum, zeroed, sig.signature) ? undefined : 'PAC server checksum does not verify (PAC altered or not for this service)';
}

/** FILETIME (100 ns since 1601) of a Date, as PAC_CLIENT_INFO.ClientId holds the authtime. */
export const fileTimeOf = (d: Date): bigint => BigInt(d.getTime()) * 10000n + 116444736000000000n;

export interface PacIdentity {
  readonly userSid: string;
  readonly primaryGroupSid: string;
  /** User, primary group, domain groups, extra SIDs and resource groups, in that order, no repeats. */
  readonly sids: readonly string[];
  readonly accountName: string;
  readonly domainName: string;
  readonly upn?: string;
  readonly dnsDomain?: string;
}

/** Who the PAC says the client is. Throws PacError when the domain SID is missing. */
export function pacIdentity(pac: Pac): PacIdentity {
  const li = pac.logonInfo;
  const domain = li.LogonDomainId;
  if (domain === null) throw new PacError('KERB_VALIDATION_INFO without LogonDomainId');
  const userSid = `${domain}-${li.UserId >>> 0}`;
  const primaryGroupSid = `${domain}-${li.PrimaryGroupId >>> 0}`;
  const sids = new Set<string>([userSid, primaryGroupSid]);
  for (const g of li.GroupIds ?? []) sids.add(`${domain}-${g.RelativeId >>> 0}`);
  if ((li.UserFlags & USER_FLAGS.extraSids) !== 0 || (li.ExtraSids?.length ?? 0) > 0) {
    for (const x of li.ExtraSids ?? []) if (x.Sid !== null) sids.add(x.Sid);
  }
  if (li.ResourceGroupDomainSid !== null) {
    for (const g of li.ResourceGroupIds ?? []) sids.add(`${li.ResourceGroupDomainSid}-${g.RelativeId >>> 0}`);
  }
  return {
    userSid, primaryGroupSid, sids: [...sids], accountName: li.EffectiveName, domainName: li.LogonDomainName,
    ...(pac.upnDnsInfo ? { upn: pac.upnDnsInfo.upn, dnsDomain: pac.upnDnsInfo.dnsDomain } : {}),
  };
}
