/**
 * The provisioned domain a DC run starts from, cached (samba-addc.ts). Provisioning
 * (`samba-tool domain provision`) takes seconds to minutes, so it is done once per key — Samba's
 * version, the domain's names, the provisioning arguments, the template's users and
 * TEMPLATE_FORMAT — into /tmp/fsrvp-addc-cache-<key>, and every run copies that.
 *
 * Why reusing it is safe:
 *  - no daemon ever runs on the cache: a run copies private/, state/ and bind-dns/ (`cp -a`, so
 *    sysvol's NT ACL xattrs come along) into its own dir, and what it changes stays there;
 *  - nothing in it expires: the domain's maximum password age is 0 (passwords of the
 *    administrator and the users never expire; krbtgt and the DC's machine password are not
 *    rotated by a DC on its own);
 *  - it is built in a temp dir (recorded in the lock, so a crash leaves nothing) and renamed into
 *    place complete, under the harness lock; a cache dir is used only when it is ours (owner, mode
 *    0700), its meta.json carries the same key, and its databases are there — anything else is
 *    removed and built again;
 *  - the secrets in it (random passwords in meta.json, the domain's keys) are test-only and
 *    readable by root alone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { must } from './run-cmd.js';
import type { DcNames } from './samba-addc-conf.js';

/** Bump when what a template holds changes. */
export const TEMPLATE_FORMAT = 1;
export const SAMBA_TOOL = '/usr/bin/samba-tool';
export const CACHE_PREFIX = 'fsrvp-addc-cache-';
/** What a run copies out of a template. */
export const TEMPLATE_DIRS = ['private', 'state', 'bind-dns'] as const;

export interface DcUser {
  readonly name: string;
  readonly password: string;
  /** Domain groups it is a member of (besides Domain Users). */
  readonly groups: readonly string[];
}

/** The users every template has: one a Backup Operator (SeBackupPrivilege), one not. */
export const TEMPLATE_USERS: ReadonlyArray<{ name: string; groups: readonly string[] }> = [
  { name: 'fsrvpbackup', groups: ['Backup Operators'] },
  { name: 'fsrvpplain', groups: [] },
];

export interface DcTemplate {
  readonly dir: string;
  readonly key: string;
  readonly names: DcNames;
  readonly adminPassword: string;
  readonly users: readonly DcUser[];
  /** Whether an existing cache was used. */
  readonly fromCache: boolean;
  /** How long provisioning took when the template was built (now or when it was cached). */
  readonly provisionMs: number;
}

interface Meta {
  format: number;
  key: string;
  adminPassword: string;
  users: DcUser[];
  provisionMs: number;
  createdAt: string;
}

/** Provisioning arguments, without the password (the cache key is built from them). */
export function provisionArgs(n: DcNames): string[] {
  return [
    'domain', 'provision', `--realm=${n.realm}`, `--domain=${n.domain}`, '--server-role=dc', '--dns-backend=NONE',
    '--use-rfc2307', `--host-name=${n.host}`, '--host-ip=127.0.0.1',
    '--option=interfaces=127.0.0.1', '--option=bind interfaces only=yes',
  ];
}

async function sambaVersion(): Promise<string> {
  return (await must('/usr/sbin/samba', ['-V'])).trim();
}

export async function templateKey(n: DcNames): Promise<string> {
  const what = JSON.stringify({ format: TEMPLATE_FORMAT, samba: await sambaVersion(), names: n, args: provisionArgs(n), users: TEMPLATE_USERS });
  return createHash('sha256').update(what).digest('hex').slice(0, 20);
}

/** The cache dir's meta when it is a complete template for `key` that only we can write; else undefined. */
function readValid(dir: string, key: string): Meta | undefined {
  try {
    const st = statSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return undefined;
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Partial<Meta>;
    if (meta.format !== TEMPLATE_FORMAT || meta.key !== key || typeof meta.adminPassword !== 'string' || !Array.isArray(meta.users)) return undefined;
    for (const f of ['private/sam.ldb', 'private/secrets.ldb', 'private/idmap.ldb', 'state/sysvol', 'bind-dns']) {
      if (!existsSync(join(dir, f))) return undefined;
    }
    return meta as Meta;
  } catch {
    return undefined;
  }
}

const password = (): string => `Pw-${randomBytes(9).toString('base64url')}-9a`;

/**
 * The template for `names`: the cached one, or a new one provisioned now. `track` is told of the
 * temp build dir (to record it for crash cleanup) and of its end (null).
 */
export async function dcTemplate(n: DcNames, track: (buildDir: string | null) => void): Promise<DcTemplate> {
  const key = await templateKey(n);
  const dir = join(tmpdir(), `${CACHE_PREFIX}${key}`);
  const cached = readValid(dir, key);
  if (cached) {
    return { dir, key, names: n, adminPassword: cached.adminPassword, users: cached.users, fromCache: true, provisionMs: cached.provisionMs };
  }
  const build = await mkdtemp(join(tmpdir(), 'fsrvp-addc-build-'));
  track(build);
  try {
    const adminPassword = password();
    const t0 = Date.now();
    await must(SAMBA_TOOL, [...provisionArgs(n), `--adminpass=${adminPassword}`, `--targetdir=${build}`], { timeoutMs: 900_000 });
    const provisionMs = Date.now() - t0;
    const conf = join(build, 'etc', 'smb.conf');
    const tool = (args: string[]): Promise<string> => must(SAMBA_TOOL, [...args, '-s', conf], { timeoutMs: 120_000 });
    await tool(['domain', 'passwordsettings', 'set', '--max-pwd-age=0', '--min-pwd-age=0']);
    const users: DcUser[] = [];
    for (const u of TEMPLATE_USERS) {
      const pw = password();
      await tool(['user', 'add', u.name, pw]);
      for (const g of u.groups) await tool(['group', 'addmembers', g, u.name]);
      users.push({ name: u.name, password: pw, groups: u.groups });
    }
    // Keep only the databases; the rest (etc/, the provisioning's lock dir files) is per run.
    for (const f of [join(build, 'etc'), ...['msg.sock', 'msg.lock', 'names.tdb', 'gencache.tdb', 'cache'].map((x) => join(build, x))]) {
      rmSync(f, { recursive: true, force: true });
    }
    const meta: Meta = { format: TEMPLATE_FORMAT, key, adminPassword, users, provisionMs, createdAt: new Date().toISOString() };
    await writeFile(join(build, 'meta.json'), JSON.stringify(meta, null, 2), { mode: 0o600 });
    await chmod(build, 0o700);
    rmSync(dir, { recursive: true, force: true });
    renameSync(build, dir);
    track(null);
    return { dir, key, names: n, adminPassword, users, fromCache: false, provisionMs };
  } catch (e) {
    await rm(build, { recursive: true, force: true });
    track(null);
    throw e;
  }
}

/** Copies a template's databases into a run dir, extended attributes (sysvol's NT ACLs) included. */
export async function copyTemplate(t: DcTemplate, root: string): Promise<void> {
  await must('cp', ['-a', '--', ...TEMPLATE_DIRS.map((d) => join(t.dir, d)), `${root}/`]);
}
