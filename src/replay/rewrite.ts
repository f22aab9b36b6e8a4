/**
 * Structure-aware rewriting and comparison of FSRVP stubs for replay: server-chosen GUIDs learnt
 * from captured vs. live responses are substituted into later requests, share names and hosts are
 * mapped, and responses are compared field by field with the volatile fields named.
 */
import { hresultName } from '../fsrvp/codes.js';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNC_RE = /^\\\\([^\\]+)\\([^\\]+)(.*)$/s;

export interface Rewriter {
  /** captured GUID -> live GUID */
  guids: Map<string, string>;
  /** captured share name (lower case) -> share name to use */
  shares: Map<string, string>;
  /** host part to put in UNC names (undefined: keep) */
  serverName?: string;
}

const EXPOSED_RE = /^(.+)@\{([0-9a-f-]{36})\}(\$?)$/;

function mapString(s: string, rw: Rewriter): string {
  if (GUID_RE.test(s)) return rw.guids.get(s) ?? s;
  const m = UNC_RE.exec(s);
  if (m) {
    const share = rw.shares.get((m[2] as string).toLowerCase()) ?? m[2];
    return `\\\\${rw.serverName ?? m[1]}\\${share}${m[3]}`;
  }
  // An exposed snapshot share: share@{shadow copy id}[$]
  const e = EXPOSED_RE.exec(s);
  if (e) {
    const share = rw.shares.get((e[1] as string).toLowerCase()) ?? e[1];
    return `${share}@{${rw.guids.get(e[2] as string) ?? e[2]}}${e[3]}`;
  }
  return s;
}

/** Returns a copy of a decoded value with GUIDs, UNC names and exposed names mapped. */
export function rewriteValue<T>(v: T, rw: Rewriter): T {
  if (typeof v === 'string') return mapString(v, rw) as T;
  if (Array.isArray(v)) return v.map((x) => rewriteValue(x, rw)) as T;
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = rewriteValue(x, rw);
    return out as T;
  }
  return v;
}

/** Learns captured->live GUIDs from the same response field in both. */
export function learnGuids(captured: unknown, live: unknown, rw: Rewriter): void {
  if (typeof captured === 'string' && typeof live === 'string') {
    if (GUID_RE.test(captured) && GUID_RE.test(live) && captured !== live && !rw.guids.has(captured)) rw.guids.set(captured, live);
    return;
  }
  if (captured && live && typeof captured === 'object' && typeof live === 'object') {
    for (const [k, x] of Object.entries(captured as Record<string, unknown>)) learnGuids(x, (live as Record<string, unknown>)[k], rw);
  }
}

/** Field names whose values are expected to differ between two servers. */
const VOLATILE = new Set(['CreationTimestamp', 'OwnerMachineName']);

export interface Difference {
  path: string;
  captured: string;
  live: string;
  volatile: boolean;
}

const show = (v: unknown): string =>
  typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : JSON.stringify(v) ?? 'undefined';

/** Field-by-field differences between the (rewritten) captured value and the live one. */
export function compareValues(captured: unknown, live: unknown, path = ''): Difference[] {
  if (captured && live && typeof captured === 'object' && typeof live === 'object' && !(captured instanceof Uint8Array)) {
    const keys = new Set([...Object.keys(captured), ...Object.keys(live)]);
    return [...keys].flatMap((k) =>
      compareValues((captured as Record<string, unknown>)[k], (live as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  if (captured === live) return [];
  if (captured instanceof Uint8Array && live instanceof Uint8Array && Buffer.compare(Buffer.from(captured), Buffer.from(live)) === 0) return [];
  const field = path.split('.').pop() ?? '';
  if (field === 'result' && typeof captured === 'number' && typeof live === 'number') {
    return [{ path, captured: hresultName(captured), live: hresultName(live), volatile: false }];
  }
  const hostOnly = typeof captured === 'string' && typeof live === 'string' && UNC_RE.test(captured) && UNC_RE.test(live) &&
    captured.replace(UNC_RE, '$2$3').toLowerCase() === live.replace(UNC_RE, '$2$3').toLowerCase();
  return [{ path, captured: show(captured), live: show(live), volatile: VOLATILE.has(field) || hostOnly }];
}
