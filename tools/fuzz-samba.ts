#!/usr/bin/env node
/**
 * The live fuzz campaign against Samba's own rpcd_fsrvp, as a script: starts a private Samba
 * (smbd + samba-dcerpcd with rpcd_fsrvp, a btrfs loop filesystem, a test user) on 127.0.0.1,
 * runs `fsrvp-fuzz live --smb` against it, and prints the campaign's report. Findings against
 * Samba are expected (see README "Fuzzing Samba"): this is a tool for looking at them, not a test.
 * Needs root (loop devices, port 445) and the Debian samba packages (installed when missing).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { targetOpener } from '../src/cli/target.js';
import { fuzzLive } from '../src/fuzz/live.js';
import { SHARE, SambaHarness, startTestAgent } from './lib/samba-harness.js';
import { progress } from './lib/progress.js';

const HELP = `usage: node dist/tools/fuzz-samba.js [--seed N] [--iterations N] [--agent] [--pipe-mode M] [--fixtures DIR]

Starts a private Samba on 127.0.0.1 (port 445 must be free; needs root) and runs the stateful live
fuzz campaign over SMB against Samba's rpcd_fsrvp, or with --agent against our agent behind the
same smbd. Prints coverage and findings; each finding's PDUs go to DIR (default fuzz-fixtures-samba).

  --seed N          default 20261207 (the CI campaign's seed)
  --iterations N    default 200
  --agent           fuzz our agent behind smbd instead of rpcd_fsrvp
  --pipe-mode M     transceive (default) or write-read
  --timeout MS      per call (default 10000)
`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seed = Number(opt('--seed') ?? 20261207);
  const iterations = Number(opt('--iterations') ?? 200);
  const fixtures = opt('--fixtures') ?? 'fuzz-fixtures-samba';
  const mode = argv.includes('--agent') ? 'agent' : 'samba';
  const pipeMode = opt('--pipe-mode') === 'write-read' ? 'write-read' : 'transceive';
  if (!Number.isInteger(seed) || !Number.isInteger(iterations) || iterations < 1) throw new Error('--seed and --iterations take integers');
  console.log(`starting a private Samba (${mode === 'samba' ? "rpcd_fsrvp serves FssagentRpc" : 'our agent serves FssagentRpc'}) …`);
  const h = await SambaHarness.start({ mode, seqTimeout: 5 });
  const stopOnSignal = (sig: NodeJS.Signals): void => {
    console.error(`fuzz-samba: ${sig}: stopping Samba`);
    void h.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    if (mode === 'agent') await startTestAgent(h);
    const opener = targetOpener({ kind: 'smb', host: '127.0.0.1', port: 445, smbMode: pipeMode }, { user: h.admin.name, domain: 'FSRVPH', password: h.admin.password });
    console.log(`fuzzing smb://127.0.0.1/IPC$/FssagentRpc (${pipeMode}), share ${SHARE}, seed ${seed}, ${iterations} cases`);
    const shown = progress();
    let r;
    try {
      r = await fuzzLive({
        open: () => opener.open(), seed, iterations, shares: [SHARE], serverName: '127.0.0.1', timeoutMs: Number(opt('--timeout') ?? 10_000),
        onProgress: (d, rate) => shown.update(`${d}/${iterations} cases, ${rate.toFixed(1)}/s`),
      });
    } finally {
      shown.end();
      await opener.close();
    }
    console.log(`${r.cases} cases, ${r.calls} calls in ${r.seconds.toFixed(1)} s; ${r.setsCreated} sets; canary ${r.canaryAlive ? 'alive' : 'DEAD'}`);
    for (const [k, n] of Object.entries(r.coverage).sort()) console.log(`  ${k.padEnd(64)} ${n}`);
    const left = await h.snapshotSubvolumes();
    const shares = (await h.registryShares()).filter((s) => s.includes('@{'));
    console.log(`left behind: ${left.length} snapshot subvolume(s)${left.length ? ` (${left.join(', ')})` : ''}, ${shares.length} exposed share(s)`);
    for (const f of r.findings) {
      mkdirSync(fixtures, { recursive: true });
      const file = join(fixtures, `samba-${seed}-${f.iteration}-${f.kind}.jsonl`);
      writeFileSync(file, f.capture.map((p) => JSON.stringify(p)).join('\n') + '\n');
      console.log(`finding: case ${f.iteration} ${f.kind}: ${f.detail}`);
      for (const s of f.steps) console.log(`    ${JSON.stringify(s)}`);
      console.log(`  PDUs: ${file}`);
    }
    console.log(`${r.findings.length} findings`);
    return r.findings.length ? 1 : 0;
  } finally {
    await h.stop();
  }
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e: unknown) => {
  console.error(`fuzz-samba: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
