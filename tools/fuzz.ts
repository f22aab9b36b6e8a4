#!/usr/bin/env node
/**
 * fsrvp-fuzz: structure-aware fuzzing of the FSRVP decoders (in process) and of a running agent
 * over TCP. Deterministic per seed; findings are written as JSON lines that `--replay` re-runs.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { fuzzNdr, replayNdrFinding } from '../src/fuzz/ndr-target.js';

const HELP = `usage: fsrvp-fuzz <target> [options]

Targets:
  ndr             decode mutated encodings of every FSRVP request and response stub in process;
                  anything but NdrError is a finding
  server          send mutated PDUs (bind, requests, fragments) to a running agent over TCP and
                  check that it answers or closes, never hangs, and keeps serving other connections

Options:
  --seed N          first seed (default: time-based, printed so a run can be repeated)
  --iterations N    cases to run (default 100000 for ndr, 2000 for server)
  --host H --port P agent address for 'server' (loopback only; default 127.0.0.1:7135)
  --findings FILE   append findings as JSON lines (default: fuzz-findings.jsonl)
  --help            this text

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
    const r = fuzzNdr(seed, iterations, (done) => process.stderr.write(`\r  ${done}/${iterations}`));
    process.stderr.write('\n');
    console.log(`  decoded ${r.decoded}, rejected with NdrError ${r.rejected} (${Object.entries(r.byCode).map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
      `${r.findings.length} findings, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const f of r.findings) appendFileSync(findingsFile, JSON.stringify({ seed, ...f }) + '\n');
    if (r.findings.length) console.log(`  findings appended to ${findingsFile}`);
    return r.findings.length ? 1 : 0;
  }
  if (target === 'server') {
    const { fuzzServer } = await import('../src/fuzz/server-target.js');
    const host = arg(argv, '--host') ?? '127.0.0.1';
    const port = int(arg(argv, '--port'), 7135, '--port');
    const iterations = int(arg(argv, '--iterations'), 2000, '--iterations');
    console.log(`fsrvp-fuzz server: ${host}:${port}, seed ${seed}, ${iterations} cases`);
    const r = await fuzzServer({ host, port, seed, iterations, onProgress: (d) => process.stderr.write(`\r  ${d}/${iterations}`) });
    process.stderr.write('\n');
    console.log(`  ${r.summary}`);
    for (const f of r.findings) appendFileSync(findingsFile, JSON.stringify({ seed, ...f }) + '\n');
    return r.findings.length ? 1 : 0;
  }
  if (target === 'replay') {
    const file = argv[1];
    if (!file) throw new Error('replay needs a findings file');
    let failing = 0;
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    for (const line of lines) {
      const f = JSON.parse(line) as { target: string; input: string; iteration: number };
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

main(process.argv.slice(2)).then((c) => process.exit(c), (e: unknown) => {
  console.error(`fsrvp-fuzz: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
