/**
 * The agent configuration every Samba harness runs (the smbd harness, the AD DC, the domain
 * member): samba mode, state in `<root>/agent`, the npa listener on smbd's
 * `external_rpc_pipe:socket_dir`, optionally a TCP listener, shares read from and shadow copies
 * published into that Samba's registry, the btrfs backend with the Hyper-V tree rules. Each
 * harness then adds its own authentication settings.
 */
import { join } from 'node:path';
import { defaultConfig, type AgentConfig, type MinAuthLevel } from '../../src/cli/config.js';

export interface SambaAgentSite {
  /** The harness's run dir: the agent's files go to `<root>/agent`. */
  readonly root: string;
  readonly netbiosName: string;
  readonly localNames: string[];
  readonly seqTimeout: number;
  /** smbd's external_rpc_pipe:socket_dir. */
  readonly socketDir: string;
  /** The smb.conf whose registry holds the shares. */
  readonly smbConf: string;
  /** Minimum level of the Samba socket (and the TCP listener). */
  readonly minLevel: MinAuthLevel;
  /** Also a TCP listener on this address (a free port). */
  readonly tcpHost?: string;
}

export function sambaAgentConfig(s: SambaAgentSite): AgentConfig {
  const c = defaultConfig(join(s.root, 'agent'));
  c.netbiosName = s.netbiosName;
  c.localNames = s.localNames;
  c.mode = 'samba';
  c.stateDir = join(s.root, 'agent', 'state');
  c.sequenceTimeoutSeconds = s.seqTimeout;
  c.listen = { samba: { socketDir: s.socketDir, byteMode: false, minLevel: s.minLevel } };
  if (s.tcpHost !== undefined) c.listen.tcp = { host: s.tcpHost, port: 0, caller: { sids: [] }, minLevel: s.minLevel };
  c.shares = { samba: { smbConf: s.smbConf } };
  c.publisher = { type: 'samba', smbConf: s.smbConf };
  c.storage = { defaultBackend: 'btrfs', maxDepth: 5, refuseHardLinks: true };
  return c;
}
