/**
 * Getting the service ticket our client tools authenticate with: from the credential cache when
 * it already holds one for the service, else by a TGS exchange with the cache's TGT, sent to the
 * KDC given explicitly or listed for the realm in krb5.conf (krb5-conf.ts). The new ticket is not
 * written back to the cache.
 *
 * The service principal: "service/host" or "service/host@REALM". Its realm, when the SPN names
 * none: the explicit `realm`, else krb5.conf's [domain_realm] entry for the host, else the cache's
 * client realm (cross-realm referrals are not followed: the cache needs a TGT for that realm).
 * `spnFor(server)` makes host/<server>.
 */
import createDebug from 'debug';
import { ccacheName, loadCcache } from './ccache-name.js';
import { CcacheError, findCredential, findTgt, principalString } from './ccache.js';
import { requestServiceTicket, ticketOf, type ServiceTicket } from './kdc-client.js';
import { KerberosClientError } from './kdc-transport.js';
import { kdcsForRealm, loadKrb5Conf, parseKdcAddress, realmForHost, type KdcAddress, type Krb5Conf } from './krb5-conf.js';

const log = createDebug('fsrvp:kerberos:client');

export interface TicketRequest {
  /** Service principal: "host/fs.example.com" or with "@REALM". */
  readonly spn: string;
  /** Cache name (FILE:path, DIR:dir, DIR::path, KCM:[name] or a path); default KRB5CCNAME, else /tmp/krb5cc_<uid>. */
  readonly ccache?: string;
  /** Realm of the service (and of the TGT used); default as above. */
  readonly realm?: string;
  /** KDC "host[:port]"; default the realm's kdc entries in krb5.conf. */
  readonly kdc?: string;
  /** Environment for KRB5CCNAME / KRB5_CONFIG (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: number;
  readonly timeoutMs?: number;
}

/** "cifs/fs@EXAMPLE.COM" -> components and realm (undefined when absent). */
export function parseSpn(spn: string): { components: string[]; realm?: string } {
  const at = spn.lastIndexOf('@');
  const name = at > 0 ? spn.slice(0, at) : spn;
  const realm = at > 0 ? spn.slice(at + 1) : undefined;
  const components = name.split('/').filter((c) => c !== '');
  if (components.length === 0 || (realm !== undefined && realm === '')) throw new KerberosClientError('config', `bad service principal ${JSON.stringify(spn)}`);
  return { components, ...(realm !== undefined ? { realm } : {}) };
}

/** host/<server> (lower case), the principal a file server's keytab holds. */
export const spnFor = (server: string, service = 'host'): string => `${service}/${server.toLowerCase()}`;

async function kdcList(realm: string, o: TicketRequest, conf: () => Promise<Krb5Conf>): Promise<KdcAddress[]> {
  if (o.kdc !== undefined) {
    const a = parseKdcAddress(o.kdc);
    if (a === undefined) throw new KerberosClientError('config', `bad KDC address ${JSON.stringify(o.kdc)} (host[:port])`);
    return [a];
  }
  const list = kdcsForRealm(await conf(), realm);
  if (list.length === 0) {
    throw new KerberosClientError('config', `no KDC for realm ${realm}: add "${realm} = { kdc = host:88 }" under [realms] in krb5.conf (KRB5_CONFIG) or give --kdc HOST[:PORT]`);
  }
  return list;
}

/** The service ticket for `o.spn` (from the cache, or from the KDC); KerberosClientError when impossible. */
export async function acquireServiceTicket(o: TicketRequest): Promise<ServiceTicket> {
  const env = o.env ?? process.env;
  let loaded: Promise<Krb5Conf> | undefined;
  const conf = (): Promise<Krb5Conf> => (loaded ??= loadKrb5Conf(env));
  let path: string;
  let cc;
  try {
    ({ where: path, ccache: cc } = await loadCcache(ccacheName(o.ccache, env), conf));
  } catch (e) {
    if (e instanceof CcacheError) throw new KerberosClientError('ccache', e.message);
    throw e;
  }
  const spn = parseSpn(o.spn);
  const host = spn.components[1];
  const realm = spn.realm ?? o.realm ?? (host !== undefined ? realmForHost(await conf(), host) : undefined) ?? cc.principal.realm;
  const offsetMs = cc.kdcOffset ? cc.kdcOffset.seconds * 1000 + Math.floor(cc.kdcOffset.microseconds / 1000) : 0;
  const now = (o.now ?? Date.now()) + offsetMs;
  const nowSec = Math.floor(now / 1000);
  const service = { realm, components: spn.components };
  const cached = findCredential(cc, service, nowSec);
  if (cached !== undefined) {
    log('service ticket for %s from %s', principalString({ ...service, nameType: 0 }), path);
    return ticketOf(cached);
  }
  const tgt = findTgt(cc, realm, nowSec);
  if (typeof tgt === 'string') throw new KerberosClientError('ccache', `${path}: ${tgt}`);
  const kdcs = await kdcList(realm, o, conf);
  log('TGS-REQ for %s as %s to %s', spn.components.join('/'), principalString(cc.principal), kdcs.map((k) => `${k.host}:${k.port}`).join(', '));
  return requestServiceTicket({
    tgt, service, kdcs, now, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
}
