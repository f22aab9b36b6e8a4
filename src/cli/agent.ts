/**
 * Assembles a running agent from an AgentConfig: the share registry, snapshot backends, share
 * publisher, the FSRVP service (state, reconciliation, timers), the interface registry, and the
 * listeners (TCP for development/replay/fuzzing, the Samba named-pipe socket for production).
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import createDebug from 'debug';
import { AssocGroupTable } from '../dcerpc/assoc-group.js';
import { InterfaceRegistry, type CallerIdentity } from '../dcerpc/interface.js';
import { FsrvpService } from '../fsrvp/service.js';
import { fsrvpInterface } from '../fsrvp/interface.js';
import { BtrfsBackend } from '../storage/btrfs.js';
import { CopyBackend } from '../storage/copy.js';
import { HookBackend } from '../storage/hook.js';
import type { SnapshotBackend } from '../storage/backend.js';
import { CombinedShareRegistry, SambaShareRegistry, StaticShareRegistry } from '../shares/registry.js';
import { SambaRegistryPublisher } from '../shares/samba.js';
import { ShadowConfReader } from '../shares/shadow-conf.js';
import { OWNED_FILE } from '../storage/owned.js';
import { StandalonePublisher } from '../shares/standalone.js';
import type { SharePublisher, ShareRegistry } from '../shares/types.js';
import { listenTcp, type TcpListener } from '../transport/tcp.js';
import { NpaListener, type RefusedEvent } from '../transport/npa-listener.js';
import { attachRpcStream } from '../transport/stream.js';
import { FSRVP_PIPE } from '../fsrvp/codes.js';
import { ConfigError, type AgentConfig, type MinAuthLevel } from './config.js';
import { sharePolicyResolver } from './config-policy.js';
import { hookBackendOptions } from './config-hooks.js';
import { AUTH_LEVEL } from '../dcerpc/constants.js';
import type { SecurityEvent } from '../dcerpc/auth.js';
import { buildHostAuth, type HostAuth, type HostAuthOptions } from '../security/host-auth.js';
import { kerberosAcceptorFactory } from '../security/kerberos/index.js';
import type { AcceptorFactory } from '../security/dcerpc-provider.js';
import { Recorder } from '../replay/recorder.js';

const log = createDebug('fsrvp:agent');

export interface Agent {
  readonly config: AgentConfig;
  readonly service: FsrvpService;
  readonly registry: InterfaceRegistry;
  readonly parts: AgentParts;
  readonly tcp?: TcpListener;
  readonly samba?: NpaListener;
  /** Set when connections are recorded (config `record`, fsrvpd --record). */
  readonly recorder?: Recorder;
  close(): Promise<void>;
}

export interface AgentParts {
  shares: ShareRegistry;
  publisher: SharePublisher;
  backends: SnapshotBackend[];
}

/** The storage side of an agent, without listeners (also used by the admin CLI). */
export function buildParts(config: AgentConfig): AgentParts {
  const policy = { maxDepth: config.storage.maxDepth, refuseHardLinks: config.storage.refuseHardLinks };
  // Behind Samba, snapshots go where each share's shadow_copy2 looks for them (storage/layout.ts);
  // the ones made there are recorded in the state directory (storage/owned.ts).
  const samba = config.shares.samba ?? (config.publisher.type === 'samba' ? { smbConf: config.publisher.smbConf } : undefined);
  const settings = samba ? new ShadowConfReader({ configFile: samba.smbConf }) : undefined;
  const btrfs = new BtrfsBackend({
    snapshotDir: config.storage.snapshotDir, policy,
    ...(settings ? { shareSettings: (name) => settings.read(name), ownedFile: join(config.stateDir, OWNED_FILE) } : {}),
  });
  const copy = new CopyBackend({ snapshotDir: config.storage.snapshotDir, policy });
  const hooks = Object.entries(config.storage.hooks ?? {}).map(([name, h]) => ({
    detect: h.detect,
    backend: new HookBackend({ ...hookBackendOptions(name, h), policy }),
  }));
  // Preference order for shares that name no backend: the configured default, the hooks that
  // take part in detection, btrfs, copy (which supports every directory), then the other hooks,
  // which serve only the shares that name them.
  const ordered: SnapshotBackend[] = [...hooks.filter((h) => h.detect).map((h) => h.backend), btrfs, copy, ...hooks.filter((h) => !h.detect).map((h) => h.backend)];
  const preferred = ordered.find((b) => b.name === config.storage.defaultBackend);
  const backends = preferred ? [preferred, ...ordered.filter((b) => b !== preferred)] : ordered;

  const registries: ShareRegistry[] = [];
  if (config.shares.static) registries.push(new StaticShareRegistry(config.shares.static));
  if (config.shares.samba) registries.push(new SambaShareRegistry({ configFile: config.shares.samba.smbConf }));

  let publisher: SharePublisher;
  if (config.publisher.type === 'samba') {
    publisher = new SambaRegistryPublisher({ configFile: config.publisher.smbConf, strategy: config.publisher.strategy });
  } else {
    const standalone = new StandalonePublisher({ stateDir: config.stateDir });
    // Exposed snapshot shares resolve through the agent's own registry too.
    registries.push(standalone.registry);
    publisher = standalone;
  }
  const shares = registries.length === 1 ? (registries[0] as ShareRegistry) : new CombinedShareRegistry(...registries);
  return { shares, publisher, backends };
}

/** The auth level a listener requires; strict mode (MS-FSRVP 3.1.4) requires integrity everywhere. */
function requiredLevel(config: AgentConfig, configured: MinAuthLevel, listener: string): number {
  const level = configured === 'privacy' ? AUTH_LEVEL.privacy : configured === 'integrity' ? AUTH_LEVEL.integrity : 0;
  if (config.mode !== 'strict' || level >= AUTH_LEVEL.integrity) return level;
  if (config.auth.ntlm === undefined && config.auth.kerberos === undefined) {
    throw new ConfigError(`strict mode (MS-FSRVP 3.1.4) requires DCE/RPC integrity or privacy on the ${listener} listener: configure auth.ntlm or auth.kerberos`);
  }
  return AUTH_LEVEL.integrity;
}

/** Authentication outcomes worth an operator's attention go to stderr; the rest to the debug log. */
function logSecurityEvent(e: SecurityEvent): void {
  if (e.kind === 'established') {
    // The token authz will decide on: after a forwarded smbd token or winbind's expansion (SIDs in order, the user's first).
    const id = e.identity;
    log('conn %d: authenticated %s\\%s at level %d, token (%s) of %d SIDs: %s', e.connectionId, id.domainName ?? '', id.accountName ?? '?', e.authLevel,
      id.source, id.sids.length, id.sids.join(' '));
  } else if (e.kind === 'rejected') {
    console.error(`fsrvpd: connection ${e.connectionId}: authentication (auth_type ${e.authType}) refused: ${e.reason}`);
  } else {
    console.error(`fsrvpd: connection ${e.connectionId}: ${e.reason}`);
  }
}

function tcpCaller(config: AgentConfig): CallerIdentity {
  const c = config.listen.tcp?.caller ?? { sids: [] };
  return { source: 'config', sids: c.sids, uid: c.uid, accountName: c.accountName, domainName: c.domainName };
}

/** Opens state, reconciles, and starts the configured listeners. */
export async function startAgent(config: AgentConfig): Promise<Agent> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const parts = buildParts(config);
  const service = await FsrvpService.open({
    mode: config.mode,
    stateDir: config.stateDir,
    netbiosName: config.netbiosName,
    localNames: config.localNames,
    acceptAnyHost: config.acceptAnyHost,
    authz: config.authz,
    sequenceTimeoutSeconds: config.sequenceTimeoutSeconds,
    retainSnapshots: config.retainSnapshots,
    registry: parts.shares,
    publisher: parts.publisher,
    backends: parts.backends,
    policyFor: sharePolicyResolver(config.storage, config.shares.static),
    onEvent: (e) => {
      if (e.kind === 'denied') console.error(`fsrvpd: denied ${e.op} for ${e.caller.accountName ?? e.caller.sids.join(',')}: ${e.reason}`);
      else if (e.kind === 'expired') console.error(`fsrvpd: message sequence timer expired; removed sets ${e.setIds.join(', ')}`);
      else if (e.kind === 'refused') console.error(`fsrvpd: ${e.share} cannot be shadow-copied: ${e.reason}`);
      else if (e.kind === 'progress') console.error(`fsrvpd: ${e.what}: ${e.done}${e.total === undefined ? '' : ` of ${e.total}`} entries`);
      else console.error(`fsrvpd: cleanup failed for ${e.what}: ${e.reason}`);
    },
  });
  const registry = new InterfaceRegistry().register(fsrvpInterface(service));

  let tcp: TcpListener | undefined;
  let samba: NpaListener | undefined;
  let auth: HostAuth | undefined;
  let recorder: Recorder | undefined;
  // Stops whatever has started, in order: listeners, the service, then helper processes.
  const shutdown = async (): Promise<void> => {
    await tcp?.close();
    await samba?.close();
    await recorder?.close();
    await service.close();
    await auth?.close();
    await parts.publisher.close?.();
    await Promise.all(parts.backends.map((b) => b.close?.()));
  };
  try {
    if (config.record) {
      try {
        recorder = new Recorder(config.record);
      } catch (e) {
        throw new ConfigError(`record.dir ${config.record.dir}: ${e instanceof Error ? e.message : String(e)}`);
      }
      log('recording connections to %s', config.record.dir);
    }
    let kerberos: AcceptorFactory | undefined;
    const k = config.auth.kerberos;
    if (k !== undefined) {
      try {
        kerberos = kerberosAcceptorFactory({
          keytab: k.keytab,
          ...(k.principals !== undefined ? { principals: k.principals } : {}),
          ...(k.clockSkewSec !== undefined ? { clockSkewSec: k.clockSkewSec } : {}),
        });
      } catch (e) {
        throw new ConfigError(`auth.kerberos.keytab ${k.keytab}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const n = config.auth.ntlm;
    const ntlm: HostAuthOptions['ntlm'] = n === undefined ? undefined : n.verifier === 'winbind'
      ? { verifier: 'winbind', ...(n.smbConf !== undefined ? { smbConf: n.smbConf } : {}), ...(n.ntlmAuth !== undefined ? { ntlmAuth: n.ntlmAuth } : {}) }
      : { verifier: 'passdb', ...(n.smbConf !== undefined ? { smbConf: n.smbConf } : {}) };
    auth = buildHostAuth({
      ...(kerberos !== undefined ? { kerberos } : {}),
      // With winbind the accounts are the domain's: the CHALLENGE names the domain (auth.domain).
      names: {
        netbiosName: config.netbiosName, netbiosDomain: config.auth.domain ?? config.netbiosName,
        isDomain: n?.verifier === 'winbind' && config.auth.domain !== undefined,
      },
      ...(ntlm ? { ntlm } : {}),
      ...(k?.token !== undefined ? { kerberosToken: k.token } : {}),
      spnego: config.auth.spnego,
    });
    if (auth.offered.length > 0) log('dcerpc authentication offered: %s', auth.offered.join(', '));
    const security = { authProviders: auth.providers, onSecurityEvent: logSecurityEvent };
    if (config.listen.tcp) {
      tcp = await listenTcp({
        registry, caller: tcpCaller(config), host: config.listen.tcp.host, port: config.listen.tcp.port,
        ...security, minAuthLevel: requiredLevel(config, config.listen.tcp.minLevel, 'tcp'),
        ...(recorder ? { tap: (c: { connectionId: number }) => recorder?.open({ connectionId: c.connectionId, transport: 'tcp' }) } : {}),
      });
      log('tcp listening on %s:%d', tcp.host, tcp.port);
    }
    if (config.listen.samba) {
      const groups = new AssocGroupTable();
      const minAuthLevel = requiredLevel(config, config.listen.samba.minLevel, 'samba');
      samba = await NpaListener.start({
        socketDir: config.listen.samba.socketDir,
        mode: config.listen.samba.byteMode ? 'byte' : 'message',
        onConnection: (conn) => {
          const tap = recorder?.open({ connectionId: conn.id, transport: 'np', pipe: 'FssagentRpc' });
          return attachRpcStream({
            ...(tap ? { tap } : {}),
            registry,
            caller: conn.caller,
            secondaryAddress: FSRVP_PIPE,
            groups,
            connectionId: conn.id,
            ...security,
            minAuthLevel,
            send: (pdu) => conn.send(pdu),
            close: () => conn.close(),
            backpressure: (paused) => conn.setPaused(paused),
          });
        },
      });
      samba.on('refused', (e: RefusedEvent) => {
        const who = e.caller ? ` (${e.caller.accountName ?? e.caller.sids.join(',')})` : '';
        console.error(`fsrvpd: refused pipe connection ${e.connection}${who}: ${e.reason}`);
      });
      log('samba named pipe socket at %s', samba.path);
    }
  } catch (e) {
    await shutdown();
    throw e;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    service,
    registry,
    parts,
    tcp,
    samba,
    ...(recorder ? { recorder } : {}),
    close() {
      // Idempotent: a second call waits for the first.
      closing ??= shutdown();
      return closing;
    },
  };
}
