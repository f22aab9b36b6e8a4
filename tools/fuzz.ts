#!/usr/bin/env node
/**
 * fsrvp-fuzz: structure-aware fuzzing of the FSRVP decoders (in process), of a running agent's
 * PDU handling over any transport, and stateful live fuzzing of any FSRVP server over any transport.
 * Deterministic per seed; findings are written as JSON lines (and, for live, replay fixtures).
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fuzzNdr, replayNdrFinding } from '../src/fuzz/ndr-target.js';
import { AUTH_HELP, AuthUsageError, clientSecurity, type AuthArgs } from '../src/cli/credentials.js';
import { walkToolArgs } from '../src/cli/tool-args.js';
import { TARGET_HELP, TargetUsageError, checkTarget, targetHost, describeTarget, targetOpener, type TargetArgs } from '../src/cli/target.js';
import { progress } from './lib/progress.js';

const HELP = `usage: fsrvp-fuzz <target> [options]

Targets:
  ndr             decode mutated encodings of every FSRVP request and response stub in process;
                  anything but NdrError is a finding
  server          send mutated PDUs (bind, requests, fragments) to any FSRVP server over any
                  transport (below), each case on a connection or pipe of its own, and check that
                  it answers or closes, never hangs, and keeps serving other connections
  live            stateful fuzzing of any FSRVP server over any transport (below): life cycles
                  on real shares (--share) with the server's ids patched into later requests and
                  one or two steps mutated; a janitor undoes every set, a canary connection must
                  keep answering; findings are minimized and saved as replay fixtures

Options:
  --seed N          first seed (default: time-based, printed so a run can be repeated)
  --iterations N    cases to run (default 100000 for ndr, 2000 for server)
  --findings FILE   append findings as JSON lines (default: fuzz-findings.jsonl)
  --help            this text

'server' options (default 2000 cases; the target options below, default --tcp 127.0.0.1:7135):
  --batch N         health check every N cases (default 50): the bystander connection opened at
                    the start answers, and a fresh connection binds and answers GetSupportedVersion
  --timeout MS      per case: the canary must be answered or the connection closed (default 3000)
  Over --smb and --unix the pipe is message mode and has no end of input, so a case cannot be
  sent quite as over TCP (a byte stream, half-closed after the canary): its bytes are re-cut by
  frag_length into one message per PDU (an empty PDU sends nothing, a PDU split across messages
  is not tried here: 'live' does that); a PDU left short is completed with zero bytes and a
  second canary follows; after a frag_length below 16 the rest goes as one message. smbd
  forwards pipe messages unparsed (Samba 4.17 external pipes: DCERPC.md, SAMBA.md), so every
  DCE/RPC mutation reaches the server; STATUS_PIPE_BROKEN, _DISCONNECTED, _CLOSING and
  STATUS_CONNECTION_DISCONNECTED/_RESET (smbd's answers once the server closed) are its close.
  Findings name the transport they came over.

'live' options (default 200 cases):
  --share NAME      a share the cases may shadow copy (repeatable; required)
  --server NAME     host part of the UNC names sent (default: the --smb host, else 127.0.0.1)
  --batch N         canary probe every N cases (default 10)
  --fixtures DIR    where each finding's PDUs go as a replay fixture (default: fuzz-fixtures)
  --timeout MS      per call (default 30000)
${TARGET_HELP}
${AUTH_HELP}

  fsrvp-fuzz replay FILE   re-run recorded ndr findings and say which still reproduce

Exit status: 0 when no finding, 1 when findings were recorded, 2 for bad usage.
`;

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function int(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} takes a non-negative integer, not '${v}'`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || target === '--help' || target === '-h' || argv.includes('--help')) {
    process.stdout.write(HELP);
    return target ? 0 : 2;
  }
  const seed = int(arg(argv, '--seed'), Date.now() % 0x7fffffff, '--seed');
  const findingsFile = arg(argv, '--findings') ?? 'fuzz-findings.jsonl';
  if (target === 'ndr') {
    const iterations = int(arg(argv, '--iterations'), 100_000, '--iterations');
    console.log(`fsrvp-fuzz ndr: seed ${seed}, ${iterations} cases`);
    const started = Date.now();
    const shown = progress();
    const r = fuzzNdr(seed, iterations, (done) => shown.update(`${done}/${iterations}`));
    shown.end();
    console.log(`  decoded ${r.decoded}, rejected with NdrError ${r.rejected} (${Object.entries(r.byCode).map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
      `${r.findings.length} findings, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const f of r.findings) appendFileSync(findingsFile, JSON.stringify({ seed, ...f }) + '\n');
    if (r.findings.length) console.log(`  findings appended to ${findingsFile}`);
    return r.findings.length ? 1 : 0;
  }
  if (target === 'server') return server(argv.slice(1), seed, findingsFile);
  if (target === 'live') return live(argv.slice(1), seed, findingsFile);
  if (target === 'replay') {
    const file = argv[1];
    if (!file) throw new TargetUsageError('replay needs a findings file');
    let failing = 0;
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    for (const line of lines) {
      const f = JSON.parse(line) as { target: string; input: string; iteration: number; fixture?: string; transport?: string; address?: string };
      if (f.target === 'server') {
        console.log(`server #${f.iteration} over ${f.transport} (${f.address}): re-run fsrvp-fuzz server with that target, the same --seed and --iterations ${f.iteration + 1}`);
        continue;
      }
      if (f.target === 'live' || f.target === undefined) {
        console.log(`live #${f.iteration}: a server finding; replay it with fsrvp-replay ${f.fixture ?? '(fixture)'} and the campaign's target options`);
        continue;
      }
      const err = replayNdrFinding(f.target, f.input);
      console.log(`${f.target} #${f.iteration}: ${err ?? 'fixed (decodes or fails with NdrError)'}`);
      if (err) failing++;
    }
    console.log(`${lines.length - failing} of ${lines.length} findings no longer reproduce`);
    return failing ? 1 : 0;
  }
  console.error(`unknown target '${target}'\n`);
  process.stdout.write(HELP);
  return 2;
}

async function server(argv: string[], seed: number, findingsFile: string): Promise<number> {
  const t: TargetArgs = {};
  const a: AuthArgs = {};
  let iterations = 2000;
  let batch = 50;
  let timeoutMs = 3000;
  walkToolArgs(argv, { auth: a, target: t }, (name, value) => {
    const v = value();
    if (name === '--iterations') iterations = int(v, 0, name);
    else if (name === '--batch') batch = Math.max(1, int(v, 50, name));
    else if (name === '--timeout') timeoutMs = Math.max(1, int(v, 3000, name));
    else if (name !== '--seed' && name !== '--findings') throw new TargetUsageError(`unknown option ${name}`);
  }, (m) => new TargetUsageError(m));
  if (a.mechanism !== undefined || a.level !== undefined) throw new TargetUsageError('server sends its own unauthenticated binds: --auth and --level go with live');
  checkTarget(t);
  const { smb, notes } = await clientSecurity(a, { smbLogon: t.kind === 'smb', host: targetHost(t) });
  for (const n of notes) console.error(`fsrvp-fuzz: ${n}`);
  const opener = targetOpener(t, smb);
  const transport = t.kind ?? 'tcp';
  const { fuzzServer } = await import('../src/fuzz/server-target.js');
  console.log(`fsrvp-fuzz server: ${describeTarget(t)}, seed ${seed}, ${iterations} cases`);
  const shown = progress();
  let r;
  try {
    r = await fuzzServer({
      open: (ms) => opener.open(ms), transport, address: describeTarget(t), seed, iterations, batch, timeoutMs,
      onProgress: (d) => shown.update(`${d}/${iterations}`),
    });
  } finally {
    shown.end();
    await opener.close();
  }
  console.log(`  ${r.summary}`);
  for (const f of r.findings) {
    appendFileSync(findingsFile, JSON.stringify({ target: 'server', seed, ...f }) + '\n');
    console.log(`  finding: case ${f.iteration} ${f.kind} over ${f.transport}: ${f.detail}`);
  }
  if (r.findings.length) console.log(`  findings appended to ${findingsFile}`);
  return r.findings.length ? 1 : 0;
}

async function live(argv: string[], seed: number, findingsFile: string): Promise<number> {
  const t: TargetArgs = {};
  const a: AuthArgs = {};
  const shares: string[] = [];
  let server: string | undefined;
  let iterations = 200;
  let batch = 10;
  let timeoutMs = 30_000;
  let fixtures = 'fuzz-fixtures';
  walkToolArgs(argv, { auth: a, target: t }, (name, value) => {
    const v = value();
    if (name === '--share') shares.push(v);
    else if (name === '--server') server = v;
    else if (name === '--iterations') iterations = int(v, 0, name);
    else if (name === '--batch') batch = Math.max(1, int(v, 10, name));
    else if (name === '--timeout') timeoutMs = Math.max(1, int(v, 30_000, name));
    else if (name === '--fixtures') fixtures = v;
    else if (name !== '--seed' && name !== '--findings') throw new TargetUsageError(`unknown option ${name}`);
  }, (m) => new TargetUsageError(m));
  if (shares.length === 0) throw new TargetUsageError('live needs --share NAME (a share the cases may shadow copy)');
  checkTarget(t);
  const { smb, auth, notes } = await clientSecurity(a, { smbLogon: t.kind === 'smb', host: targetHost(t) });
  for (const n of notes) console.error(`fsrvp-fuzz: ${n}`);
  const opener = targetOpener(t, smb);
  const { fuzzLive } = await import('../src/fuzz/live.js');
  console.log(`fsrvp-fuzz live: ${describeTarget(t)}${auth ? ` (${a.mechanism}, ${a.level ?? 'privacy'})` : ''}, shares ${shares.join(', ')}, seed ${seed}, ${iterations} cases`);
  const shown = progress();
  let r;
  try {
    r = await fuzzLive({
      open: () => opener.open(), seed, iterations, shares, batch, timeoutMs,
      serverName: server ?? (t.kind === 'smb' ? t.host as string : '127.0.0.1'),
      ...(auth ? { auth } : {}),
      onProgress: (d, rate) => shown.update(`${d}/${iterations} cases, ${rate.toFixed(1)}/s`),
    });
  } finally {
    shown.end();
    await opener.close();
  }
  console.log(`  ${r.cases} cases, ${r.calls} calls in ${r.seconds.toFixed(1)} s (${r.perSecond.toFixed(1)} cases/s); ${r.setsCreated} sets created and cleaned up; canary ${r.canaryAlive ? 'alive' : 'DEAD'}`);
  console.log('  coverage (PDU type:operation:result  count):');
  for (const [k, n] of Object.entries(r.coverage).sort()) console.log(`    ${k.padEnd(64)} ${n}`);
  for (const f of r.findings) {
    mkdirSync(fixtures, { recursive: true });
    const file = join(fixtures, `live-${seed}-${f.iteration}-${f.kind}.jsonl`);
    writeFileSync(file, f.capture.map((p) => JSON.stringify(p)).join('\n') + '\n');
    appendFileSync(findingsFile, JSON.stringify({ target: 'live', seed, iteration: f.iteration, kind: f.kind, detail: f.detail, steps: f.steps, fixture: file }) + '\n');
    console.log(`  finding: case ${f.iteration} ${f.kind}: ${f.detail}\n    ${f.steps.length} steps after minimizing; fixture ${file} (fsrvp-replay ${file} …)`);
  }
  console.log(`  ${r.findings.length} findings`);
  return r.findings.length ? 1 : 0;
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e: unknown) => {
  const usage = e instanceof TargetUsageError || e instanceof AuthUsageError;
  console.error(`fsrvp-fuzz: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(usage ? 2 : 1);
});
