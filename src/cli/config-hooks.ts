/**
 * `storage.hooks` of the configuration: snapshot backends that are executables (storage/hook.ts),
 * each under a name that shares (`backend`, `fsrvp:backend`) and `storage.defaultBackend` use.
 *
 *     "hooks": { "zfs": { "command": "/usr/local/lib/fsrvp/zfs-hook", "args": ["--pool", "tank"],
 *                         "env": { "ZFS_OPTS": "-o com.example:keep=1" }, "timeoutSeconds": 60,
 *                         "createTimeoutSeconds": 600, "detect": false } }
 */
import { isAbsolute } from 'node:path';
import type { HookBackendOptions } from '../storage/hook.js';

export interface HookConfig {
  command: string;
  args: string[];
  env: Record<string, string>;
  timeoutSeconds?: number;
  createTimeoutSeconds?: number;
  /** Ask this hook's `supports` before the built-in backends for shares that name no backend. */
  detect: boolean;
}

export const BUILTIN_BACKENDS = ['btrfs', 'copy'] as const;
export const HOOK_KEYS = ['command', 'args', 'env', 'timeoutSeconds', 'createTimeoutSeconds', 'detect'] as const;
const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the agent itself for every call. */
const RESERVED_ENV = ['PATH', 'LC_ALL', 'FSRVP_HOOK_PROTOCOL', 'FSRVP_HOOK_BACKEND'];

type Fail = (path: string, msg: string) => never;

function seconds(v: unknown, path: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 86400) fail(path, 'must be an integer from 1 to 86400 (seconds)');
  return v as number;
}

function text(v: unknown, path: string, fail: Fail): string {
  if (typeof v !== 'string' || v === '') fail(path, 'must be a non-empty string');
  if (/\u0000/.test(v as string)) fail(path, 'must not hold a NUL character');
  return v as string;
}

/** Parses `storage.hooks`: `{ NAME: { command, args?, env?, timeoutSeconds?, createTimeoutSeconds?, detect? } }`. */
export function parseHooks(v: unknown, path: string, fail: Fail): Record<string, HookConfig> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object of hook name → settings');
  const out: Record<string, HookConfig> = {};
  for (const [name, h] of Object.entries(v as Record<string, unknown>)) {
    const p = `${path}.${name}`;
    if (!NAME_RE.test(name)) fail(p, 'a hook name is a lower-case letter, then up to 31 of a-z, 0-9, _ and -');
    if ((BUILTIN_BACKENDS as readonly string[]).includes(name)) fail(p, `${name} is a built-in backend; give the hook another name`);
    if (typeof h !== 'object' || h === null || Array.isArray(h)) fail(p, 'must be an object');
    const o = h as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!(HOOK_KEYS as readonly string[]).includes(k)) fail(`${p}.${k}`, `unknown key (known: ${HOOK_KEYS.join(', ')})`);
    const command = text(o.command, `${p}.command`, fail);
    if (!isAbsolute(command)) fail(`${p}.command`, 'must be an absolute path (the hook runs with a fixed PATH, and never through a shell)');
    const hook: HookConfig = { command, args: [], env: {}, detect: false };
    if (o.args !== undefined) {
      if (!Array.isArray(o.args)) fail(`${p}.args`, 'must be a list of strings');
      hook.args = (o.args as unknown[]).map((a, i) => text(a, `${p}.args[${i}]`, fail));
    }
    if (o.env !== undefined) {
      if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env)) fail(`${p}.env`, 'must be an object of variable → value');
      for (const [k, val] of Object.entries(o.env as Record<string, unknown>)) {
        if (!ENV_RE.test(k)) fail(`${p}.env.${k}`, 'not a valid environment variable name');
        if (RESERVED_ENV.includes(k)) fail(`${p}.env.${k}`, `${k} is set by the agent`);
        if (typeof val !== 'string' || /\u0000/.test(val)) fail(`${p}.env.${k}`, 'must be a string without NUL');
        hook.env[k] = val as string;
      }
    }
    if (o.timeoutSeconds !== undefined) hook.timeoutSeconds = seconds(o.timeoutSeconds, `${p}.timeoutSeconds`, fail);
    if (o.createTimeoutSeconds !== undefined) hook.createTimeoutSeconds = seconds(o.createTimeoutSeconds, `${p}.createTimeoutSeconds`, fail);
    if (o.detect !== undefined) {
      if (typeof o.detect !== 'boolean') fail(`${p}.detect`, 'must be true or false');
      hook.detect = o.detect as boolean;
    }
    out[name] = hook;
  }
  return out;
}

/** Backend names a configuration may choose: the built-in ones and its hooks. */
export function backendNames(hooks: Readonly<Record<string, HookConfig>> | undefined): string[] {
  return [...BUILTIN_BACKENDS, ...Object.keys(hooks ?? {})];
}

/** The hook backend's options from its configuration (the agent adds the directory policy). */
export function hookBackendOptions(name: string, h: HookConfig): HookBackendOptions {
  return {
    name, command: h.command, args: h.args, env: h.env,
    ...(h.timeoutSeconds !== undefined ? { timeoutSeconds: h.timeoutSeconds } : {}),
    ...(h.createTimeoutSeconds !== undefined ? { createTimeoutSeconds: h.createTimeoutSeconds } : {}),
  };
}
