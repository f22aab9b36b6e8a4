/**
 * Where our agent's time goes in a full cycle behind smbd: wall time of each publisher, backend
 * and share-lookup call (the instances the running service holds are wrapped), every external
 * tool the agent ran (from the `fsrvp:exec` debug lines, which carry each command's duration),
 * and the journal's fdatasync calls (FileHandle.prototype.datasync wrapped). Everything is
 * restored afterwards.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { format } from 'node:util';
import createDebug from 'debug';
import type { Agent } from '../../src/cli/agent.js';

export interface Timing {
  count: number;
  totalMs: number;
}

export interface Probe {
  /** publisher.publish, backend.create, … (wall time, including waits). */
  readonly calls: Map<string, Timing>;
  /** External tools by command (`net conf import`, `btrfs subvolume snapshot`, …). */
  readonly tools: Map<string, Timing>;
  /** Restores everything the probe wrapped or enabled. */
  stop(): void;
}

function add(m: Map<string, Timing>, key: string, ms: number): void {
  const t = m.get(key) ?? { count: 0, totalMs: 0 };
  t.count++;
  t.totalMs += ms;
  m.set(key, t);
}

type AnyAsync = (...args: unknown[]) => Promise<unknown>;

/** Replaces the async method `obj[name]` by `make(original)`; returns the undo. */
export function patchMethod(obj: object, name: string, make: (original: AnyAsync) => AnyAsync): () => void {
  const o = obj as Record<string, unknown>;
  const own = Object.prototype.hasOwnProperty.call(o, name);
  const original = o[name];
  if (typeof original !== 'function') throw new Error(`no method ${name} to patch`);
  o[name] = make(original as AnyAsync);
  return () => {
    if (own) o[name] = original;
    else delete o[name];
  };
}

/** Wraps `obj[name]` (an async method) to time it into `into[key]`; returns the undo. */
function wrap(obj: object, name: string, key: string, into: Map<string, Timing>): () => void {
  return patchMethod(obj, name, (fn) => async function timed(this: unknown, ...args: unknown[]): Promise<unknown> {
    const t0 = performance.now();
    try {
      return await fn.apply(this, args);
    } finally {
      add(into, key, performance.now() - t0);
    }
  });
}

/** `net -s x conf import f s` → `net conf import`; `btrfs subvolume snapshot -r a b` → `btrfs subvolume snapshot`. */
export function toolKey(commandLine: string): string {
  const words = commandLine.split(' ');
  const tool = (words[0] ?? '').split('/').pop() ?? '';
  const rest: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as string;
    if (w === '-s') {
      i++;
      continue;
    }
    if (/^[a-z][a-z-]*$/.test(w) || (/^--[a-z]+$/.test(w) && w !== '--force')) rest.push(w);
  }
  return [tool, ...rest.slice(0, 2)].join(' ');
}

// ANSI colour sequences debug adds on a terminal.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * FileHandle's prototype, for patching the journal's datasync: the journal's FileHandle is not
 * reachable, its class is (found through a scratch file in the agent's state directory).
 */
export async function fileHandlePrototype(agent: Agent): Promise<object> {
  const scratch = join(agent.config.stateDir, '.bench-probe');
  const fh: FileHandle = await open(scratch, 'w');
  try {
    return Object.getPrototypeOf(fh) as object;
  } finally {
    await fh.close();
    await rm(scratch, { force: true });
  }
}

/** Starts probing a running agent. */
export async function startProbe(agent: Agent): Promise<Probe> {
  const calls = new Map<string, Timing>();
  const tools = new Map<string, Timing>();
  const undo: Array<() => void> = [];
  const pub = agent.parts.publisher;
  for (const m of ['publish', 'setReadOnly', 'unpublish']) undo.push(wrap(pub, m, `publisher.${m}`, calls));
  for (const b of agent.parts.backends) {
    for (const m of ['supports', 'volumeOf', 'check', 'create', 'setReadOnly', 'delete']) undo.push(wrap(b, m, `${b.name} backend.${m}`, calls));
  }
  undo.push(wrap(agent.parts.shares, 'lookup', 'shares.lookup', calls));
  // Count every datasync meanwhile.
  undo.push(wrap(await fileHandlePrototype(agent), 'datasync', 'fdatasync (state journal)', calls));

  const previous = createDebug.disable();
  const previousLog = createDebug.log;
  createDebug.log = (...args: unknown[]): void => {
    const line = format(...args).replace(ANSI, '');
    const m = /fsrvp:exec\s+(.*) \((\d+) ms\)/.exec(line);
    if (m) add(tools, toolKey(m[1] as string), Number(m[2]));
    if (previous) previousLog(...args);
  };
  createDebug.enable(previous ? `${previous},fsrvp:exec` : 'fsrvp:exec');
  return {
    calls,
    tools,
    stop() {
      createDebug.disable();
      if (previous) createDebug.enable(previous);
      createDebug.log = previousLog;
      for (const u of undo.reverse()) u();
    },
  };
}
