/** A real agent in a temp dir for benchmarks: copy backend, standalone publisher, TCP on a free port. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type AgentConfig } from '../../src/cli/config.js';
import { startAgent, type Agent } from '../../src/cli/agent.js';

export interface BenchAgent {
  agent: Agent;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startBenchAgent(tweak: (c: AgentConfig) => void = () => {}): Promise<BenchAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'fsrvp-bench-'));
  const config = defaultConfig(dir);
  config.listen.tcp!.port = 0;
  tweak(config);
  for (const s of Object.values(config.shares.static ?? {})) {
    await mkdir(s.path, { recursive: true });
    await writeFile(join(s.path, 'data.bin'), Buffer.alloc(64 * 1024, 7));
  }
  const agent = await startAgent(config);
  return {
    agent,
    port: agent.tcp!.port,
    dir,
    async stop() {
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
