import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/cli/config.js';
import { formatHooks, inspectHooks } from '../../src/cli/doctor-hooks.js';

const dir = mkdtempSync(join(tmpdir(), 'fsrvp-doctor-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hook(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('doctor: snapshot hooks', () => {
  it('reports each hook\'s protocol and the shares it serves or refuses, with the hook\'s reasons', async () => {
    const good = hook('good', [
      'case "$1" in',
      '  hello) echo \'{"protocol":1,"description":"test pool"}\' ;;',
      `  supports) if [ "$2" = "${dir}" ]; then echo '{"supported":true}'; else echo '{"supported":false,"reason":"not a dataset"}'; fi ;;`,
      `  volume) echo '{"id":"pool/x","root":"${dir}"}' ;;`,
      '  *) exit 64 ;;',
      'esac',
    ].join('\n'));
    const old = hook('old', 'echo \'{"protocol":2}\'');
    const config = parseConfig({
      stateDir: join(dir, 'state'),
      shares: { static: { here: { path: dir, backend: 'pool' }, there: { path: '/', backend: 'pool' } } },
      storage: { hooks: { pool: { command: good }, old: { command: old }, idle: { command: good } } },
    });
    const findings = await inspectHooks(config);
    expect(findings).toEqual([
      { status: 'ok', check: 'hook pool', detail: `${good} speaks protocol 1 (test pool)` },
      { status: 'ok', check: 'share here', detail: `hook pool: volume pool/x at ${dir}` },
      { status: 'error', check: 'share there', detail: 'hook pool does not support /: not a dataset' },
      { status: 'error', check: 'hook old', detail: expect.stringMatching(/speaks protocol 2; this agent speaks 1/) },
      { status: 'ok', check: 'hook idle', detail: expect.stringMatching(/protocol 1/) },
      { status: 'info', check: 'hook idle', detail: expect.stringMatching(/no share names it/) },
    ]);
    expect(formatHooks('agent.json', findings)).toMatch(/ERROR +share there[^\n]*\n[\s\S]*Some configured snapshot hooks will not work\./);
  });
});
