#!/usr/bin/env node
/**
 * `npm run bench`: throughput figures printed as rates and as ratios to a reference measured in
 * the same run. Sections: ndr, tcp, cycle, startup, samba, multi, smb, walk, krb (see --help).
 */
import { benchNdr } from './bench/ndr.js';
import { benchTcp } from './bench/tcp.js';

const HELP = `usage: npm run bench -- [--only SECTION[,SECTION]] [--seconds N]

Sections (all by default):
  ndr      NDR encode+decode of a GetShareMapping response (reference: JSON round trip)
  tcp      GetSupportedVersion round trips over TCP, 1 and 16 connections (reference: raw echo)
  cycle    full FSRVP cycles per second on reflink/copy and btrfs, and on btrfs through the reference
           snapshot hook (needs root for btrfs)
  startup  agent start-up time with 10,000 persisted shadow copies
  samba    ours vs Samba's rpcd_fsrvp through a private smbd (needs root and Samba)
  multi    8-share/8-subvolume sets through that smbd: Commit, Expose, Add vs Samba, and vs our 1-share set
  smb      GetSupportedVersion over our SMB client vs rpcclient on the same smbd; sealed and signed
           DCE/RPC vs unauthenticated (calls and full cycles)
  krb      Kerberos-sealed and -signed vs unauthenticated DCE/RPC over TCP, calls and full cycles,
           with a private Samba AD DC as the KDC (needs root and samba-ad-dc)
  walk     directory-structure check of a 1,000,000-entry tree, both profiles (reference: find -printf '%y %n')

Options:
  --only LIST    run only these sections
  --seconds N    measuring time per figure (default 1.5)
  --help         this text

Environment:
  FSRVP_BENCH_AGENT_NODE_ARGS   Node options for the agent process of 'samba' and 'multi' alone,
                                e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the agent
`;

type Section = (seconds: number) => Promise<void>;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seconds = Number(arg('--seconds') ?? '1.5');
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error('--seconds takes a positive number');
    return 2;
  }
  const sections: Record<string, Section> = { ndr: benchNdr, tcp: benchTcp };
  for (const [name, mod, fn] of [
    ['cycle', './bench/cycle.js', 'benchCycle'],
    ['startup', './bench/startup.js', 'benchStartup'],
    ['samba', './bench/samba.js', 'benchSamba'],
    ['multi', './bench/samba-multi.js', 'benchSambaMulti'],
    ['smb', './bench/smb.js', 'benchSmb'],
    ['walk', './bench/walk.js', 'benchWalk'],
    ['krb', './bench/krb.js', 'benchKrb'],
  ] as const) {
    try {
      const m = (await import(mod)) as Record<string, Section>;
      if (typeof m[fn] === 'function') sections[name] = m[fn];
    } catch {
      // section not built in this tree
    }
  }
  const only = arg('--only')?.split(',') ?? Object.keys(sections);
  for (const name of only) {
    const run = sections[name];
    if (!run) {
      console.error(`unknown or unavailable section: ${name} (have: ${Object.keys(sections).join(', ')})`);
      return 2;
    }
    await run(seconds);
  }
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exit(1);
});
