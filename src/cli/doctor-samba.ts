/**
 * Readers for what Samba's tools print, for `fsrvpd doctor`: testparm's configuration dump, the
 * raw [global] section, smbd's version and build options, and which VFS modules are installed.
 */
import { join } from 'node:path';

/** `testparm -s -v` output → section name (lower case) → normalized parameter → value. */
export function parseTestparm(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = new Map();
      out.set((sec[1] as string).toLowerCase(), cur);
      continue;
    }
    const kv = /^([^=#;]+?)\s*=\s*(.*)$/.exec(line);
    if (cur && kv) cur.set(normalizeKey(kv[1] as string), (kv[2] as string).trim());
  }
  return out;
}

/** Parameter names compare without case and spaces ("fss: sequence timeout" = "fss:sequencetimeout"). */
export function normalizeKey(k: string): string {
  return k.toLowerCase().replace(/\s+/g, '');
}

/** A boolean smb.conf value that is true. */
export const yes = (v: string | undefined): boolean => v !== undefined && /^(yes|true|1|on)$/i.test(v);

/** The [global] lines of a raw smb.conf file (no include processing). */
export function rawGlobals(text: string): Map<string, string> {
  return parseTestparm(text.split('\n').map((l) => l.replace(/^\s*[#;].*$/, '')).join('\n')).get('global') ?? new Map();
}

/** `Version 4.17.12-Debian` → [4, 17, 12]. */
export function parseSambaVersion(text: string): [number, number, number] | undefined {
  const m = /Version\s+(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** The named_pipe_auth level a Samba version sends, when this server understands it. */
export function npaLevelFor(v: readonly [number, number, number]): 7 | 8 | undefined {
  const [maj, min, patch] = v;
  if (maj !== 4) return maj > 4 ? 8 : undefined;
  if (min >= 20) return 8;
  if (min === 19 || (min === 18 && patch >= 3) || (min === 17 && patch >= 9)) return 7;
  return undefined;
}

/** What `smbd -b` says about where things are. */
export interface SambaBuild {
  readonly configFile: string | undefined;
  readonly modulesDir: string | undefined;
  /** Modules linked into smbd, e.g. `vfs_default`. */
  readonly builtin: ReadonlySet<string>;
}

export function parseSambaBuild(text: string): SambaBuild {
  const builtinLine = /Builtin modules:\s*\n\s*([^\n]*)/.exec(text)?.[1] ?? '';
  return {
    configFile: /CONFIGFILE:\s*(\S+)/.exec(text)?.[1],
    modulesDir: /MODULESDIR:\s*(\S+)/.exec(text)?.[1],
    builtin: new Set(builtinLine.split(/\s+/).filter(Boolean)),
  };
}

/**
 * The `vfs objects` of a share that smbd cannot load: neither built in nor a module file. smbd
 * refuses every tree connect to such a share, and the shadow copy shares cloned from it.
 */
export function missingVfsModules(vfsObjects: string | undefined, build: SambaBuild, present: (file: string) => boolean): string[] {
  if (!vfsObjects || !build.modulesDir) return [];
  const dir = build.modulesDir;
  return vfsObjects.split(/[\s,]+/).filter(Boolean)
    .map((m) => m.replace(/^.*\//, '').replace(/\.so$/, ''))
    .filter((m) => !build.builtin.has(`vfs_${m}`) && !present(join(dir, 'vfs', `${m}.so`)));
}
