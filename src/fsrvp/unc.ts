/**
 * UNC share names as FSRVP clients send them: `\\host\share` with an optional trailing `\`.
 *
 * Parsing is purely lexical (ECOSYSTEM.md §7, "parse, never resolve"): nothing here looks a
 * name up, resolves a host or touches a path. The host part is only compared with the names
 * this server is configured to answer to; a foreign host is treated like a missing share.
 *
 * Leniency (FSRVP.md §8, §12, §13): the host may be an IP (smbtorture uses the binding host),
 * the upper-case NetBIOS name (rpcclient) or an FQDN, case-insensitively; a trailing `\` is
 * normal. Refused: NUL and control characters, `/`, the `\\?\` and `\\.\` device forms, `.`/`..`
 * components, `@GMT-` tokens, anything below the share component, and over-long names.
 */

/** Longest UNC accepted, in UTF-16 code units (Windows' MAX_PATH is 260; shares are shorter). */
export const MAX_UNC_LENGTH = 1024;
/** Longest host part (a DNS name is at most 253 characters; a bracketed IPv6 literal fits). */
export const MAX_HOST_LENGTH = 255;
/** Longest share name (Windows NNLEN is 80). */
export const MAX_SHARE_LENGTH = 80;

export interface ParsedUnc {
  /** The host part exactly as given. */
  readonly host: string;
  /** The share part exactly as given (case preserved; look it up case-insensitively). */
  readonly share: string;
  /** Whether the UNC ended in a `\` after the share component. */
  readonly trailingSlash: boolean;
}

export type UncResult =
  | { readonly ok: true; readonly unc: ParsedUnc }
  | { readonly ok: false; readonly reason: string };

const HOST_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;
const IPV6_BRACKETED = /^\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?\]$/;
const IPV6_BARE = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?$/;
/** Characters Windows does not allow in share names, plus the control range. */
const SHARE_FORBIDDEN = /["/\\[\]:|<>+=;,*?\u0000-\u001f\u007f]/;
const GMT_TOKEN = /@gmt-/i;

function fail(reason: string): UncResult {
  return { ok: false, reason };
}

function checkHost(host: string): string | undefined {
  if (host === '') return 'empty host';
  if (host === '?' || host === '.') return `device path form \\\\${host}\\ is not a share`;
  if (host.length > MAX_HOST_LENGTH) return `host longer than ${MAX_HOST_LENGTH} characters`;
  if (host.includes('..')) return 'empty label in host';
  if (HOST_NAME.test(host)) return undefined;
  if (IPV6_BRACKETED.test(host) || IPV6_BARE.test(host)) return undefined;
  return 'host contains characters not allowed in a host name';
}

function checkShare(share: string): string | undefined {
  if (share === '') return 'empty share name';
  if (share.length > MAX_SHARE_LENGTH) return `share name longer than ${MAX_SHARE_LENGTH} characters`;
  if (share === '.' || share === '..') return 'share name is a relative path component';
  if (SHARE_FORBIDDEN.test(share)) return 'share name contains a forbidden character';
  if (GMT_TOKEN.test(share)) return 'share name contains an @GMT- token';
  return undefined;
}

/** Splits `\\host\share[\]` lexically. Never resolves or touches anything. */
export function parseUnc(text: string): UncResult {
  if (text.length > MAX_UNC_LENGTH) return fail(`UNC longer than ${MAX_UNC_LENGTH} characters`);
  if (text.includes('\0')) return fail('UNC contains NUL');
  if (/[\u0001-\u001f\u007f]/.test(text)) return fail('UNC contains a control character');
  if (text.includes('/')) return fail('UNC contains "/"');
  if (!text.startsWith('\\\\')) return fail('UNC does not start with \\\\');
  const body = text.slice(2);
  const hostEnd = body.indexOf('\\');
  if (hostEnd < 0) return fail('UNC has no share component');
  const host = body.slice(0, hostEnd);
  const hostProblem = checkHost(host);
  if (hostProblem) return fail(hostProblem);
  const rest = body.slice(hostEnd + 1);
  const shareEnd = rest.indexOf('\\');
  const share = shareEnd < 0 ? rest : rest.slice(0, shareEnd);
  const shareProblem = checkShare(share);
  if (shareProblem) return fail(shareProblem);
  const tail = shareEnd < 0 ? '' : rest.slice(shareEnd);
  if (tail !== '' && tail !== '\\') return fail('UNC names a path below the share component');
  return { ok: true, unc: { host, share, trailingSlash: tail === '\\' } };
}

/** Lower-case comparison form of a host: IPv6 brackets and a final FQDN dot removed. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && h.length > 1) h = h.slice(0, -1);
  return h;
}

/**
 * The names this server answers to. Matching is exact after normalisation: no DNS, no NetBIOS
 * lookups, no canonicalisation of numeric forms (`127.1` is not `127.0.0.1`).
 */
export class LocalNames {
  private readonly names: Set<string>;

  /** Loopback names are always included; `netbiosName` and `others` are added as configured. */
  constructor(netbiosName: string, others: readonly string[] = []) {
    this.names = new Set(['127.0.0.1', '::1', 'localhost'].concat(netbiosName, others).map(normalizeHost));
  }

  has(host: string): boolean {
    return this.names.has(normalizeHost(host));
  }

  list(): string[] {
    return [...this.names];
  }
}

const EXPOSED_NAME = /@\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}\$?$/i;

/** Whether a share name has the form of an exposed shadow copy share (`name@{guid}[$]`). */
export function isExposedShareName(share: string): boolean {
  return EXPOSED_NAME.test(share);
}

/**
 * The exposed share name of a mapping (FSRVP.md §8): `share@{guid}` with the GUID in lower
 * case. Hidden shares: Samba appends `$` whenever the share name ends in `$` (`dollarRule:
 * 'share'`); SPEC <9> only when the client's UNC ended in `$\` (`dollarRule: 'unc'`).
 */
export function exposedShareName(
  share: string,
  shadowCopyId: string,
  dollarRule: 'share' | 'unc',
  trailingSlash: boolean,
): string {
  const hidden = share.endsWith('$') && (dollarRule === 'share' || trailingSlash);
  return `${share}@{${shadowCopyId.toLowerCase()}}${hidden ? '$' : ''}`;
}
