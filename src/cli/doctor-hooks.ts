/**
 * `fsrvpd doctor --agent-config FILE`: whether each snapshot hook of the configuration answers
 * (protocol version, description) and serves the shares that name it (supports, volume): static
 * shares, and Samba's (`fsrvp:backend`) when the configuration reads shares from Samba.
 */
import { SambaShareRegistry } from '../shares/registry.js';
import { HookBackend } from '../storage/hook.js';
import type { AgentConfig } from './config.js';
import { hookBackendOptions } from './config-hooks.js';
import { formatSection, type Finding, type Status } from './doctor-common.js';

/** Every configured share as name, path and chosen backend. */
async function sharesOf(config: AgentConfig, add: (status: Status, check: string, detail: string) => void): Promise<Array<{ name: string; path: string; backend?: string }>> {
  const out = Object.entries(config.shares.static ?? {}).map(([name, s]) => ({ name, path: s.path, ...(s.backend ? { backend: s.backend } : {}) }));
  if (config.shares.samba) {
    try {
      out.push(...await new SambaShareRegistry({ configFile: config.shares.samba.smbConf }).list());
    } catch (e) {
      add('error', 'samba shares', `cannot list Samba's shares: ${(e as Error).message}`);
    }
  }
  return out;
}

export async function inspectHooks(config: AgentConfig): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (status: Status, check: string, detail: string): void => { findings.push({ status, check, detail }); };
  const all = Object.keys(config.storage.hooks ?? {}).length > 0 ? await sharesOf(config, add) : [];
  for (const [name, h] of Object.entries(config.storage.hooks ?? {})) {
    const hook = new HookBackend(hookBackendOptions(name, h));
    const check = `hook ${name}`;
    try {
      const hello = await hook.describe();
      add('ok', check, `${h.command} speaks protocol ${hello.protocol}${hello.description ? ` (${hello.description})` : ''}`);
    } catch (e) {
      add('error', check, (e as Error).message);
      continue;
    }
    const shares = all.filter((s) => s.backend === name);
    if (shares.length === 0 && !h.detect && config.storage.defaultBackend !== name) {
      add('info', check, `no share names it (a static share's backend, or fsrvp:backend = ${name} in a Samba share)`);
    }
    for (const { name: share, ...s } of shares) {
      try {
        const why = await hook.supportsWhy(s.path);
        if (!why.supported) {
          add('error', `share ${share}`, `hook ${name} does not support ${s.path}${why.reason ? `: ${why.reason}` : ''}`);
          continue;
        }
        const v = await hook.volumeOf(s.path);
        add('ok', `share ${share}`, `hook ${name}: volume ${v.id} at ${v.root}`);
      } catch (e) {
        add('error', `share ${share}`, (e as Error).message);
      }
    }
  }
  return findings;
}

export function formatHooks(configFile: string, findings: readonly Finding[]): string {
  return formatSection(`fsrvpd doctor: snapshot hooks of ${configFile}`, findings, {
    bad: 'Some configured snapshot hooks will not work.', good: 'The configured snapshot hooks answer.',
  });
}
