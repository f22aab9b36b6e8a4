/**
 * `fsrvpd doctor --agent-config FILE`: whether each snapshot hook of the configuration answers
 * (protocol version, description) and serves the static shares that name it (supports, volume).
 */
import { HookBackend } from '../storage/hook.js';
import type { AgentConfig } from './config.js';
import { formatSection, type Finding, type Status } from './doctor-common.js';

export async function inspectHooks(config: AgentConfig): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (status: Status, check: string, detail: string): void => { findings.push({ status, check, detail }); };
  for (const [name, h] of Object.entries(config.storage.hooks ?? {})) {
    const hook = new HookBackend({ name, command: h.command, args: h.args, env: h.env, ...(h.timeoutSeconds ? { timeoutSeconds: h.timeoutSeconds } : {}) });
    const check = `hook ${name}`;
    try {
      const hello = await hook.describe();
      add('ok', check, `${h.command} speaks protocol ${hello.protocol}${hello.description ? ` (${hello.description})` : ''}`);
    } catch (e) {
      add('error', check, (e as Error).message);
      continue;
    }
    const shares = Object.entries(config.shares.static ?? {}).filter(([, s]) => s.backend === name);
    if (shares.length === 0 && !h.detect && config.storage.defaultBackend !== name) {
      add('info', check, 'no static share names it (Samba shares choose it with fsrvp:backend)');
    }
    for (const [share, s] of shares) {
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
