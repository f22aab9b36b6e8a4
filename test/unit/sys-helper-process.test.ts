import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import createDebug from 'debug';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperError, HelperFailure, HelperProcess, HelperUnavailableError, type HelperProcessOptions } from '../../src/sys/helper-process.js';
import { helperScriptCandidates, locateHelperScript } from '../../src/sys/helpers/fsrvp-helper.js';

/**
 * A fake helper in plain JavaScript (run by this Node): its first argument picks how it starts,
 * requests pick what it does.
 */
const FAKE = String.raw`
const mode = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
if (mode === 'notready') { out({ ready: false, error: 'module samba is missing' }); process.exit(3); }
if (mode === 'die') { process.stderr.write('cannot import things\n'); process.exit(1); }
if (mode === 'garbage') { process.stdout.write('hello\n'); }
if (mode === 'silent') { setInterval(() => {}, 1000); }
else out({ ready: true, info: { pid: process.pid, env: process.env } });
let buf = '';
let inflight = 0;
let ended = false;
const finish = () => { if (inflight === 0) setTimeout(() => process.exit(0), 20); };
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    const { id, op, args } = JSON.parse(line);
    if (op === 'echo') out({ id, ok: true, result: { echo: args.value, pid: process.pid } });
    else if (op === 'delay') { inflight++; setTimeout(() => { out({ id, ok: true, result: args.ms }); inflight--; if (ended) finish(); }, args.ms); }
    else if (op === 'fail') out({ id, ok: false, error: { code: 'EEXIST', message: 'it exists', errno: 17 } });
    else if (op === 'crash') { process.stderr.write('boom: ' + args.why + '\n'); process.exit(7); }
    else if (op === 'stderr') { process.stderr.write('note ' + args.text + '\n'); out({ id, ok: true, result: null }); }
    else if (op === 'hang') { /* never answers */ }
  }
});
process.stdin.on('end', () => { ended = true; if (mode !== 'noexit') finish(); else setInterval(() => {}, 1000); });
`;

let dir: string;
let fake: string;
const helpers: HelperProcess[] = [];

function make(mode: string, extra: Partial<HelperProcessOptions> = {}): HelperProcess {
  const h = new HelperProcess({ name: `fake-${mode}`, command: process.execPath, args: [fake, mode], startTimeoutMs: 5_000, ...extra });
  helpers.push(h);
  return h;
}

/** Handles of these kinds that keep the event loop alive (unref'd ones are not listed). */
function liveHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap' || r === 'PipeWrap').length;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-helper-unit-'));
  fake = join(dir, 'fake-helper.cjs');
  await writeFile(fake, FAKE);
});

afterAll(async () => {
  await Promise.all(helpers.map((h) => h.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('helper process', () => {
  it('starts lazily, answers requests by id (out of order too), and passes only a scrubbed environment', async () => {
    process.env.FSRVP_SECRET_TEST = 'do-not-pass';
    const h = make('ok');
    expect(h.pid).toBeUndefined();
    const [slow, fast] = await Promise.all([h.request('delay', { ms: 150 }), h.request('echo', { value: 'x' })]);
    expect(slow).toBe(150);
    expect(fast).toMatchObject({ echo: 'x', pid: h.pid });
    const env = h.info?.env as Record<string, string>;
    expect(env.FSRVP_SECRET_TEST).toBeUndefined();
    expect(env.PATH).toMatch(/\/usr\/bin/);
    delete process.env.FSRVP_SECRET_TEST;
  });

  it('turns an ok:false reply into a HelperError with the code and errno', async () => {
    const h = make('ok');
    const e = await h.request('fail').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HelperError);
    expect(e).toMatchObject({ code: 'EEXIST', errno: 17, op: 'fail' });
    expect((e as Error).message).toMatch(/it exists \(EEXIST\)/);
  });

  it('reports a helper that cannot start as unavailable: missing interpreter, ready:false, exit before ready, garbage', async () => {
    const missing = new HelperProcess({ name: 'nope', command: '/nonexistent/python3', args: [] });
    await expect(missing.request('echo')).rejects.toBeInstanceOf(HelperUnavailableError);
    expect(await missing.available()).toBe(false);
    const notReady = make('notready');
    await expect(notReady.request('echo')).rejects.toThrow(/not available: module samba is missing/);
    const dies = make('die');
    const e = (await dies.request('echo').catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(HelperUnavailableError);
    expect(e.message).toMatch(/exited with status 1 before it was ready: cannot import things/);
    await expect(make('garbage').request('echo')).rejects.toThrow(/unexpected first line "hello"/);
    await expect(make('silent', { startTimeoutMs: 200 }).request('echo')).rejects.toThrow(/no ready line within 200 ms/);
  });

  it('remembers unavailability for retryUnavailableMs, then tries again', async () => {
    const h = make('notready', { retryUnavailableMs: 60_000 });
    const e1 = await h.request('echo').catch((x: unknown) => x);
    const e2 = await h.request('echo').catch((x: unknown) => x);
    expect(e2).toBe(e1); // no second start
    const again = make('notready', { retryUnavailableMs: 0 });
    const a1 = await again.request('echo').catch((x: unknown) => x);
    const a2 = await again.request('echo').catch((x: unknown) => x);
    expect(a1).toBeInstanceOf(HelperUnavailableError);
    expect(a2).not.toBe(a1);
  });

  it('fails the pending requests of a child that dies, with its stderr, and restarts it on the next request', async () => {
    const h = make('ok');
    await h.request('echo', { value: 1 });
    const first = h.pid;
    const pending = h.request('delay', { ms: 5_000 });
    const crash = h.request('crash', { why: 'segfault' });
    for (const p of [pending, crash]) {
      const e = (await p.catch((x: unknown) => x)) as HelperFailure;
      expect(e).toBeInstanceOf(HelperFailure);
      expect(e.kind).toBe('exited');
      expect(e.message).toMatch(/exited with status 7 while (delay|crash) was pending: boom: segfault/);
    }
    expect(h.pendingCount).toBe(0);
    const r = await h.request<{ pid: number }>('echo', { value: 2 });
    expect(r.pid).not.toBe(first);
    expect(r.pid).toBe(h.pid);
  });

  it('times a request out, kills the stuck child and restarts it for the next request', async () => {
    const h = make('ok', { requestTimeoutMs: 5_000 });
    await h.request('echo');
    const first = h.pid;
    const started = Date.now();
    const e = (await h.request('hang', {}, { timeoutMs: 150 }).catch((x: unknown) => x)) as HelperFailure;
    expect(e).toBeInstanceOf(HelperFailure);
    expect(e.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
    const r = await h.request<{ pid: number }>('echo');
    expect(r.pid).not.toBe(first);
  });

  it('honours an AbortSignal; the late reply is ignored and the child stays', async () => {
    const h = make('ok');
    await h.request('echo');
    const pid = h.pid;
    const ac = new AbortController();
    const p = h.request('delay', { ms: 200 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ kind: 'aborted' });
    const pre = new AbortController();
    pre.abort();
    await expect(h.request('echo', {}, { signal: pre.signal })).rejects.toMatchObject({ kind: 'aborted' });
    await new Promise((r) => setTimeout(r, 250));
    expect((await h.request<{ pid: number }>('echo')).pid).toBe(pid);
    expect(h.pendingCount).toBe(0);
  });

  it('logs the child\'s stderr to fsrvp:helper', async () => {
    const lines: string[] = [];
    const wasEnabled = createDebug.enabled('fsrvp:helper');
    const prevLog = createDebug.log;
    createDebug.enable('fsrvp:helper');
    createDebug.log = (...a: unknown[]) => { lines.push(format(...a)); };
    try {
      const h = make('ok');
      await h.request('stderr', { text: 'from the child' });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      createDebug.log = prevLog;
      if (!wasEnabled) createDebug.disable();
    }
    expect(lines.some((l) => l.includes('[fake-ok] note from the child'))).toBe(true);
  });

  it('close() lets pending requests finish, refuses later ones, and kills a child that does not exit', async () => {
    const h = make('ok');
    const pending = h.request('delay', { ms: 100 });
    await new Promise((r) => setTimeout(r, 20));
    await h.close();
    expect(await pending).toBe(100);
    await expect(h.request('echo')).rejects.toMatchObject({ kind: 'closed' });
    await h.close(); // idempotent

    const stubborn = make('noexit', { closeGraceMs: 200 });
    await stubborn.request('echo');
    const started = Date.now();
    await stubborn.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(() => process.kill(stubborn.info!.pid as number, 0)).toThrow(); // gone
  });

  it('keeps the event loop alive only while requests are pending', async () => {
    await new Promise((r) => setTimeout(r, 200)); // earlier tests' children are gone
    const before = liveHandles();
    const h = make('ok');
    await h.request('echo');
    expect(liveHandles()).toBeLessThanOrEqual(before);
    const p = h.request('delay', { ms: 200 });
    await new Promise((r) => setTimeout(r, 50));
    expect(liveHandles()).toBeGreaterThan(before);
    await p;
    expect(liveHandles()).toBeLessThanOrEqual(before);
  });
});

describe('locating fsrvp_helper.py', () => {
  it('finds it beside the TypeScript module and, from compiled code, in the source tree', () => {
    expect(locateHelperScript()).toMatch(/\/src\/sys\/helpers\/fsrvp_helper\.py$/);
    const fromDist = helperScriptCandidates(pathToFileURL('/opt/fsrvp/dist/src/sys/helpers/fsrvp-helper.js').href);
    expect(fromDist).toEqual(['/opt/fsrvp/dist/src/sys/helpers/fsrvp_helper.py', '/opt/fsrvp/src/sys/helpers/fsrvp_helper.py']);
  });
});
