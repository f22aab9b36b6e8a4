/**
 * `fsrvp snapshots …`: the operator's view of snapshots kept after DeleteShareMapping
 * (`retainSnapshots`): list them, restore a file or directory from one into the live share, and
 * prune them by age or count. `list` and `restore` read the state journal without locking it,
 * so they work while fsrvpd runs; `prune` changes state and needs fsrvpd stopped.
 */
import { StateStore } from '../fsrvp/store.js';
import { FsrvpService } from '../fsrvp/service.js';
import { StateLockedError } from '../fsrvp/lock.js';
import type { RetainedSnapshot } from '../fsrvp/state.js';
import { restore, RestoreError, type OnExisting } from '../storage/retention.js';
import { ConfigError, defaultConfig, loadConfig, type AgentConfig } from './config.js';
import { buildParts } from './agent.js';

export const SNAPSHOTS_HELP = `usage: fsrvp snapshots <list|restore|prune> [options] [--config FILE]

Snapshots kept after their share mapping was deleted (configuration "retainSnapshots": true).

  list                               the retained snapshots: name, shares, age, path
  restore SNAPSHOT PATH [--to PATH] [--replace | --rename]
                                     copy PATH (relative to the share root) from SNAPSHOT (its
                                     name or shadow copy id) back into the live share; an
                                     existing target is kept unless --replace (swap in the
                                     restored copy) or --rename (keep the old one beside it)
      --share NAME                   which share, when the snapshot served several
  prune [--older-than AGE] [--keep-last N] [--dry-run]
                                     delete retained snapshots older than AGE (e.g. 7d, 12h,
                                     90m) or beyond the newest N per volume; needs fsrvpd
                                     stopped (it changes state)

--config FILE is fsrvpd's configuration (default: the embedded default in ./.fsrvp-demo).
`;

export class SnapshotsUsageError extends Error {}

function parseAge(text: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text);
  if (!m) throw new SnapshotsUsageError(`--older-than takes a number and a unit (s, m, h, d, w), e.g. 7d; not ${text}`);
  const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

function age(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** Newest first. Snapshot times have one-second resolution; ties go by when they were retained. */
const newestFirst = (a: RetainedSnapshot, b: RetainedSnapshot): number =>
  b.snapshot.createdAt - a.snapshot.createdAt || b.retainedAt - a.retainedAt;

function find(retained: readonly RetainedSnapshot[], key: string): RetainedSnapshot {
  const k = key.toLowerCase().replace(/^\{|\}$/g, '');
  const hits = retained.filter((r) => r.snapshot.name.toLowerCase() === k || r.shadowCopyId.toLowerCase() === k);
  if (hits.length === 0) throw new SnapshotsUsageError(`no retained snapshot named or with shadow copy id ${key} (see: fsrvp snapshots list)`);
  if (hits.length > 1) throw new SnapshotsUsageError(`${key} matches ${hits.length} snapshots; use the snapshot name`);
  return hits[0] as RetainedSnapshot;
}

export async function runSnapshots(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    process.stdout.write(SNAPSHOTS_HELP);
    return cmd ? 0 : 2;
  }
  let configFile: string | undefined;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '--config' || a === '--to' || a === '--share' || a === '--older-than' || a === '--keep-last') {
      const v = rest[++i];
      if (v === undefined) throw new SnapshotsUsageError(`${a} needs a value`);
      if (a === '--config') configFile = v;
      else flags.set(a, v);
    } else if (a === '--replace' || a === '--rename' || a === '--dry-run') flags.set(a, true);
    else if (a.startsWith('--')) throw new SnapshotsUsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  const config: AgentConfig = configFile ? loadConfig(configFile) : defaultConfig();

  if (cmd === 'list') {
    const { retained, dropped } = await StateStore.peek(config.stateDir);
    if (dropped.length) console.error(`warning: ${dropped.length} damaged journal line(s) skipped`);
    if (retained.length === 0) {
      console.log(`no retained snapshots in ${config.stateDir}${config.retainSnapshots ? '' : ' (retainSnapshots is off)'}`);
      return 0;
    }
    const now = Date.now();
    for (const r of [...retained].sort(newestFirst)) {
      console.log(`${r.snapshot.name}  shadow copy ${r.shadowCopyId}  shares ${r.shares.join(',')}  ` +
        `taken ${new Date(r.snapshot.createdAt).toISOString()} (${age(now - r.snapshot.createdAt)} ago)  ${r.snapshot.backend}  ${r.snapshot.path}`);
    }
    return 0;
  }

  if (cmd === 'restore') {
    if (positional.length !== 2) throw new SnapshotsUsageError('restore takes SNAPSHOT PATH');
    if (flags.has('--replace') && flags.has('--rename')) throw new SnapshotsUsageError('choose one of --replace and --rename');
    const { retained } = await StateStore.peek(config.stateDir);
    const r = find(retained, positional[0] as string);
    const wanted = flags.get('--share');
    const shareName = typeof wanted === 'string' ? wanted : r.shares.length === 1 ? r.shares[0] : undefined;
    if (!shareName) throw new SnapshotsUsageError(`the snapshot served shares ${r.shares.join(', ')}; say which with --share`);
    if (!r.shares.some((s) => s.toLowerCase() === shareName.toLowerCase())) throw new SnapshotsUsageError(`the snapshot did not serve share ${shareName}`);
    const share = await buildParts(config).shares.lookup(shareName);
    if (!share) throw new SnapshotsUsageError(`share ${shareName} is not configured any more`);
    const onExisting: OnExisting = flags.has('--replace') ? 'replace' : flags.has('--rename') ? 'rename' : 'fail';
    const to = flags.get('--to');
    const result = await restore({
      snapshot: r.snapshot, volume: r.volume, sharePath: share.path, relPath: positional[1] as string,
      targetRelPath: typeof to === 'string' ? to : undefined, onExisting,
    });
    console.log(`restored ${result.kind} ${result.source} -> ${result.target}${result.previous ? ` (previous version kept as ${result.previous})` : ''}`);
    return 0;
  }

  if (cmd === 'prune') {
    const older = flags.get('--older-than');
    const keepLastText = flags.get('--keep-last');
    const maxAgeMs = typeof older === 'string' ? parseAge(older) : undefined;
    const keepLast = typeof keepLastText === 'string' ? Number(keepLastText) : undefined;
    if (keepLast !== undefined && (!Number.isInteger(keepLast) || keepLast < 0)) throw new SnapshotsUsageError('--keep-last takes a whole number');
    if (maxAgeMs === undefined && keepLast === undefined) throw new SnapshotsUsageError('prune needs --older-than or --keep-last (or both)');
    const dryRun = flags.has('--dry-run');
    const now = Date.now();
    const { retained } = await StateStore.peek(config.stateDir);
    // Newest first per volume; a snapshot goes when it is too old or beyond the newest N.
    const byVolume = new Map<string, RetainedSnapshot[]>();
    for (const r of retained) byVolume.set(r.volume.id, [...(byVolume.get(r.volume.id) ?? []), r]);
    const doomed: RetainedSnapshot[] = [];
    for (const list of byVolume.values()) {
      list.sort(newestFirst);
      list.forEach((r, i) => {
        if ((maxAgeMs !== undefined && now - r.snapshot.createdAt > maxAgeMs) || (keepLast !== undefined && i >= keepLast)) doomed.push(r);
      });
    }
    if (doomed.length === 0) {
      console.log(`nothing to prune (${retained.length} retained)`);
      return 0;
    }
    const describe = (r: RetainedSnapshot): string => `${r.snapshot.name} (${age(now - r.snapshot.createdAt)} old, shares ${r.shares.join(',')})`;
    if (dryRun) {
      for (const r of doomed) console.log(`would delete ${describe(r)}`);
      return 0;
    }
    const parts = buildParts(config);
    let service: FsrvpService;
    try {
      service = await FsrvpService.open({
        mode: config.mode, stateDir: config.stateDir, netbiosName: config.netbiosName, retainSnapshots: config.retainSnapshots,
        registry: parts.shares, publisher: parts.publisher, backends: parts.backends, sequenceTimeoutSeconds: 0,
      });
    } catch (e) {
      if (e instanceof StateLockedError) throw new SnapshotsUsageError(`prune changes state, so stop fsrvpd first (list and restore work while it runs): ${e.message}`);
      throw e;
    }
    try {
      let n = 0;
      for (const r of doomed) {
        console.log(`deleting ${describe(r)}`);
        if (await service.releaseRetained(r.snapshot.backend, r.snapshot.name)) n++;
      }
      console.log(`pruned ${n} of ${retained.length} retained snapshots`);
    } finally {
      await service.close();
    }
    return 0;
  }
  throw new SnapshotsUsageError(`unknown snapshots command ${cmd} (list, restore, prune)`);
}

export { ConfigError, RestoreError };
