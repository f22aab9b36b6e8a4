/**
 * The argument loop that fsrvp, fsrvp-replay and fsrvp-fuzz share: the DCE/RPC authentication
 * options (credentials.ts) fill `into.auth` and the target options (target.ts) `into.target`;
 * every other argument goes to `other`, whose `value()` takes the argument after it (none there is
 * a usage error made by `usage`).
 */
import { parseAuthOption, type AuthArgs } from './credentials.js';
import { parseTargetOption, type TargetArgs } from './target.js';

export function walkToolArgs(
  argv: readonly string[],
  into: { auth: AuthArgs; target: TargetArgs },
  other: (arg: string, value: () => string) => void,
  usage: (message: string) => Error,
): void {
  for (let i = 0; i < argv.length; i++) {
    const took = parseAuthOption(argv, i, into.auth) || parseTargetOption(argv, i, into.target);
    if (took > 0) {
      i += took - 1;
      continue;
    }
    const arg = argv[i] as string;
    other(arg, () => {
      const v = argv[++i];
      if (v === undefined) throw usage(`${arg} needs a value`);
      return v;
    });
  }
}
