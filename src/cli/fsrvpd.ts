#!/usr/bin/env node
/**
 * fsrvpd: the FSRVP agent. With no configuration it runs the embedded default: a TCP listener on
 * 127.0.0.1:7135 and one demo share on the reflink/copy backend under ./.fsrvp-demo.
 */
import createDebug from 'debug';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type AgentConfig } from './config.js';
import { configFromArgs } from './args.js';
import { startAgent } from './agent.js';
import { startupLog } from './startup-log.js';
import { packageVersion } from './version.js';

const HELP = `usage: fsrvpd [run] [options]
       fsrvpd doctor [--apply] [--config smb.conf] [--socket-dir DIR] [--agent-config FILE [--auth-only]]
       fsrvpd print-config [--config FILE]

Runs the File Server Remote VSS Protocol agent (MS-FSRVP, interface FileServerVssAgent).

Without --config it runs the embedded default: TCP on 127.0.0.1:7135, state and a demo share
"demo" (reflink/copy backend, standalone publisher) under ./.fsrvp-demo. Try it with:
  node dist/src/cli/fsrvp.js cycle demo

Options:
  --config FILE          JSON configuration (see README "Configuration")
  --tcp HOST:PORT        TCP listener address (loopback only); overrides the configuration
  --no-tcp               no TCP listener
  --samba-socket-dir DIR serve \\PIPE\\FssagentRpc to smbd at DIR/np/fssagentrpc
                         (smb.conf: external_rpc_pipe:socket_dir = DIR)
  --state-dir DIR        where state is kept
  --sequence-timeout S   message sequence timer in seconds for every step (Samba's
                         "fss: sequence timeout"); 0 disables it
  --record DIR           write every accepted connection to DIR as a capture file
                         (JSON lines, replayable with fsrvp-replay); files are 0600 and
                         hold whatever the PDUs carry, authentication tokens included
  --strict               follow MS-FSRVP as written where Samba's clients expect otherwise
  -h, --help             this text
  --version              print the version

Logging: DEBUG=fsrvp:* fsrvpd … for protocol and storage traces.
Subcommands:
  doctor        inspect a Samba host and say what is missing to serve FSRVP behind smbd;
                with --agent-config FILE, also which authentication mechanisms will work
                here and why not (keytab, clock skew against the KDC, winbind, passdb)
  print-config  print the effective configuration as JSON and exit
`;

/** Creates the demo share of the embedded default with a few files, once. */
async function prepareDemo(config: AgentConfig): Promise<void> {
  for (const share of Object.values(config.shares.static ?? {})) {
    if (existsSync(share.path)) continue;
    await mkdir(join(share.path, 'reports'), { recursive: true });
    await writeFile(join(share.path, 'README.txt'), 'A demo share served by fsrvpd. Change me after a commit: the shadow copy keeps this text.\n');
    await writeFile(join(share.path, 'reports', 'q3.csv'), 'quarter,revenue\nq3,42\n');
  }
}

const debug = createDebug('fsrvp:cli');
/** Start-up lines list at most this many repairs or shares; the rest go to the debug log. */

async function run(argv: string[]): Promise<number> {
  const { config, embedded } = configFromArgs(argv);
  if (embedded) await prepareDemo(config);
  const agent = await startAgent(config);
  const where: string[] = [];
  if (agent.tcp) where.push(`tcp ${agent.tcp.host}:${agent.tcp.port}`);
  if (agent.samba) where.push(`samba socket ${agent.samba.path}`);
  const shares = await agent.parts.shares.list().catch(() => []);
  console.log(`fsrvpd: FileServerVssAgent listening on ${where.join(' and ')}`);
  if (config.record) console.log(`fsrvpd: recording every connection to ${config.record.dir}`);
  console.log(`fsrvpd: state in ${config.stateDir}; ${agent.service.view().sets.length} shadow copy set(s) loaded; ` +
    `${agent.service.reconcileReport.repairs.length} repair(s) at start-up`);
  const log = startupLog(shares, agent.service.reconcileReport.repairs);
  for (const line of log.lines) console.log(line);
  for (const line of log.debugLines) debug('%s', line);
  if (embedded && agent.tcp) {
    console.log(`fsrvpd: try it: node dist/src/cli/fsrvp.js cycle demo --port ${agent.tcp.port}`);
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      console.log(`fsrvpd: ${sig}, shutting down`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await agent.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    console.log(`fsrvpd ${packageVersion()}`);
    return 0;
  }
  const [cmd, ...rest] = argv;
  if (cmd === 'doctor') {
    const { runDoctor } = await import('./doctor.js');
    return runDoctor(rest);
  }
  if (cmd === 'print-config') {
    console.log(JSON.stringify(configFromArgs(rest).config, null, 2));
    return 0;
  }
  if (cmd === 'run') return run(rest);
  return run(argv);
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  if (e instanceof ConfigError) {
    console.error(`fsrvpd: ${e.message}`);
    process.exit(2);
  }
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err?.code === 'EADDRINUSE') {
    console.error(`fsrvpd: ${err.address}:${err.port} is already in use (another fsrvpd?); stop it or choose another address with --tcp 127.0.0.1:PORT`);
    process.exit(1);
  }
  console.error(`fsrvpd: ${e instanceof Error ? (process.env.DEBUG ? e.stack : e.message) : String(e)}`);
  process.exit(1);
});
