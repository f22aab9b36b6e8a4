/**
 * The KDC's clock, for `fsrvpd doctor`: an AS-REQ without pre-authentication (RFC 4120 §3.1.1)
 * for a principal of ours gets a KRB-ERROR (PREAUTH_REQUIRED, or CLIENT_PRINCIPAL_UNKNOWN, or
 * SKEW) whose stime/susec is the KDC's time. Nothing is decrypted and no password is involved.
 * The offset is taken against the middle of the round trip.
 */
import { Asn1Error, decode, encode } from '../asn1/index.js';
import { CLIENT_ETYPES, nonce31 } from './kdc-client.js';
import { KDC_MSG_TYPE, NAME_TYPE, asReq, flagBits, kdcReqBody } from './kdc-messages.js';
import { KerberosClientError, sendToKdc } from './kdc-transport.js';
import type { KdcAddress } from './krb5-conf.js';
import { MSG_TYPE, krbError } from './messages.js';

export interface KdcClock {
  /** KDC time minus ours, in milliseconds (positive: the KDC is ahead). */
  readonly offsetMs: number;
  readonly kdcTime: Date;
  /** The KRB-ERROR code the KDC answered with. */
  readonly errorCode: number;
  readonly roundTripMs: number;
}

/** The AS-REQ bytes for `client@realm` asking for krbtgt/realm, without padata. */
export function buildProbeAsReq(client: readonly string[], realm: string, nonce: number, now: number): Uint8Array {
  const body = encode(kdcReqBody, {
    kdcOptions: flagBits(),
    cname: { nameType: NAME_TYPE.principal, nameString: [...client] },
    realm,
    sname: { nameType: NAME_TYPE.srvInst, nameString: ['krbtgt', realm] },
    till: new Date(Math.floor(now / 1000) * 1000 + 3600_000),
    nonce,
    etype: [...CLIENT_ETYPES],
  });
  return encode(asReq, { pvno: 5, msgType: KDC_MSG_TYPE.asReq, reqBody: body });
}

/** The KDC's time from its answer to the probe, or a KerberosClientError. */
export function kdcClockFrom(reply: Uint8Array, sentAt: number, receivedAt: number): KdcClock {
  if (reply[0] !== (0x60 | MSG_TYPE.krbError)) {
    throw new KerberosClientError('protocol', `the KDC answered an AS-REQ without pre-authentication with message 0x${(reply[0] ?? 0).toString(16)}, not a KRB-ERROR`);
  }
  let e;
  try {
    e = decode(krbError, reply);
  } catch (err) {
    if (err instanceof Asn1Error) throw new KerberosClientError('protocol', `malformed KRB-ERROR from the KDC: ${err.message}`);
    throw err;
  }
  const kdcMs = e.stime.getTime() + Math.floor(e.susec / 1000);
  return { offsetMs: kdcMs - (sentAt + receivedAt) / 2, kdcTime: new Date(kdcMs), errorCode: e.errorCode, roundTripMs: receivedAt - sentAt };
}

/** Asks the first KDC of `kdcs` that answers for its time. */
export async function kdcClock(kdcs: readonly KdcAddress[], client: readonly string[], realm: string, timeoutMs = 5000): Promise<KdcClock> {
  const sentAt = Date.now();
  const reply = await sendToKdc(kdcs, buildProbeAsReq(client, realm, nonce31(), sentAt), timeoutMs);
  return kdcClockFrom(reply, sentAt, Date.now());
}
