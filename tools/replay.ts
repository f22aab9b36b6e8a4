#!/usr/bin/env node
/**
 * fsrvp-replay: replays the client side of a captured FSRVP session (JSON lines, one PDU each,
 * as in fixtures/samba/) against any FSRVP server (TCP, SMB, an external RPC pipe socket) and
 * checks every answer against the capture.
 */
import { CaptureError, loadCapture } from '../src/replay/capture.js';
import { replay, type PduVerdict } from '../src/replay/replay.js';
import { AUTH_HELP, AuthUsageError, clientSecurity, type AuthArgs } from '../src/cli/credentials.js';
import { walkToolArgs } from '../src/cli/tool-args.js';
import { TARGET_HELP, TargetUsageError, checkTarget, targetHost, targetOpener, type TargetArgs } from '../src/cli/target.js';

const HELP = `usage: fsrvp-replay CAPTURE.jsonl [options]
       fsrvp-replay import CAPTURE.pcap[ng] [-o OUT.jsonl] [options]   (see import --help)

Replays the client PDUs of a capture against a running FSRVP server and compares every server
PDU with the captured one: identical (same bytes), equivalent (differs only in values a server
chooses: GUIDs, times, association group, names), different, or missing. Server-chosen GUIDs are
learnt from the answers and substituted into later requests. One connection per captured pipe.

${TARGET_HELP}
${AUTH_HELP}  With --auth, each connection binds with its own security context and every request
  goes out signed or sealed; answers are compared after verifying and unsealing them.

Options:
  --share CAPTURED=LIVE   map a share name of the capture to one the agent serves (repeatable)
  --server NAME           host part to put in UNC names of rewritten requests
  --verbose               print every difference, volatile ones included
  --json                  print the report as JSON
  -h, --help              this text

Exit status: 0 when nothing is different or missing, 1 otherwise, 2 for bad usage.
`;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  let file: string | undefined;
  const target: TargetArgs = {};
  const authArgs: AuthArgs = {};
  let serverName: string | undefined;
  let verbose = false;
  let json = false;
  const shareMap: Record<string, string> = {};
  walkToolArgs(argv, { auth: authArgs, target }, (a, value) => {
    if (a === '--server') serverName = value();
    else if (a === '--share') {
      const [from, to] = value().split('=');
      if (!from || !to) throw new CaptureError('--share takes CAPTURED=LIVE');
      shareMap[from] = to;
    } else if (a === '--verbose') verbose = true;
    else if (a === '--json') json = true;
    else if (a.startsWith('--')) throw new CaptureError(`unknown option ${a}`);
    else file = a;
  }, (m) => new CaptureError(m));
  if (!file) throw new CaptureError('which capture? (see --help)');
  checkTarget(target);
  const records = loadCapture(file);
  const { smb, auth, notes } = await clientSecurity(authArgs, { smbLogon: target.kind === 'smb', host: targetHost(target) });
  for (const n of notes) console.error(`fsrvp-replay: ${n}`);
  const opener = targetOpener(target, smb);
  const print = (v: PduVerdict): void => {
    if (json) return;
    const mark = { identical: '=', equivalent: '~', different: '!', missing: '?' }[v.verdict];
    console.log(`${mark} #${String(v.index).padEnd(4)} ${v.ptype.padEnd(9)} call ${String(v.callId).padEnd(4)} ${v.op ?? ''} ${v.verdict}`);
    for (const d of v.differences) {
      if (d.volatile && !verbose) continue;
      console.log(`      ${d.path}: captured ${d.captured}, live ${d.live}${d.volatile ? ' (volatile)' : ''}`);
    }
  };
  let report;
  try {
    report = await replay(records, {
      open: () => opener.open(), shareMap, serverName, onVerdict: print, ...(auth !== undefined ? { auth } : {}),
    });
  } finally {
    await opener.close();
  }
  if (json) console.log(JSON.stringify(report, null, 2));
  else {
    const c = report.counts;
    console.log(`${report.sent} PDUs sent; answers: ${c.identical} identical, ${c.equivalent} equivalent, ${c.different} different, ${c.missing} missing`);
  }
  return report.counts.different + report.counts.missing === 0 ? 0 : 1;
}

// Subcommands (kept apart from the replay options above): `import` turns a pcap into a capture.
async function dispatch(argv: string[]): Promise<number> {
  if (argv[0] === 'import') return (await import('./replay-import.js')).runImport(argv.slice(1));
  return main(argv);
}

dispatch(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  if (e instanceof CaptureError || e instanceof AuthUsageError || e instanceof TargetUsageError) {
    console.error(`fsrvp-replay: ${e.message}`);
    process.exit(2);
  }
  console.error(`fsrvp-replay: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
