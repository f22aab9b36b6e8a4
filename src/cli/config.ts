/**
 * The agent's configuration file (JSON), validated with messages that name the offending key.
 * Every field is optional; `defaultConfig()` is the embedded default that `npm start` runs.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { isLoopbackHost } from '../sys/loopback.js';
import type { SharePolicy } from '../storage/policy.js';
import { parsePolicy } from './config-policy.js';
import { backendNames, parseHooks, type HookConfig } from './config-hooks.js';

export interface CallerConfig {
  /** SIDs given to every TCP caller (TCP carries no identity). */
  sids: string[];
  uid?: number;
  accountName?: string;
  domainName?: string;
}

/** Lowest DCE/RPC auth level a listener runs requests at. */
export type MinAuthLevel = 'none' | 'integrity' | 'privacy';
export const MIN_AUTH_LEVELS: readonly MinAuthLevel[] = ['none', 'integrity', 'privacy'];

export interface AuthConfig {
  /**
   * NTLMSSP (raw and inside SPNEGO), its responses checked by the host's authority: `passdb` =
   * this standalone Samba host's passdb (through python3-samba), reading `smbConf`; `winbind` =
   * winbindd of a domain member or AD DC, through `ntlmAuth` (default /usr/bin/ntlm_auth) with
   * `smbConf`, the token (SIDs, BUILTIN aliases) from winbind too.
   */
  ntlm?: { verifier: 'passdb' | 'winbind'; smbConf?: string; ntlmAuth?: string };
  /**
   * Kerberos (auth type 16, and inside SPNEGO): service keys from `keytab` (e.g. `samba-tool
   * domain exportkeytab`, `net ads keytab create`); `principals` accepted (default: any in it).
   */
  /** token: where a Kerberos caller's SIDs come from ('pac', default; 'winbind' adds the BUILTIN aliases winbindd gives). */
  kerberos?: { keytab: string; principals?: string[]; clockSkewSec?: number; token?: 'pac' | 'winbind' };
  /** Offer SPNEGO (auth_type 9) over the mechanisms configured; default true. */
  spnego: boolean;
  /** NTLM target names: the domain (workgroup) announced; default the NetBIOS name. */
  domain?: string;
}

export interface AgentConfig {
  /** NetBIOS name: OwnerMachineName and the host in ShareNameUNC. */
  netbiosName: string;
  /** Other names a UNC host may be (aliases, FQDNs, addresses). Nothing is ever resolved. */
  localNames: string[];
  /** Accept any UNC host, as Samba does. */
  acceptAnyHost: boolean;
  /** `samba` (what Samba's clients expect, default) or `strict` (MS-FSRVP as written). */
  mode: 'samba' | 'strict';
  /** Where state, the journal and standalone share records live. */
  stateDir: string;
  /** Samba's `fss: sequence timeout` (seconds) replacing 180/1800 s; 0 disables; unset = spec. */
  sequenceTimeoutSeconds?: number;
  /** Keep snapshots after DeleteShareMapping, for restores (`fsrvp snapshots …`). */
  retainSnapshots: boolean;
  authz: { builtin: boolean; allowSids: string[]; allowAccounts: string[] };
  /** DCE/RPC authentication (auth types 9, 10); none configured = unauthenticated binds only. */
  auth: AuthConfig;
  listen: {
    /** `caller` is the identity of unauthenticated TCP callers (minLevel none only). */
    tcp?: { host: string; port: number; caller: CallerConfig; minLevel: MinAuthLevel };
    /** minLevel none: smbd's SMB session identifies the caller (the forwarded token). */
    samba?: { socketDir: string; byteMode: boolean; minLevel: MinAuthLevel };
  };
  /** `backend`: btrfs, copy or the name of a hook (storage.hooks). */
  shares: { static?: Record<string, { path: string; backend?: string; policy?: SharePolicy }>; samba?: { smbConf?: string } };
  publisher: { type: 'standalone' } | { type: 'samba'; smbConf?: string; strategy?: 'import' | 'setparm' };
  /** Record every accepted connection as a replayable capture file in `dir` (fsrvpd --record). */
  record?: { dir: string; maxFileBytes?: number; maxTotalBytes?: number };
  storage: {
    /** btrfs, copy or the name of a hook. */
    defaultBackend?: string;
    /** Snapshot backends that are executables (config-hooks.ts, storage/hook.ts), by name. */
    hooks?: Record<string, HookConfig>;
    snapshotDir?: string;
    maxDepth: number;
    refuseHardLinks: boolean;
    /** Default directory-structure policy of every share (config-policy.ts); absent: hyperv with maxDepth/refuseHardLinks. */
    policy?: SharePolicy;
    /** Policies by share name (for shares from Samba; static shares may say `policy` themselves). */
    sharePolicies?: Record<string, SharePolicy>;
  };
}

/** The embedded default: TCP on loopback, one demo share on the copy backend, all local. */
export function defaultConfig(baseDir = resolve('.fsrvp-demo')): AgentConfig {
  return {
    netbiosName: (hostname().split('.')[0] || 'localhost').toUpperCase().slice(0, 15),
    localNames: [],
    acceptAnyHost: false,
    mode: 'samba',
    stateDir: resolve(baseDir, 'state'),
    retainSnapshots: false,
    authz: { builtin: true, allowSids: [], allowAccounts: [] },
    auth: { spnego: true },
    listen: {
      tcp: {
        host: '127.0.0.1',
        port: 7135,
        // The embedded development listener runs without authentication (it has no host
        // authority to check passwords with): its callers get this identity.
        caller: { sids: ['S-1-5-32-544'], accountName: 'developer' },
        minLevel: 'none',
      },
    },
    shares: { static: { demo: { path: resolve(baseDir, 'shares', 'demo'), backend: 'copy' } } },
    publisher: { type: 'standalone' },
    storage: { snapshotDir: resolve(baseDir, 'snapshots'), maxDepth: 5, refuseHardLinks: true, sharePolicies: {} },
  };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Reader {
  constructor(private readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new ConfigError(`${this.file}: ${path}: ${msg}`);
  }
  object(v: unknown, path: string, keys: readonly string[]): Record<string, Json> {
    if (!isObject(v)) this.fail(path, 'must be an object');
    for (const k of Object.keys(v)) if (!keys.includes(k)) this.fail(`${path}.${k}`, `unknown key (known: ${keys.join(', ')})`);
    return v;
  }
  string(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') this.fail(path, 'must be a non-empty string');
    return v;
  }
  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }
  int(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return v;
  }
  strings(v: unknown, path: string): string[] {
    if (!Array.isArray(v)) this.fail(path, 'must be a list of strings');
    return v.map((x, i) => this.string(x, `${path}[${i}]`));
  }
  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !values.includes(v as T)) this.fail(path, `must be one of ${values.join(', ')}`);
    return v as T;
  }
}

const SID_RE = /^S-1-\d+(-\d+)*$/i;

/** Reads and validates a configuration file; missing keys take the embedded default's values. */
export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json, file);
}

export function parseConfig(json: unknown, file = 'config'): AgentConfig {
  const r = new Reader(file);
  const c = defaultConfig();
  const top = r.object(json, '$', [
    'netbiosName', 'localNames', 'acceptAnyHost', 'mode', 'stateDir', 'sequenceTimeoutSeconds', 'retainSnapshots',
    'authz', 'auth', 'listen', 'shares', 'publisher', 'storage', 'record',
  ]);
  if (top.netbiosName !== undefined) {
    c.netbiosName = r.string(top.netbiosName, '$.netbiosName');
    if (c.netbiosName.length > 15) r.fail('$.netbiosName', 'NetBIOS names have at most 15 characters');
  }
  if (top.localNames !== undefined) c.localNames = r.strings(top.localNames, '$.localNames');
  if (top.acceptAnyHost !== undefined) c.acceptAnyHost = r.bool(top.acceptAnyHost, '$.acceptAnyHost');
  if (top.mode !== undefined) c.mode = r.oneOf(top.mode, '$.mode', ['samba', 'strict'] as const);
  if (top.stateDir !== undefined) c.stateDir = resolve(r.string(top.stateDir, '$.stateDir'));
  if (top.sequenceTimeoutSeconds !== undefined) c.sequenceTimeoutSeconds = r.int(top.sequenceTimeoutSeconds, '$.sequenceTimeoutSeconds', 0, 86400);
  if (top.retainSnapshots !== undefined) c.retainSnapshots = r.bool(top.retainSnapshots, '$.retainSnapshots');
  if (top.authz !== undefined) {
    const a = r.object(top.authz, '$.authz', ['builtin', 'allowSids', 'allowAccounts']);
    if (a.builtin !== undefined) c.authz.builtin = r.bool(a.builtin, '$.authz.builtin');
    if (a.allowSids !== undefined) {
      c.authz.allowSids = r.strings(a.allowSids, '$.authz.allowSids');
      c.authz.allowSids.forEach((s, i) => SID_RE.test(s) || r.fail(`$.authz.allowSids[${i}]`, `not a SID: ${s}`));
    }
    if (a.allowAccounts !== undefined) c.authz.allowAccounts = r.strings(a.allowAccounts, '$.authz.allowAccounts');
  }
  if (top.auth !== undefined) {
    const a = r.object(top.auth, '$.auth', ['ntlm', 'kerberos', 'spnego', 'domain']);
    if (a.kerberos !== undefined && a.kerberos !== null) {
      const k = r.object(a.kerberos, '$.auth.kerberos', ['keytab', 'principals', 'clockSkewSec', 'token']);
      if (k.keytab === undefined) r.fail('$.auth.kerberos.keytab', 'the keytab file is required');
      c.auth.kerberos = { keytab: r.string(k.keytab, '$.auth.kerberos.keytab') };
      if (k.principals !== undefined) c.auth.kerberos.principals = r.strings(k.principals, '$.auth.kerberos.principals');
      if (k.clockSkewSec !== undefined) {
        const skew = k.clockSkewSec;
        if (typeof skew !== 'number' || !Number.isInteger(skew) || skew < 0 || skew > 3600) r.fail('$.auth.kerberos.clockSkewSec', 'an integer number of seconds, 0..3600');
        c.auth.kerberos.clockSkewSec = skew as number;
      }
      if (k.token !== undefined) c.auth.kerberos.token = r.oneOf(k.token, '$.auth.kerberos.token', ['pac', 'winbind'] as const);
    }
    if (a.ntlm !== undefined && a.ntlm !== null) {
      const n = r.object(a.ntlm, '$.auth.ntlm', ['verifier', 'smbConf', 'ntlmAuth']);
      c.auth.ntlm = { verifier: r.oneOf(n.verifier ?? 'passdb', '$.auth.ntlm.verifier', ['passdb', 'winbind'] as const) };
      if (n.smbConf !== undefined) c.auth.ntlm.smbConf = r.string(n.smbConf, '$.auth.ntlm.smbConf');
      if (n.ntlmAuth !== undefined) {
        if (c.auth.ntlm.verifier !== 'winbind') r.fail('$.auth.ntlm.ntlmAuth', 'only for verifier "winbind"');
        c.auth.ntlm.ntlmAuth = r.string(n.ntlmAuth, '$.auth.ntlm.ntlmAuth');
      }
    }
    if (a.spnego !== undefined) c.auth.spnego = r.bool(a.spnego, '$.auth.spnego');
    if (a.domain !== undefined) {
      c.auth.domain = r.string(a.domain, '$.auth.domain');
      if (c.auth.domain.length > 15) r.fail('$.auth.domain', 'NetBIOS domain names have at most 15 characters');
    }
  }
  const hasMechanism = c.auth.ntlm !== undefined || c.auth.kerberos !== undefined;
  if (top.listen !== undefined) {
    const l = r.object(top.listen, '$.listen', ['tcp', 'samba']);
    c.listen = {};
    if (l.tcp !== undefined && l.tcp !== null) {
      const t = r.object(l.tcp, '$.listen.tcp', ['host', 'port', 'caller', 'minLevel']);
      const host = t.host === undefined ? '127.0.0.1' : r.string(t.host, '$.listen.tcp.host');
      // TCP carries no identity: integrity at least, unless said otherwise.
      const minLevel = t.minLevel === undefined ? 'integrity' : r.oneOf(t.minLevel, '$.listen.tcp.minLevel', MIN_AUTH_LEVELS);
      if (minLevel === 'none' && !isLoopbackHost(host)) {
        r.fail('$.listen.tcp.host', 'an unauthenticated TCP listener (minLevel none) is for development, replay and fuzzing: it binds to loopback only');
      }
      if (minLevel !== 'none' && !hasMechanism) {
        r.fail('$.listen.tcp.minLevel', `${minLevel} needs an authentication mechanism: configure auth.ntlm or auth.kerberos, or set minLevel "none" for an unauthenticated development listener`);
      }
      const port = t.port === undefined ? 7135 : r.int(t.port, '$.listen.tcp.port', 0, 65535);
      let caller: CallerConfig = { sids: [] };
      if (t.caller !== undefined) {
        const cl = r.object(t.caller, '$.listen.tcp.caller', ['sids', 'uid', 'accountName', 'domainName']);
        caller = { sids: cl.sids === undefined ? [] : r.strings(cl.sids, '$.listen.tcp.caller.sids') };
        if (cl.uid !== undefined) caller.uid = r.int(cl.uid, '$.listen.tcp.caller.uid', 0, 0xffffffff);
        if (cl.accountName !== undefined) caller.accountName = r.string(cl.accountName, '$.listen.tcp.caller.accountName');
        if (cl.domainName !== undefined) caller.domainName = r.string(cl.domainName, '$.listen.tcp.caller.domainName');
      }
      c.listen.tcp = { host, port, caller, minLevel };
    }
    if (l.samba !== undefined && l.samba !== null) {
      const s = r.object(l.samba, '$.listen.samba', ['socketDir', 'byteMode', 'minLevel']);
      const minLevel = s.minLevel === undefined ? 'none' : r.oneOf(s.minLevel, '$.listen.samba.minLevel', MIN_AUTH_LEVELS);
      if (minLevel !== 'none' && !hasMechanism) {
        r.fail('$.listen.samba.minLevel', `${minLevel} needs an authentication mechanism: configure auth.ntlm or auth.kerberos`);
      }
      c.listen.samba = {
        socketDir: resolve(r.string(s.socketDir, '$.listen.samba.socketDir')),
        byteMode: s.byteMode === undefined ? false : r.bool(s.byteMode, '$.listen.samba.byteMode'),
        minLevel,
      };
    }
    if (!c.listen.tcp && !c.listen.samba) r.fail('$.listen', 'configure at least one of tcp, samba');
  }
  if (top.shares !== undefined) {
    const s = r.object(top.shares, '$.shares', ['static', 'samba']);
    c.shares = {};
    if (s.static !== undefined) {
      const st = r.object(s.static, '$.shares.static', Object.keys(isObject(s.static) ? s.static : {}));
      c.shares.static = {};
      for (const [name, v] of Object.entries(st)) {
        const p = `$.shares.static.${name}`;
        if (typeof v === 'string') c.shares.static[name] = { path: resolve(v) };
        else {
          const o = r.object(v, p, ['path', 'backend', 'policy']);
          c.shares.static[name] = { path: resolve(r.string(o.path, `${p}.path`)) };
          // Checked against the built-in backends and the hooks once storage is read.
          if (o.backend !== undefined) c.shares.static[name]!.backend = r.string(o.backend, `${p}.backend`);
          if (o.policy !== undefined) c.shares.static[name]!.policy = parsePolicy(o.policy, `${p}.policy`, (q, m) => r.fail(q, m));
        }
      }
    }
    if (s.samba !== undefined) {
      const sm = r.object(s.samba, '$.shares.samba', ['smbConf']);
      c.shares.samba = sm.smbConf === undefined ? {} : { smbConf: r.string(sm.smbConf, '$.shares.samba.smbConf') };
    }
    if (!c.shares.static && !c.shares.samba) r.fail('$.shares', 'configure static shares, samba, or both');
  }
  if (top.publisher !== undefined) {
    const p = r.object(top.publisher, '$.publisher', ['type', 'smbConf', 'strategy']);
    const type = r.oneOf(p.type, '$.publisher.type', ['standalone', 'samba'] as const);
    if (type === 'standalone') c.publisher = { type };
    else {
      c.publisher = { type };
      if (p.smbConf !== undefined) c.publisher.smbConf = r.string(p.smbConf, '$.publisher.smbConf');
      if (p.strategy !== undefined) c.publisher.strategy = r.oneOf(p.strategy, '$.publisher.strategy', ['import', 'setparm'] as const);
    }
  }
  if (top.record !== undefined && top.record !== null) {
    const rc = r.object(top.record, '$.record', ['dir', 'maxFileBytes', 'maxTotalBytes']);
    c.record = { dir: resolve(r.string(rc.dir, '$.record.dir')) };
    if (rc.maxFileBytes !== undefined) c.record.maxFileBytes = r.int(rc.maxFileBytes, '$.record.maxFileBytes', 4096, 2 ** 40);
    if (rc.maxTotalBytes !== undefined) c.record.maxTotalBytes = r.int(rc.maxTotalBytes, '$.record.maxTotalBytes', 4096, 2 ** 50);
  }
  if (top.storage !== undefined) {
    const s = r.object(top.storage, '$.storage', ['defaultBackend', 'snapshotDir', 'maxDepth', 'refuseHardLinks', 'policy', 'sharePolicies', 'hooks']);
    c.storage = { maxDepth: 5, refuseHardLinks: true, sharePolicies: {} };
    if (s.hooks !== undefined) c.storage.hooks = parseHooks(s.hooks, '$.storage.hooks', (q, m) => r.fail(q, m));
    const names = backendNames(c.storage.hooks);
    if (s.defaultBackend !== undefined) c.storage.defaultBackend = r.oneOf(s.defaultBackend, '$.storage.defaultBackend', names);
    if (s.snapshotDir !== undefined) c.storage.snapshotDir = resolve(r.string(s.snapshotDir, '$.storage.snapshotDir'));
    if (s.maxDepth !== undefined) c.storage.maxDepth = r.int(s.maxDepth, '$.storage.maxDepth', 1, 1000);
    if (s.refuseHardLinks !== undefined) c.storage.refuseHardLinks = r.bool(s.refuseHardLinks, '$.storage.refuseHardLinks');
    const fail = (q: string, m: string): never => r.fail(q, m);
    if (s.policy !== undefined) c.storage.policy = parsePolicy(s.policy, '$.storage.policy', fail);
    if (s.sharePolicies !== undefined) {
      const sp = r.object(s.sharePolicies, '$.storage.sharePolicies', Object.keys(isObject(s.sharePolicies) ? s.sharePolicies : {}));
      for (const [name, v] of Object.entries(sp)) c.storage.sharePolicies![name] = parsePolicy(v, `$.storage.sharePolicies.${name}`, fail);
    }
  }
  const names = backendNames(c.storage.hooks);
  for (const [name, share] of Object.entries(c.shares.static ?? {})) {
    if (share.backend !== undefined && !names.includes(share.backend)) {
      r.fail(`$.shares.static.${name}.backend`, `must be one of ${names.join(', ')} (a hook must be configured in storage.hooks)`);
    }
  }
  return c;
}
