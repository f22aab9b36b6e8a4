/**
 * Snapshot names as Samba's vfs_shadow_copy2 (4.17) reads them, for shares whose snapshots are
 * kept where shadow_copy2 looks (layout.ts). Facts from vfs_shadow_copy2.c that shape this file:
 * - Without `shadow:snapprefix`, the directory of the snapshot taken at time t is exactly
 *   strftime(shadow:format, gmtime(t)) (localtime(t) with `shadow:localtime = yes`); listing
 *   parses each entry with strptime(name, format), which ignores trailing text.
 * - With `shadow:snapprefix` (a POSIX basic regular expression, matched unanchored), an entry is
 *   split at the first occurrence of `shadow:delimiter`; the part before must match the prefix
 *   and strptime parses from the delimiter on. A @GMT token maps back to the first listed
 *   entry with that time.
 * - Either way one second holds one reachable snapshot: two snapshots with the same time string
 *   would share one @GMT token. So a second snapshot within the same second takes the next
 *   free second (`chooseName`): its label is at most a few seconds later than the moment it was
 *   taken, and both are listed and reachable. (Waiting for the next second would delay Commit
 *   by up to a second; a suffix after the time would be listed but not reachable.)
 * - `shadow:sscanf` (a number format) is not supported here; layout.ts falls back then.
 */

/** How one share's shadow_copy2 names its snapshots. */
export interface Sc2Naming {
  /** shadow:format, strftime syntax (default `@GMT-%Y.%m.%d-%H.%M.%S`). */
  readonly format: string;
  /** shadow:localtime: the time string is local time (this process's TZ) instead of UTC. */
  readonly localtime: boolean;
  /** shadow:snapprefix, a POSIX basic regular expression, or undefined. */
  readonly snapprefix?: string;
  /** shadow:delimiter (default `_GMT`); used only with snapprefix. */
  readonly delimiter: string;
}

export const SC2_DEFAULT_FORMAT = '@GMT-%Y.%m.%d-%H.%M.%S';
export const SC2_DEFAULT_DELIMITER = '_GMT';

export class Sc2NamingError extends Error {
  constructor(readonly what: string, readonly offset: number, readonly reason: string) {
    super(`${what} at offset ${offset}: ${reason}`);
    this.name = 'Sc2NamingError';
  }
}

interface Fields { y: number; mo: number; d: number; h: number; mi: number; s: number }

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** Whole-second fields of `ms` in UTC or in local time. */
function fieldsOf(ms: number, local: boolean): Fields & { yday: number; epoch: number } {
  const t = new Date(ms);
  const f = local
    ? { y: t.getFullYear(), mo: t.getMonth() + 1, d: t.getDate(), h: t.getHours(), mi: t.getMinutes(), s: t.getSeconds() }
    : { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds() };
  const yday = Math.round((Date.UTC(f.y, f.mo - 1, f.d) - Date.UTC(f.y, 0, 1)) / 86_400_000) + 1;
  return { ...f, yday, epoch: Math.floor(ms / 1000) };
}

/** The directives this module formats and parses (digits only: no names of days or months). */
const DIRECTIVES = new Set(['Y', 'y', 'm', 'd', 'e', 'H', 'M', 'S', 'j', 's', 'F', 'T', '%']);

/** Expands %F and %T; throws Sc2NamingError for a directive outside DIRECTIVES. */
function expand(format: string): string {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const k = format[i + 1];
    if (k === undefined || !DIRECTIVES.has(k)) throw new Sc2NamingError('shadow:format', i, `unsupported directive %${k ?? ''}`);
    out += k === 'F' ? '%Y-%m-%d' : k === 'T' ? '%H:%M:%S' : `%${k}`;
    i++;
  }
  return out;
}

/** strftime(format, gmtime/localtime(ms)) for the supported directives. */
export function strftime(format: string, ms: number, local: boolean): string {
  const f = fieldsOf(ms, local);
  const fmt = expand(format);
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const k = fmt[++i]!;
    switch (k) {
      case 'Y': out += pad(f.y, 4); break;
      case 'y': out += pad(f.y % 100); break;
      case 'm': out += pad(f.mo); break;
      case 'd': out += pad(f.d); break;
      case 'e': out += String(f.d).padStart(2, ' '); break;
      case 'H': out += pad(f.h); break;
      case 'M': out += pad(f.mi); break;
      case 'S': out += pad(f.s); break;
      case 'j': out += pad(f.yday, 3); break;
      case 's': out += String(f.epoch); break;
      default: out += '%';
    }
  }
  return out;
}

/**
 * strptime(text, format) for the supported directives, glibc-like: a space in the format skips
 * any white space, numbers take up to their width in digits (leading spaces allowed), the text
 * may go on after the format ends. Returns ms since the epoch, or undefined if it does not match
 * or names no valid time. Linear in the input.
 */
export function strptime(text: string, format: string, local: boolean): number | undefined {
  const fmt = expand(format);
  const f: Fields = { y: 1900, mo: 1, d: 1, h: 0, mi: 0, s: 0 };
  let epoch: number | undefined;
  let century: number | undefined;
  let yy: number | undefined;
  let yday: number | undefined;
  let p = 0;
  const num = (max: number): number | undefined => {
    while (text[p] === ' ') p++;
    const start = p;
    while (p - start < max && p < text.length && text.charCodeAt(p) >= 48 && text.charCodeAt(p) <= 57) p++;
    return p > start ? Number(text.slice(start, p)) : undefined;
  };
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c === ' ') {
      while (text[p] === ' ' || text[p] === '\t') p++;
      continue;
    }
    if (c !== '%') {
      if (text[p] !== c) return undefined;
      p++;
      continue;
    }
    const k = fmt[++i]!;
    if (k === '%') {
      if (text[p] !== '%') return undefined;
      p++;
      continue;
    }
    const width = k === 'Y' ? 4 : k === 'j' ? 3 : k === 's' ? 20 : 2;
    const v = num(width);
    if (v === undefined) return undefined;
    switch (k) {
      case 'Y': f.y = v; century = undefined; yy = undefined; break;
      case 'y': yy = v; century = v < 69 ? 2000 : 1900; break;
      case 'm': f.mo = v; break;
      case 'd': case 'e': f.d = v; break;
      case 'H': f.h = v; break;
      case 'M': f.mi = v; break;
      case 'S': f.s = v; break;
      case 'j': yday = v; break;
      case 's': epoch = v; break;
    }
  }
  if (epoch !== undefined) return epoch * 1000;
  if (yy !== undefined && century !== undefined) f.y = century + yy;
  if (yday !== undefined) {
    if (yday < 1 || yday > 366) return undefined;
    const day = new Date(Date.UTC(f.y, 0, yday));
    f.mo = day.getUTCMonth() + 1;
    f.d = day.getUTCDate();
  }
  if (f.mo < 1 || f.mo > 12 || f.d < 1 || f.d > 31 || f.h > 23 || f.mi > 59 || f.s > 60) return undefined;
  const ms = local ? new Date(f.y, f.mo - 1, f.d, f.h, f.mi, f.s).getTime() : Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s);
  const back = new Date(Date.UTC(f.y, f.mo - 1, f.d));
  if (back.getUTCDate() !== f.d || Number.isNaN(ms)) return undefined;
  return ms;
}

/**
 * A POSIX basic regular expression (regcomp without REG_EXTENDED) as a JavaScript RegExp:
 * `\( \) \{ \}` group and count, `( ) { } + ? |` are literal, brackets are copied with their
 * backslashes made literal. GNU's `\w \W \s \S \b \B \< \>` are mapped; other escapes of letters
 * or digits (back references included) are refused with Sc2NamingError.
 */
export function breToRegExp(bre: string): RegExp {
  let out = '';
  for (let i = 0; i < bre.length; i++) {
    const c = bre[i]!;
    if (c === '\\') {
      const n = bre[i + 1];
      if (n === undefined) throw new Sc2NamingError('shadow:snapprefix', i, 'trailing backslash');
      i++;
      if ('(){}'.includes(n)) out += n;
      else if ('wWsSbB'.includes(n)) out += `\\${n}`;
      else if (n === '<' || n === '>') out += '\\b';
      else if (/[A-Za-z0-9]/.test(n)) throw new Sc2NamingError('shadow:snapprefix', i - 1, `unsupported escape \\${n}`);
      else out += `\\${n}`;
    } else if (c === '[') {
      let j = i + 1;
      if (bre[j] === '^') j++;
      if (bre[j] === ']') j++;
      while (j < bre.length && bre[j] !== ']') j++;
      if (j >= bre.length) throw new Sc2NamingError('shadow:snapprefix', i, 'unterminated bracket expression');
      out += bre.slice(i, j + 1).replace(/\\/g, '\\\\');
      i = j;
    } else if ('(){}+?|/'.includes(c)) {
      out += `\\${c}`;
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out);
  } catch (e) {
    throw new Sc2NamingError('shadow:snapprefix', 0, (e as Error).message);
  }
}

/** A naming with its prefix compiled (checked once). */
export interface CompiledNaming extends Sc2Naming {
  readonly prefixRe: RegExp | undefined;
}

/** Checks the format's directives and compiles the prefix; throws Sc2NamingError. */
export function compileNaming(n: Sc2Naming): CompiledNaming {
  if (n.format.includes('/')) throw new Sc2NamingError('shadow:format', n.format.indexOf('/'), 'contains a /');
  expand(n.format);
  if (n.snapprefix !== undefined && n.delimiter === '') throw new Sc2NamingError('shadow:delimiter', 0, 'empty');
  return { ...n, prefixRe: n.snapprefix === undefined ? undefined : breToRegExp(n.snapprefix) };
}

/** The time (ms) shadow_copy2 reads from a directory entry, or undefined if it does not list it. */
export function sambaTimeOf(n: CompiledNaming, name: string): number | undefined {
  let rest = name;
  if (n.prefixRe) {
    const at = name.indexOf(n.delimiter);
    if (at < 0 || !n.prefixRe.test(name.slice(0, at))) return undefined;
    rest = name.slice(at);
  }
  return strptime(rest, n.format, n.localtime);
}

/**
 * Our name for a snapshot at second `ms`: the formatted time, behind a prefix when snapprefix is
 * set (`fsrvp-<shadow copy id>` or `fsrvp`, whichever shadow_copy2 accepts). Undefined when no
 * name of ours would be read back as that time.
 */
export function nameAt(n: CompiledNaming, ms: number, shadowCopyId: string): string | undefined {
  const stamp = strftime(n.format, ms, n.localtime);
  const candidates = n.prefixRe ? [`fsrvp-${shadowCopyId}`, 'fsrvp'].map((p) => p + stamp) : [stamp];
  const sec = Math.floor(ms / 1000) * 1000;
  return candidates.find((c) => !c.includes('/') && c !== '.' && c !== '..' && sambaTimeOf(n, c) === sec);
}

/** Whether `name` is of the form nameAt makes (for any time and id). */
export function isOurForm(n: CompiledNaming, name: string): boolean {
  const t = sambaTimeOf(n, name);
  if (t === undefined) return false;
  const stamp = strftime(n.format, t, n.localtime);
  if (!n.prefixRe) return name === stamp;
  return name.endsWith(stamp) && /^fsrvp(-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$/.test(name.slice(0, name.length - stamp.length));
}

/**
 * The name for a snapshot taken at `now`: the first second from `now` on whose name is free and
 * whose time no existing entry already shows (`taken`: times of entries, `names`: entry names),
 * looking at most `maxAhead` seconds ahead.
 */
export function chooseName(
  n: CompiledNaming, now: number, shadowCopyId: string, taken: ReadonlySet<number>, names: ReadonlySet<string>, maxAhead = 120,
): { name: string; at: number } | undefined {
  const start = Math.floor(now / 1000) * 1000;
  for (let k = 0; k <= maxAhead; k++) {
    const at = start + k * 1000;
    if (taken.has(at)) continue;
    const name = nameAt(n, at, shadowCopyId);
    if (name === undefined) return undefined;
    if (!names.has(name)) return { name, at };
  }
  return undefined;
}
