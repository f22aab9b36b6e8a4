/**
 * Talking to a KDC over TCP (RFC 4120 §7.2.2): each message is preceded by its length as a
 * 4-byte big-endian number whose top bit is reserved (a reply with it set is refused). KDCs are
 * tried in order until one answers; an answer is bounded (1 MiB) and must come within the
 * timeout. Also the client side's error type and the KRB-ERROR codes worth a sentence.
 */
import { connect } from 'node:net';
import createDebug from 'debug';
import type { KdcAddress } from './krb5-conf.js';

const log = createDebug('fsrvp:kerberos:kdc');

export type KerberosClientCode =
  /** No usable credential cache, or no ticket-granting ticket in it. */
  | 'ccache'
  /** No KDC known for the realm, or a bad option. */
  | 'config'
  /** No KDC could be reached, or it did not answer in time. */
  | 'network'
  /** The KDC answered with a KRB-ERROR (`krbError` holds its code). */
  | 'kdc'
  /** A reply that does not decode, decrypt or match the request. */
  | 'protocol';

export class KerberosClientError extends Error {
  override readonly name = 'KerberosClientError';
  constructor(readonly code: KerberosClientCode, message: string, readonly krbError?: number) {
    super(message);
  }
}

/** KRB-ERROR codes (RFC 4120 §7.5.9) and what they mean to someone running our client. */
export const KRB_ERROR: Readonly<Record<number, string>> = {
  3: 'KDC_ERR_BAD_PVNO: unsupported protocol version',
  6: 'KDC_ERR_C_PRINCIPAL_UNKNOWN: the client principal is not known to the KDC',
  7: 'KDC_ERR_S_PRINCIPAL_UNKNOWN: the service principal is not known to the KDC (check the SPN / --server name)',
  12: 'KDC_ERR_POLICY: refused by the KDC\'s policy',
  14: 'KDC_ERR_ETYPE_NOSUPP: no common encryption type (we offer aes256, aes128 and rc4-hmac)',
  18: 'KDC_ERR_CLIENT_REVOKED: the account is disabled, locked out or expired',
  23: 'KDC_ERR_KEY_EXPIRED: the password has expired',
  24: 'KDC_ERR_PREAUTH_FAILED: wrong password',
  25: 'KDC_ERR_PREAUTH_REQUIRED: pre-authentication required',
  31: 'KRB_AP_ERR_BAD_INTEGRITY: the ticket or authenticator does not decrypt (stale ticket after a password change?)',
  32: 'KRB_AP_ERR_TKT_EXPIRED: the ticket-granting ticket has expired (run kinit again)',
  33: 'KRB_AP_ERR_TKT_NYV: the ticket is not yet valid',
  34: 'KRB_AP_ERR_REPEAT: the KDC saw this authenticator before (replay)',
  37: 'KRB_AP_ERR_SKEW: clock skew too great between this host and the KDC',
  41: 'KRB_AP_ERR_MODIFIED: the ticket does not decrypt with the KDC\'s key',
  60: 'KRB_ERR_GENERIC',
  68: 'KDC_ERR_WRONG_REALM: the KDC is not for this realm',
};

export const krbErrorText = (code: number): string => KRB_ERROR[code] ?? `KRB-ERROR ${code}`;

export const MAX_KDC_REPLY = 1 << 20;

/** One request to one KDC: the reply's bytes (without the length prefix). */
export function kdcRoundTrip(addr: KdcAddress, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: addr.host, port: addr.port });
    const chunks: Buffer[] = [];
    let have = 0;
    let want = -1;
    const fail = (why: string): void => {
      sock.destroy();
      reject(new KerberosClientError('network', `KDC ${addr.host}:${addr.port}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(request.length);
      sock.write(Buffer.concat([head, request]));
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (want < 0 && have >= 4) {
        const all = Buffer.concat(chunks);
        const n = all.readUInt32BE(0);
        if ((n & 0x80000000) !== 0) return fail('reply length with the reserved bit set');
        if (n > MAX_KDC_REPLY) return fail(`reply of ${n} bytes (over ${MAX_KDC_REPLY})`);
        want = n;
      }
      if (want >= 0 && have >= 4 + want) {
        clearTimeout(timer);
        sock.destroy();
        resolve(new Uint8Array(Buffer.concat(chunks).subarray(4, 4 + want)));
      }
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      fail(e.message);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      if (want < 0 || have < 4 + want) fail(`connection closed after ${have} bytes of the reply`);
    });
  });
}

/** Sends `request` to the first KDC of `kdcs` that answers. */
export async function sendToKdc(kdcs: readonly KdcAddress[], request: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array> {
  if (kdcs.length === 0) throw new KerberosClientError('config', 'no KDC address');
  const errors: string[] = [];
  for (const k of kdcs) {
    try {
      log('request of %d bytes to %s:%d', request.length, k.host, k.port);
      return await kdcRoundTrip(k, request, timeoutMs);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  throw new KerberosClientError('network', `no KDC answered: ${errors.join('; ')}`);
}
