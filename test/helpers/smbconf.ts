/** A private Samba configuration for tests that need `net conf`/`testparm` but no running smbd. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

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
