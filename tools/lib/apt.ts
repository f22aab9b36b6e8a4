/**
 * Installing the Debian packages the integration tests and benchmarks need, when they are
 * missing (the tests never skip for want of a tool: they install it, or fail saying what to
 * install). apt-get runs with a policy-rc.d that stops package scripts from starting services,
 * so installing samba does not start a system smbd on port 445.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { runCmd } from './run-cmd.js';

const aptEnv = (): NodeJS.ProcessEnv => ({ ...process.env, DEBIAN_FRONTEND: 'noninteractive' });

/**
 * `apt-get update` then `apt-get install --no-install-recommends` of `packages` (needs root).
 * Throws with apt's last output lines when either fails.
 */
export async function aptInstall(packages: readonly string[]): Promise<void> {
  if (packages.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`installing ${packages.join(' ')} needs root`);
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  try {
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    const upd = await runCmd('apt-get', ['update', '-q'], { timeoutMs: 600_000, env: aptEnv() });
    const inst = upd.code === 0
      ? await runCmd('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { timeoutMs: 900_000, env: aptEnv() })
      : upd;
    if (inst.code !== 0) {
      throw new Error(`apt-get install ${packages.join(' ')} failed (${inst.code}): ${`${inst.stdout}${inst.stderr}`.slice(-2000)}`);
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}
