/** fsrvpd's command-line options, applied over the configuration file or the embedded default. */
import { ConfigError, defaultConfig, loadConfig, type AgentConfig } from './config.js';
import { resolve } from 'node:path';
import { isLoopbackHost } from '../sys/loopback.js';

function takeValue(argv: string[], i: number, name: string): string {
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new ConfigError(`${name} needs a value`);
  return v;
}

/** Parses options into a configuration: the file (or the embedded default), then overrides. */
export function configFromArgs(argv: string[]): { config: AgentConfig; embedded: boolean } {
  let file: string | undefined;
  const overrides: ((c: AgentConfig) => void)[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    switch (a) {
      case '--config':
        file = takeValue(argv, i++, a);
        break;
      case '--tcp': {
        const v = takeValue(argv, i++, a);
        const m = /^(.*):(\d+)$/.exec(v);
        if (!m) throw new ConfigError(`--tcp takes HOST:PORT, not ${v}`);
        const host = m[1] as string;
        if (!isLoopbackHost(host)) throw new ConfigError('--tcp: loopback addresses only');
        overrides.push((c) => {
          const d = defaultConfig().listen.tcp!;
          c.listen.tcp = {
            host: host.replace(/^\[|\]$/g, ''), port: Number(m[2]), caller: c.listen.tcp?.caller ?? d.caller, minLevel: c.listen.tcp?.minLevel ?? d.minLevel,
          };
        });
        break;
      }
      case '--no-tcp':
        overrides.push((c) => delete c.listen.tcp);
        break;
      case '--samba-socket-dir': {
        const dir = takeValue(argv, i++, a);
        overrides.push((c) => (c.listen.samba = { socketDir: dir, byteMode: false, minLevel: c.listen.samba?.minLevel ?? 'none' }));
        break;
      }
      case '--state-dir': {
        const dir = takeValue(argv, i++, a);
        overrides.push((c) => (c.stateDir = dir));
        break;
      }
      case '--sequence-timeout': {
        const v = Number(takeValue(argv, i++, a));
        if (!Number.isInteger(v) || v < 0) throw new ConfigError('--sequence-timeout takes whole seconds >= 0');
        overrides.push((c) => (c.sequenceTimeoutSeconds = v));
        break;
      }
      case '--record': {
        const dir = resolve(takeValue(argv, i++, a));
        overrides.push((c) => (c.record = { ...c.record, dir }));
        break;
      }
      case '--strict':
        overrides.push((c) => (c.mode = 'strict'));
        break;
      default:
        throw new ConfigError(`unknown option ${a} (see --help)`);
    }
  }
  const config = file ? loadConfig(file) : defaultConfig();
  for (const o of overrides) o(config);
  if (!config.listen.tcp && !config.listen.samba) throw new ConfigError('no listener left: keep TCP or give --samba-socket-dir');
  return { config, embedded: file === undefined };
}

