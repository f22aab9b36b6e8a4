/**
 * The names and configuration files of the private Samba AD DC (samba-addc.ts): its smb.conf
 * (loopback only, every directory under the run's temp dir, only the services the tests need),
 * a krb5.conf that sends the realm to the DC's KDC on 127.0.0.1, and a client smb.conf.
 *
 * Name resolution: nothing resolves `<host>.<realm>` here (the resolver is not ours and
 * /etc/hosts is left alone), and nothing needs to: the clients are given the address
 * (`smbclient`/`rpcclient -I 127.0.0.1 <fqdn>`) and build the service principal from the name
 * they were given; the KDC is listed by address in krb5.conf, with DNS lookups of realms and
 * KDCs and host name canonicalisation (forward and reverse) turned off; and the DC itself has
 * no replication partner to find. The DC's DNS server is not run (provisioned with
 * `--dns-backend=NONE`, and without the dns and dnsupdate services): the system resolver is not
 * on loopback, so a DNS server would forward there and samba_dnsupdate would send updates there.
 */
import { join } from 'node:path';
import { shareGlobals, shareSection, type DcShareOptions, type DcSharePaths } from './samba-addc-share.js';

/** The domain a DC is provisioned with; part of the template cache key. */
export interface DcNames {
  /** Kerberos realm, upper case (FSRVP.TEST). */
  readonly realm: string;
  /** NetBIOS domain name (FSRVPTEST). */
  readonly domain: string;
  /** The DC's host name, lower case (dc1); its NetBIOS name is the upper-case form. */
  readonly host: string;
}

export const DEFAULT_NAMES: DcNames = { realm: 'FSRVP.TEST', domain: 'FSRVPTEST', host: 'dc1' };

export const dnsDomainOf = (n: DcNames): string => n.realm.toLowerCase();
export const fqdnOf = (n: DcNames): string => `${n.host}.${dnsDomainOf(n)}`;

/**
 * What `samba` runs: the file server (smbd), the DCE/RPC server, LDAP/CLDAP, the KDC (with
 * kpasswd), directory replication and KCC (idle with one DC), winbindd (smbd maps SIDs to unix
 * ids through it) and the NTP signing socket. Not: dns, dnsupdate, nbt, wrepl.
 */
export const SERVER_SERVICES = ['s3fs', 'rpc', 'ldap', 'cldap', 'kdc', 'drepl', 'kcc', 'winbindd', 'ntp_signd'];

/** TCP ports the DC listens on (all on 127.0.0.1); each must be free before it starts. */
export const DC_TCP_PORTS = [88, 135, 389, 445, 464, 3268];

/** The DC's directories under its run dir. */
// Not ntp_signd: samba makes it itself (and refuses one with other permissions than 0750).
export const RUN_DIRS = ['lock', 'cache', 'pid', 'ncalrpc', 'log', 'ccache', 'sock'] as const;

/**
 * smb.conf of the DC run in `root` (whose private/, state/ and bind-dns/ come from the template);
 * with `share`, also registry shares and [fsrvp_share] on the run's btrfs (samba-addc-share.ts).
 */
/**
 * The globals every test Samba daemon of ours shares (the DC and the member): one log file per
 * process in `logDir`, no panic action, no printing and no spoolss.
 */
export function daemonGlobals(logDir: string): Record<string, string> {
  return {
    'log file': join(logDir, 'log.%m'),
    'max log size': '0',
    'log level': '1',
    'panic action': '',
    printing: 'bsd',
    'printcap name': '/dev/null',
    'load printers': 'no',
    'disable spoolss': 'yes',
  };
}

export function dcSmbConf(
  root: string, n: DcNames, extra: Readonly<Record<string, string>> = {},
  share?: { readonly paths: DcSharePaths; readonly opts: DcShareOptions },
): string {
  const d = (x: string): string => join(root, x);
  const global: Record<string, string> = {
    'netbios name': n.host.toUpperCase(),
    workgroup: n.domain,
    realm: n.realm,
    'server role': 'active directory domain controller',
    'idmap_ldb:use rfc2307': 'yes',
    interfaces: '127.0.0.1',
    'bind interfaces only': 'yes',
    'smb ports': '445',
    'disable netbios': 'yes',
    'server services': SERVER_SERVICES.join(', '),
    'dns forwarder': '',
    // No LDAPS (port 636/3269) and no RSA key generation at every start: nothing here uses it.
    'tls enabled': 'no',
    'private dir': d('private'),
    'state directory': d('state'),
    'binddns dir': d('bind-dns'),
    'lock directory': d('lock'),
    'cache directory': d('cache'),
    'pid directory': d('pid'),
    'ncalrpc dir': d('ncalrpc'),
    'ntp signd socket directory': d('ntp_signd'),
    ...daemonGlobals(d('log')),
    // samba-dcerpcd is started by the harness (a process group we own), never on demand by smbd.
    'rpc start on demand helpers': 'no',
    // smbd sends every pipe to <sock>/np/<name>: ours is fssagentrpc, the rest are symlinks.
    'external_rpc_pipe:socket_dir': d('sock'),
    ...(share ? shareGlobals(share.opts) : {}),
    ...extra,
  };
  const section = (name: string, path: string): string[] => [`[${name}]`, `  path = ${path}`, '  read only = no', ''];
  return [
    // No `include = registry`: samba's own (source4) loadparm takes it for a file name and fails;
    // smbd serves registry shares without it (`registry shares = yes`).
    '[global]', ...Object.entries(global).map(([k, v]) => `  ${k} = ${v}`), '',
    ...section('sysvol', d('state/sysvol')),
    ...section('netlogon', d(`state/sysvol/${dnsDomainOf(n)}/scripts`)),
    ...(share ? shareSection(share.paths) : []),
  ].join('\n');
}

/** A client smb.conf (smbclient, rpcclient) for the domain: nothing but the names. */
export function clientSmbConf(n: DcNames): string {
  return ['[global]', `  workgroup = ${n.domain}`, `  realm = ${n.realm}`, '  disable netbios = yes', ''].join('\n');
}

/** krb5.conf for MIT (kinit, klist, kvno) and Samba's Heimdal clients alike (KRB5_CONFIG). */
export function krb5Conf(n: DcNames): string {
  const dns = dnsDomainOf(n);
  return [
    '[libdefaults]',
    `  default_realm = ${n.realm}`,
    '  dns_lookup_realm = false',
    '  dns_lookup_kdc = false',
    '  dns_canonicalize_hostname = false',
    '  rdns = false',
    '  forwardable = false',
    '',
    '[realms]',
    `  ${n.realm} = {`,
    '    kdc = 127.0.0.1:88',
    '    admin_server = 127.0.0.1',
    '    kpasswd_server = 127.0.0.1',
    '  }',
    '',
    '[domain_realm]',
    `  .${dns} = ${n.realm}`,
    `  ${dns} = ${n.realm}`,
    '',
  ].join('\n');
}
