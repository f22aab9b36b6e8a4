import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandError, commandLine, pipeline, run, which } from '../../src/sys/exec.js';

describe('exec wrapper', () => {
  it('passes arguments verbatim (no shell) and returns output', async () => {
    const { stdout } = await run('printf', ['%s|', 'a b', '$(id)', "it's"]);
    expect(stdout).toBe("a b|$(id)|it's|");
  });

  it('turns a non-zero exit into a CommandError with the command line and stderr', async () => {
    const err = await run('ls', ['/definitely/not/here']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    const ce = err as CommandError;
    expect(ce.kind).toBe('exit');
    expect(ce.exitCode).toBeGreaterThan(0);
    expect(ce.command).toBe('ls /definitely/not/here');
    expect(ce.stderr).toMatch(/No such file/);
    expect(ce.message).toMatch(/^ls \/definitely\/not\/here: exited with status \d+: .*No such file/);
  });

  it('reports a missing tool as not-found', async () => {
    const err = (await run('fsrvp-no-such-tool', []).catch((e: unknown) => e)) as CommandError;
    expect(err.kind).toBe('not-found');
    expect(await which('fsrvp-no-such-tool')).toBeUndefined();
    expect(await which('ls')).toMatch(/\/ls$/);
  });

  it('kills a tool at its timeout', async () => {
    const started = Date.now();
    const err = (await run('sleep', ['5'], { timeoutMs: 100 }).catch((e: unknown) => e)) as CommandError;
    expect(err.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('honours an AbortSignal, before and during the run', async () => {
    const ac = new AbortController();
    const p = run('sleep', ['5'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(((await p.catch((e: unknown) => e)) as CommandError).kind).toBe('aborted');
    expect(((await run('true', [], { signal: ac.signal }).catch((e: unknown) => e)) as CommandError).kind).toBe('aborted');
  });

  it('feeds stdin and quotes command lines for display', async () => {
    expect((await run('cat', [], { input: 'hello' })).stdout).toBe('hello');
    expect(commandLine('net', ['conf', 'setparm', 'a b', "x'y"])).toBe(`net conf setparm 'a b' 'x'\\''y'`);
  });

  it('pipes one tool into another', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fsrvp-exec-'));
    try {
      await pipeline({ file: 'printf', args: ['one\ntwo\n'] }, { file: 'tee', args: ['out.txt'] }, { cwd: dir });
      expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('one\ntwo\n');
      const err = (await pipeline({ file: 'printf', args: ['x'] }, { file: 'false', args: [] }).catch((e: unknown) => e)) as CommandError;
      expect(err.kind).toBe('exit');
      expect(err.command).toBe('false');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
