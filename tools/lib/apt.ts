/**
 * Installing the Debian packages the integration tests and benchmarks need, when they are
 * missing (the tests never skip for want of a tool: they install it, or fail saying what to
 * install). apt-get runs with a policy-rc.d that stops package scripts from starting services,
 * so installing samba does not start a system smbd on port 445.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

interface AptResult {
  readonly code: number;
  readonly output: string;
}

function apt(args: readonly string[], timeoutMs: number): Promise<AptResult> {
  return new Promise((resolve) => {
    execFile('apt-get', args, { timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (err, stdout, stderr) => {
        const raw = (err as { code?: unknown } | null)?.code;
        resolve({ code: err ? (typeof raw === 'number' ? raw : 127) : 0, output: `${String(stdout)}${String(stderr)}` || String(err?.message ?? '') });
      });
  });
}

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
    const upd = await apt(['update', '-q'], 600_000);
    const inst = upd.code === 0 ? await apt(['install', '-y', '-q', '--no-install-recommends', ...packages], 900_000) : upd;
    if (inst.code !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed (${inst.code}): ${inst.output.slice(-2000)}`);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}
