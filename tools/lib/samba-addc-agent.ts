/**
 * Our full agent on the AD DC of samba-addc.ts (started with option `share`): the FSRVP service
 * on the DC's `fsrvp_share` (btrfs backend, README layout), the Samba registry publisher writing
 * `fsrvp_share@{GUID}` into the DC's registry, the npa listener the DC's smbd forwards
 * \PIPE\FssagentRpc to, and optionally the TCP listener on 127.0.0.1; Kerberos from the keytab
 * `samba-tool domain exportkeytab` wrote. Also smbtorture against the DC (Kerberos, by name).
 */
import { startAgent, type Agent } from '../../src/cli/agent.js';
import type { AgentConfig, MinAuthLevel } from '../../src/cli/config.js';
import { must, runCmd } from './run-cmd.js';
import { DC_ADDRESS, type AdDc, type DcUser } from './samba-addc.js';
import { hostsEnv } from './samba-addc-share.js';
import { sambaAgentConfig } from './samba-agent-config.js';
import { closingOnce } from './temp-agent.js';
import type { TortureResult } from './samba-harness.js';

export interface DcAgentOptions {
  readonly keytab: string;
  /** Minimum level of the Samba socket and the TCP listener (default integrity). */
  readonly minLevel?: MinAuthLevel;
  /** Also listen on TCP 127.0.0.1 (a free port). Default false. */
  readonly tcp?: boolean;
  readonly patch?: (c: AgentConfig) => void;
}

/** The agent configuration for `dc` (which must have been started with `share`). */
export function dcAgentConfig(dc: AdDc, o: DcAgentOptions): AgentConfig {
  if (!dc.share) throw new Error('the AD DC was started without a share (option share)');
  const c = sambaAgentConfig({
    root: dc.root, netbiosName: dc.names.host.toUpperCase(), localNames: [dc.fqdn, DC_ADDRESS], seqTimeout: dc.seqTimeout,
    socketDir: dc.socketDir, smbConf: dc.conf, minLevel: o.minLevel ?? 'integrity', ...(o.tcp ? { tcpHost: DC_ADDRESS } : {}),
  });
  c.auth.kerberos = { keytab: o.keytab };
  o.patch?.(c);
  return c;
}

/** Starts the agent for `dc`; it is closed at dc.stop() at the latest. */
export async function startDcAgent(dc: AdDc, o: DcAgentOptions): Promise<Agent> {
  const agent = closingOnce(await startAgent(dcAgentConfig(dc, o)));
  dc.onStop(agent.close);
  return agent;
}

/**
 * `smbtorture ncacn_np:<fqdn>[<opts>] <test> --use-kerberos=required -U user` with the run's
 * krb5.conf, the DC's name resolved to 127.0.0.1 by nss_wrapper, and the share's sequence timeout.
 */
export async function dcSmbtorture(dc: AdDc, bindingOptions: string, test: string, user: DcUser, ccache: string): Promise<TortureResult & { binding: string }> {
  const binding = `ncacn_np:${dc.fqdn}[${bindingOptions}]`;
  const env = await hostsEnv(dc.root, [dc.fqdn, dc.names.host], dc.env(ccache));
  const r = await runCmd('/usr/bin/smbtorture', [
    binding, test, '-s', dc.clientConf, '--use-kerberos=required', '-U', `${dc.names.domain}\\${user.name}%${user.password}`,
    `--realm=${dc.realm}`, `--option=fss:sequence timeout=${dc.seqTimeout}`,
  ], { env, timeoutMs: 600_000 });
  const pick = (kind: string): string[] => [...r.stdout.matchAll(new RegExp(`^${kind}: (\\S+)`, 'gm'))].map((m) => m[1] as string);
  return { ...r, binding, passed: pick('success'), failed: [...pick('failure'), ...pick('error')], skipped: pick('skip') };
}

/** Registry shares of the DC (exposed shadow copies live there). */
export async function dcRegistryShares(dc: AdDc): Promise<string[]> {
  const r = await runCmd('/usr/bin/net', ['-s', dc.conf, 'conf', 'listshares']);
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'global');
}

/** Subvolumes on the share's filesystem other than the share itself (i.e. snapshots). */
export async function dcSnapshotSubvolumes(dc: AdDc): Promise<string[]> {
  if (!dc.share) return [];
  const out = await must('/usr/bin/btrfs', ['subvolume', 'list', dc.share.mount]);
  return out.split('\n').filter(Boolean).map((l) => l.replace(/^.* path /, '')).filter((p) => p !== 'share');
}

/** The SID of a domain account (`wbinfo --name-to-sid DOMAIN\name` against the DC's winbindd). */
export async function dcUserSid(dc: AdDc, name: string): Promise<string> {
  const w = await runCmd('/usr/bin/wbinfo', ['--name-to-sid', `${dc.names.domain}\\${name}`], { env: dc.daemonEnv });
  const sid = /^(S-1-5-21-[\d-]+)/.exec(w.stdout)?.[1];
  if (!sid) throw new Error(`no SID for ${name}: ${w.stdout}${w.stderr}`);
  return sid;
}
