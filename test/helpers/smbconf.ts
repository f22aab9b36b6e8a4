/** A private Samba configuration for tests that need `net conf`/`testparm` but no running smbd. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/sys/exec.js';

const DIRS = ['state', 'lock', 'cache', 'pid', 'ncalrpc'] as const;

/** Creates the directories a private configuration under `dir` points at (plus `extra` ones). */
export async function makePrivateDirs(dir: string, extra: readonly string[] = []): Promise<void> {
  for (const d of [...DIRS, 'private', ...extra]) await mkdir(join(dir, d), { recursive: true });
}

/** The `[global]` section: loopback only, private state under `dir`, registry shares on. */
export function privateGlobal(dir: string, extraLines: readonly string[] = []): string[] {
  return [
    '[global]',
    '  interfaces = 127.0.0.1/8',
    '  bind interfaces only = yes',
    '  disable netbios = yes',
    ...DIRS.map((d) => `  ${d === 'ncalrpc' ? 'ncalrpc dir' : `${d} directory`} = ${join(dir, d)}`),
    `  private dir = ${join(dir, 'private')}`,
    `  passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}`,
    '  registry shares = yes',
    '  include = registry',
    ...extraLines,
  ];
}

/** `net -s conf …`, `sharesec -s conf …` and the share_info.tdb probe for a private configuration. */
export function sambaTools(conf: () => string, dir: () => string) {
  return {
    async net(...args: string[]): Promise<string> {
      return (await run('net', ['-s', conf(), ...args])).stdout;
    },
    async sharesec(...args: string[]): Promise<string> {
      return (await run('sharesec', ['-s', conf(), ...args])).stdout.trim();
    },
    /** Whether a security descriptor is stored for the share (a SECDESC/<name> record in share_info.tdb). */
    async hasStoredSd(name: string): Promise<boolean> {
      const dump = (await run('tdbdump', [join(dir(), 'state', 'share_info.tdb')])).stdout;
      return dump.includes(`"SECDESC/${name.toLowerCase()}`);
    },
  };
}
