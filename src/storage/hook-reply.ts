/**
 * What a snapshot hook (hook.ts) may print, decoded totally: any stdout text yields the reply of
 * its verb or a `HookReplyError` that says what is wrong with it, never another exception.
 *
 * A reply is one JSON object on stdout (whitespace around it is ignored). Unknown keys are
 * ignored, so a hook may add its own; the keys below are checked for type and shape.
 */
import { isAbsolute, normalize } from 'node:path';

/** The hook protocol version this agent speaks (`hello` must answer it). */
export const HOOK_PROTOCOL = 1;

export class HookReplyError extends Error {
  override readonly name = 'HookReplyError';
}

export interface HelloReply {
  readonly protocol: number;
  readonly description?: string;
}

export interface SupportsReply {
  readonly supported: boolean;
  readonly reason?: string;
}

export interface VolumeReply {
  readonly id: string;
  readonly root: string;
}

export interface CheckReply {
  readonly refusal: { readonly path: string; readonly reason: string } | null;
}

export interface CreateReply {
  readonly path: string;
}

export interface ListedSnapshot {
  readonly name: string;
  readonly path: string;
  readonly writable?: boolean;
  /** ms since the epoch. */
  readonly createdAt?: number;
}

export interface ListReply {
  readonly snapshots: readonly ListedSnapshot[];
}

type Obj = Record<string, unknown>;

const MAX_TEXT = 4096;
/** Printable text without NUL or other control characters (a path or id is passed as an argument later). */
const CONTROL = /[\u0000-\u001f\u007f]/;

function fail(msg: string): never {
  throw new HookReplyError(msg);
}

function object(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} must be a JSON object`);
  return v as Obj;
}

function text(o: Obj, key: string, what: string, optional: true): string | undefined;
function text(o: Obj, key: string, what: string, optional?: false): string;
function text(o: Obj, key: string, what: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') fail(`${what}: "${key}" must be a non-empty string`);
  if (v.length > MAX_TEXT) fail(`${what}: "${key}" is longer than ${MAX_TEXT} characters`);
  if (CONTROL.test(v)) fail(`${what}: "${key}" holds a control character`);
  return v;
}

/** An absolute, normalised local path other than `/`. */
function path(o: Obj, key: string, what: string): string {
  const p = text(o, key, what);
  if (!isAbsolute(p) || normalize(p) !== p || p === '/' || p.endsWith('/')) {
    fail(`${what}: "${key}" must be an absolute, normalised path other than / (got ${JSON.stringify(p)})`);
  }
  return p;
}

function bool(o: Obj, key: string, what: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(`${what}: "${key}" must be true or false`);
  return v;
}

/** The single JSON object of a hook's stdout (messages leave out the verb: HookError adds it). */
export function parseReply(stdout: string): Obj {
  const body = stdout.trim();
  if (body === '') fail('the hook printed nothing (a JSON object was expected)');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    const head = body.length > 80 ? `${body.slice(0, 80)}…` : body;
    fail(`the hook's output is not JSON (${(e as Error).message}): ${JSON.stringify(head)}`);
  }
  return object(json, 'the reply');
}

export function decodeHello(stdout: string): HelloReply {
  const o = parseReply(stdout);
  const protocol = o.protocol;
  if (typeof protocol !== 'number' || !Number.isInteger(protocol) || protocol < 1) fail('reply: "protocol" must be a positive integer');
  const description = text(o, 'description', 'reply', true);
  return description === undefined ? { protocol } : { protocol, description };
}

export function decodeSupports(stdout: string): SupportsReply {
  const o = parseReply(stdout);
  const supported = bool(o, 'supported', 'reply');
  if (supported === undefined) fail('reply: "supported" must be true or false');
  const reason = text(o, 'reason', 'reply', true);
  return reason === undefined ? { supported } : { supported, reason };
}

export function decodeVolume(stdout: string): VolumeReply {
  const o = parseReply(stdout);
  return { id: text(o, 'id', 'reply'), root: path(o, 'root', 'reply') };
}

export function decodeCheck(stdout: string): CheckReply {
  const o = parseReply(stdout);
  if (o.refusal === null || o.refusal === undefined) return { refusal: null };
  const r = object(o.refusal, 'reply: "refusal"');
  return { refusal: { path: path(r, 'path', 'refusal'), reason: text(r, 'reason', 'refusal') } };
}

export function decodeCreate(stdout: string): CreateReply {
  return { path: path(parseReply(stdout), 'path', 'reply') };
}

export function decodeList(stdout: string): ListReply {
  const o = parseReply(stdout);
  const items = o.snapshots;
  if (!Array.isArray(items)) fail('reply: "snapshots" must be a list');
  const snapshots: ListedSnapshot[] = [];
  for (let i = 0; i < items.length; i++) {
    const what = `snapshots[${i}]`;
    const s = object(items[i], what);
    const entry: { name: string; path: string; writable?: boolean; createdAt?: number } = {
      name: text(s, 'name', what), path: path(s, 'path', what),
    };
    const writable = bool(s, 'writable', what);
    if (writable !== undefined) entry.writable = writable;
    if (s.createdAt !== undefined) {
      if (typeof s.createdAt !== 'number' || !Number.isSafeInteger(s.createdAt) || s.createdAt < 0) {
        fail(`${what}: "createdAt" must be milliseconds since the epoch`);
      }
      entry.createdAt = s.createdAt;
    }
    snapshots.push(entry);
  }
  return { snapshots };
}
