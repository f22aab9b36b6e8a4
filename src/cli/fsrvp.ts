#!/usr/bin/env node
/**
 * fsrvp: a command-line FSRVP client for the agent's TCP listener (development, demos, scripts),
 * and the operator's snapshot tools.
 */
import { FsrvpCallError, FsrvpClient } from '../client/fsrvp-client.js';
import { CTX, HRESULT, hresultName } from '../fsrvp/codes.js';
import { ConfigError } from './config.js';
import { RestoreError } from '../storage/retention.js';
import { runSnapshots, SnapshotsUsageError } from './snapshots.js';
import { packageVersion } from './version.js';
import { AUTH_HELP, AuthUsageError, clientSecurity, type AuthArgs } from './credentials.js';
import { walkToolArgs } from './tool-args.js';
import { TARGET_HELP, TargetUsageError, checkTarget, targetHost, targetOpener, type TargetArgs } from './target.js';
import { KerberosClientError } from '../security/kerberos/kdc-transport.js';
import { SmbError } from '../smb/index.js';
import { NpaClientError } from '../transport/npa-client.js';
import { RpcAuthError } from '../dcerpc/client-auth.js';
import { RpcFault } from '../dcerpc/interface.js';

const HELP = `usage: fsrvp <command> [arguments] [--tcp HOST:PORT | --smb //HOST -U DOMAIN\\USER | --unix SOCKET]
                                      [--auth ntlm|kerberos|spnego [--level integrity|privacy]]

Talks to an FSRVP server: fsrvpd's TCP listener (default 127.0.0.1:7135), any FSRVP server over
SMB (Windows, ONTAP, Samba, fsrvpd behind smbd), or an external RPC pipe socket.

Commands:
  cycle SHARE...             the whole life cycle, printing each step: set context, start, add,
                             prepare, commit, expose, get mapping, recovery complete, delete
      --rw                   auto-recovery: writable copies until recovery complete
      --context NAME         backup (default), file_share_backup, nas_rollback, app_rollback
      --keep                 stop after expose/get mapping (no recovery complete, no delete)
  version                    GetSupportedVersion
  is-path-supported SHARE    IsPathSupported
  is-path-shadow-copied SHARE
                             IsPathShadowCopied
  mapping SHARE SET COPY     GetShareMapping (level 1)
  recovery-complete SET      RecoveryCompleteShadowCopySet
  abort SET                  AbortShadowCopySet
  delete SHARE SET COPY      DeleteShareMapping
  snapshots list|restore|prune
                             retained snapshots (local; see fsrvp snapshots --help)

${TARGET_HELP}
Options:
  --server NAME              host part of the UNC names sent (default: the --smb host, else
                             127.0.0.1); the server never contacts it
  -h, --help                 this text
  --version                  print the version

${AUTH_HELP}
SHARE is a share name ("demo") or a UNC ("\\\\server\\demo\\").
Exit status: 0 on success, 1 when a call returned an error, 2 for bad usage.
`;

const CONTEXTS: Record<string, number> = {
  backup: CTX.BACKUP,
  file_share_backup: CTX.FILE_SHARE_BACKUP,
  nas_rollback: CTX.NAS_ROLLBACK,
  app_rollback: CTX.APP_ROLLBACK,
};

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  target: TargetArgs;
  server: string;
  rw: boolean;
  keep: boolean;
  context: number;
  auth: AuthArgs;
}

function parse(argv: string[]): Parsed {
  let server: string | undefined;
  const p: Parsed = { positional: [], target: {}, server: '', rw: false, keep: false, context: CTX.BACKUP, auth: {} };
  walkToolArgs(argv, p, (a, value) => {
    if (a === '--server') server = value();
    else if (a === '--rw') p.rw = true;
    else if (a === '--keep') p.keep = true;
    else if (a === '--context') {
      const name = value();
      const ctx = CONTEXTS[name];
      if (ctx === undefined) throw new UsageError(`--context: one of ${Object.keys(CONTEXTS).join(', ')}`);
      p.context = ctx;
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else p.positional.push(a);
  }, (m) => new UsageError(m));
  checkTarget(p.target);
  p.server = server ?? (p.target.kind === 'smb' ? p.target.host as string : '127.0.0.1');
  return p;
}

const unc = (p: Parsed, share: string): string => (share.startsWith('\\\\') ? share : `\\\\${p.server}\\${share}\\`);

function need(p: Parsed, n: number, what: string): string[] {
  if (p.positional.length !== n) throw new UsageError(`expected ${what}`);
  return p.positional;
}

function result(op: string, r: { result: number }, detail = ''): number {
  console.log(`${op}: ${hresultName(r.result)}${detail ? `  ${detail}` : ''}`);
  return r.result === 0 ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version') {
    console.log(`fsrvp ${packageVersion()}`);
    return 0;
  }
  if (cmd === 'snapshots') return runSnapshots(rest);
  if (!cmd || cmd === '-h' || cmd === '--help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return cmd ? 0 : 2;
  }
  const p = parse(rest);
  if (!['cycle', 'version', 'is-path-supported', 'is-path-shadow-copied', 'mapping', 'recovery-complete', 'abort', 'delete'].includes(cmd)) {
    throw new UsageError(`unknown command ${cmd}`);
  }
  if (cmd === 'cycle' && p.positional.length === 0) throw new UsageError('cycle needs at least one share');
  const sec = await clientSecurity(p.auth, { smbLogon: p.target.kind === 'smb', host: targetHost(p.target) });
  for (const n of sec.notes) console.error(`fsrvp: ${n}`);
  const auth = sec.auth?.();
  const opener = targetOpener(p.target, sec.smb);
  let client: FsrvpClient;
  try {
    client = await FsrvpClient.over(await opener.open(), auth !== undefined ? { auth } : {});
    const smb = await opener.session?.();
    if (smb !== undefined) console.error(`fsrvp: ${smb}`);
  } catch (e) {
    await opener.close();
    throw e;
  }
  try {
    switch (cmd) {
      case 'cycle': {
        const started = Date.now();
        let n = 0;
        const r = await client.cycle({
          shares: p.positional,
          serverName: p.server,
          context: p.context,
          writable: p.rw,
          recoveryComplete: !p.keep,
          delete: !p.keep,
          onStep: (op, detail) => console.log(`${String(++n).padStart(2)}. ${op.padEnd(30)} ok  ${detail}`),
        });
        console.log(`cycle complete in ${Date.now() - started} ms (set ${r.setId})`);
        return 0;
      }
      case 'version': {
        const r = await client.getSupportedVersion();
        return result('GetSupportedVersion', r, `min ${r.MinVersion} max ${r.MaxVersion}`);
      }
      case 'is-path-supported': {
        const [share] = need(p, 1, 'one share');
        const r = await client.isPathSupported(unc(p, share as string));
        return result('IsPathSupported', r, `supported ${r.SupportedByThisProvider} owner ${r.OwnerMachineName ?? '(none)'}`);
      }
      case 'is-path-shadow-copied': {
        const [share] = need(p, 1, 'one share');
        const r = await client.isPathShadowCopied(unc(p, share as string));
        return result('IsPathShadowCopied', r, `present ${r.ShadowCopyPresent} compatibility 0x${r.ShadowCopyCompatibility.toString(16)}`);
      }
      case 'mapping': {
        const [share, set, copy] = need(p, 3, 'SHARE SET COPY');
        const r = await client.getShareMapping(copy as string, set as string, unc(p, share as string));
        const v = r.ShareMapping.tag === 1 ? r.ShareMapping.value : null;
        return result('GetShareMapping', r, v ? `${v.ShareNameUNC} -> ${v.ShadowCopyShareName} (taken ${new Date(Number(v.CreationTimestamp / 10000n) - 11644473600000).toISOString()})` : '');
      }
      case 'recovery-complete': {
        const [set] = need(p, 1, 'SET');
        return result('RecoveryCompleteShadowCopySet', await client.recoveryCompleteShadowCopySet(set as string));
      }
      case 'abort': {
        const [set] = need(p, 1, 'SET');
        return result('AbortShadowCopySet', await client.abortShadowCopySet(set as string));
      }
      default: {
        const [share, set, copy] = need(p, 3, 'SHARE SET COPY');
        return result('DeleteShareMapping', await client.deleteShareMapping(set as string, copy as string, unc(p, share as string)));
      }
    }
  } finally {
    await client.close();
    await opener.close();
  }
}

/** What a failing call usually means, in the words of the person running the command. */
function callHint(e: FsrvpCallError): string | undefined {
  const r = e.result >>> 0;
  if (r === HRESULT.E_ACCESSDENIED) return 'the account is not allowed (needs Administrators or Backup Operators, or a configured SID)';
  if (r === HRESULT.E_INVALIDARG && (e.op === 'AddToShadowCopySet' || e.op === 'IsPathSupported')) return 'the server has no such share (check the name, or --server for the host part)';
  if (r === HRESULT.FSRVP_E_NOT_SUPPORTED) return 'the share is on storage the server cannot shadow copy';
  if (r === HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS) return 'another shadow copy set is being created; wait for it to time out or abort it';
  if (r === HRESULT.FSRVP_E_BAD_STATE) return 'the set is not in the state this call needs (it may have timed out)';
  return undefined;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  if (e instanceof UsageError || e instanceof SnapshotsUsageError || e instanceof ConfigError || e instanceof AuthUsageError || e instanceof TargetUsageError) {
    console.error(`fsrvp: ${e.message}\n(see fsrvp --help)`);
    process.exit(2);
  }
  if (e instanceof RpcFault && e.status === 5) {
    const hint = process.argv.includes('--auth') ? 'the account is not allowed, or the level is below the agent\'s minimum (try --level privacy)' : 'the agent may require DCE/RPC authentication: add --auth ntlm -U DOMAIN\\USER';
    console.error(`fsrvp: access denied by the agent (fault 0x00000005): ${hint}`);
    process.exit(1);
  }
  if (e instanceof KerberosClientError) {
    console.error(`fsrvp: Kerberos: ${e.message}`);
    process.exit(1);
  }
  if (e instanceof RpcAuthError) {
    console.error(`fsrvp: authentication failed: ${e.message}`);
    process.exit(1);
  }
  if (e instanceof SmbError || e instanceof NpaClientError) {
    console.error(`fsrvp: ${e.message}`);
    process.exit(1);
  }
  if (e instanceof FsrvpCallError) {
    const hint = callHint(e);
    console.error(`fsrvp: ${e.message}${hint ? `: ${hint}` : ''}`);
    process.exit(1);
  }
  if (e instanceof RestoreError) {
    console.error(`fsrvp: ${e.message}`);
    process.exit(1);
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ECONNREFUSED') {
    console.error(`fsrvp: nothing listens there (${err.message}); start the agent with: npm start`);
    process.exit(1);
  }
  console.error(`fsrvp: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
