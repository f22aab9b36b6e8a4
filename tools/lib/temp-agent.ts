/**
 * A real agent in a temporary directory: the embedded default (copy backend, standalone
 * publisher, demo share) with TCP on a free loopback port. Used by the tests and the benchmarks.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type AgentConfig } from '../../src/cli/config.js';
import { startAgent, type Agent } from '../../src/cli/agent.js';
import { unprotectTree } from '../../src/storage/protect.js';

export interface TempAgent {
  agent: Agent;
  port: number;
  dir: string;
  /** Path of the demo share. */
  sharePath: string;
  /** Closes the agent and removes the directory (read-only copies included). */
  stop(): Promise<void>;
}

export interface TempAgentOptions {
  /** Changes to the configuration before start. */
  tweak?: (c: AgentConfig) => void;
  /** Fills each static share (default: `file.txt` and an empty `sub/`). */
  seed?: (sharePath: string) => Promise<void>;
  /** Prefix of the temporary directory. */
  prefix?: string;
}

async function defaultSeed(sharePath: string): Promise<void> {
  await mkdir(join(sharePath, 'sub'), { recursive: true });
  await writeFile(join(sharePath, 'file.txt'), 'pre-snapshot\n');
}

export async function startTempAgent(opts: TempAgentOptions = {}): Promise<TempAgent> {
  const dir = await mkdtemp(join(tmpdir(), opts.prefix ?? 'fsrvp-agent-'));
  const config = defaultConfig(dir);
  config.listen.tcp!.port = 0;
  opts.tweak?.(config);
  for (const s of Object.values(config.shares.static ?? {})) {
    await mkdir(s.path, { recursive: true });
    await (opts.seed ?? defaultSeed)(s.path);
  }
  let agent: Agent;
  try {
    agent = await startAgent(config);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    agent,
    port: agent.tcp!.port,
    dir,
    sharePath: config.shares.static?.demo?.path ?? '',
    async stop() {
      await agent.close();
      // Read-only copies carry the immutable flag: clear it so the directory can go.
      await unprotectTree(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `agent` with a close() that runs once however often it is called (a test's finally and a
 * harness's stop both call it); later calls wait for the first, and only the first reports its failure.
 */
export function closingOnce(agent: Agent): Agent {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closing !== undefined) return closing.catch(() => undefined);
    closing = agent.close();
    return closing;
  };
  return { ...agent, close };
}
