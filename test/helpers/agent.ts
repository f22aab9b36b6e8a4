/** Starts a real agent (real service, copy backend, standalone publisher) in a temp dir. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type AgentConfig } from '../../src/cli/config.js';
import { startAgent, type Agent } from '../../src/cli/agent.js';
import { unprotectTree } from '../../src/storage/protect.js';

export interface TestAgent {
  agent: Agent;
  port: number;
  dir: string;
  sharePath: string;
  stop(): Promise<void>;
}

export async function startTestAgent(tweak: (c: AgentConfig) => void = () => {}): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'fsrvp-agent-'));
  const config = defaultConfig(dir);
  config.listen.tcp!.port = 0;
  tweak(config);
  const sharePath = config.shares.static!.demo!.path;
  await mkdir(join(sharePath, 'sub'), { recursive: true });
  await writeFile(join(sharePath, 'file.txt'), 'pre-snapshot\n');
  const agent = await startAgent(config);
  return {
    agent,
    port: agent.tcp!.port,
    dir,
    sharePath,
    async stop() {
      await agent.close();
      // Read-only copies carry the immutable flag: clear it so the temp dir can go.
      await unprotectTree(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
