/**
 * Our agent on the Samba domain member of samba-member.ts, configured as on a production file
 * server joined to a domain: the member's smbd forwards \PIPE\FssagentRpc to the agent's npa
 * listener; NTLM responses go to the member's winbindd (`auth.ntlm.verifier: "winbind"` with the
 * member's smb.conf: ntlm_auth asks winbindd, which asks the DC over NETLOGON); Kerberos tickets
 * for host/<member> are checked with the keytab of the member's machine account, the caller's
 * token completed by the member's winbindd (`auth.kerberos.token: "winbind"`: the member's
 * BUILTIN aliases, which no PAC carries); shares and exposed shadow copies in the member's
 * registry; the btrfs backend on the share's filesystem.
 */
import { startAgent, type Agent } from '../../src/cli/agent.js';
import type { AgentConfig, MinAuthLevel } from '../../src/cli/config.js';
import { MEMBER_ADDRESS, type SambaMember } from './samba-member.js';
import { sambaAgentConfig } from './samba-agent-config.js';
import { closingOnce } from './temp-agent.js';

export interface MemberAgentOptions {
  /** Minimum level of the Samba socket and the TCP listener (default integrity). */
  readonly minLevel?: MinAuthLevel;
  /** Also listen on TCP 127.0.0.2 (a free port): no smbd token there, the caller's is the mechanism's alone. */
  readonly tcp?: boolean;
  readonly patch?: (c: AgentConfig) => void;
}

/** The agent configuration for member `m`. */
export function memberAgentConfig(m: SambaMember, o: MemberAgentOptions = {}): AgentConfig {
  const c = sambaAgentConfig({
    root: m.root, netbiosName: m.machineAccount.slice(0, -1), localNames: [m.fqdn, MEMBER_ADDRESS], seqTimeout: m.dc.seqTimeout,
    socketDir: m.socketDir, smbConf: m.conf, minLevel: o.minLevel ?? 'integrity', ...(o.tcp ? { tcpHost: MEMBER_ADDRESS } : {}),
  });
  c.auth.ntlm = { verifier: 'winbind', smbConf: m.conf };
  c.auth.kerberos = { keytab: m.keytab, token: 'winbind' };
  c.auth.domain = m.dc.names.domain;
  o.patch?.(c);
  return c;
}

/** Starts the agent for `m`; it is closed when the DC stops at the latest (before the member). */
export async function startMemberAgent(m: SambaMember, o: MemberAgentOptions = {}): Promise<Agent> {
  const agent = closingOnce(await startAgent(memberAgentConfig(m, o)));
  m.dc.onStop(agent.close);
  return agent;
}
