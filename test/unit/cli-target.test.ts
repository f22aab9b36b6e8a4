/**
 * The client tools' transport options: parsing and refusals; the smbd side of the external RPC
 * pipe socket (`--unix`, a caller token we claim) against the real agent; replay over it; and
 * stateful live fuzzing against the real agent (embedded default, copy backend) over TCP and
 * over the socket, leaving nothing behind.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTarget, describeTarget, npaCaller, parseTargetOption, targetOpener, TargetUsageError, type TargetArgs } from '../../src/cli/target.js';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { fuzzLive } from '../../src/fuzz/live.js';
import { generateCase } from '../../src/fuzz/live-case.js';
import { Rng } from '../../src/ndr/index.js';
import { loadCapture } from '../../src/replay/capture.js';
import { replay } from '../../src/replay/replay.js';
import { decodeNpaRequest } from '../../src/transport/npa-codec.js';
import { buildNpaRequest, NpaClientError, NpaTransport } from '../../src/transport/npa-client.js';
import { callerFromNpa } from '../../src/transport/token.js';
import { startTempAgent, type TempAgent } from '../../tools/lib/temp-agent.js';
import { fixturePath } from '../helpers/fixtures.js';

function parse(argv: string[]): TargetArgs {
  const t: TargetArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const took = parseTargetOption(argv, i, t);
    if (took === 0) throw new Error(`not a target option: ${argv[i]}`);
    i += took - 1;
  }
  checkTarget(t);
  return t;
}

describe('transport options', () => {
  it('parses --tcp, --host/--port, --smb with and without a port, IPv6, --unix with a caller', () => {
    expect(parse(['--tcp', '10.1.2.3:7000'])).toMatchObject({ kind: 'tcp', host: '10.1.2.3', port: 7000 });
    expect(parse(['--host', 'fs.example.com', '--port', '7001'])).toMatchObject({ kind: 'tcp', host: 'fs.example.com', port: 7001 });
    expect(parse(['--tcp', '[::1]:7135'])).toMatchObject({ host: '::1', port: 7135 });
    expect(parse(['--smb', '//filer1'])).toMatchObject({ kind: 'smb', host: 'filer1', port: 445 });
    expect(parse(['--smb', '\\\\filer1:4445', '--smb-signing', 'required', '--smb-encrypt', 'required', '--pipe-mode', 'write-read']))
      .toMatchObject({ kind: 'smb', host: 'filer1', port: 4445, smbSigning: 'required', smbEncryption: 'required', smbMode: 'write-read' });
    const u = parse(['--unix', '/run/x', '--caller-user', 'DOM\\bob', '--caller-uid', '7', '--caller-gid', '8', '--caller-sid', 's-1-5-32-551', '--caller-privileges', '0x200']);
    expect(u).toMatchObject({ kind: 'unix', socket: '/run/x', caller: { user: 'DOM\\bob', uid: 7, gid: 8, sids: ['S-1-5-32-551'], privileges: 0x200n } });
    expect(describeTarget(u)).toBe('unix:/run/x');
    expect(describeTarget(parse(['--smb', '//f:99']))).toBe('smb://f:99/IPC$/FssagentRpc');
    expect(describeTarget({})).toBe('tcp:127.0.0.1:7135');
  });

  it('refuses what cannot work, naming the option', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--tcp', 'host'], /--tcp takes HOST:PORT/],
      [['--tcp', 'h:70000'], /port 1\.\.65535/],
      [['--smb', 'filer'], /--smb takes \/\/HOST/],
      [['--smb', '//a', '--tcp', 'b:1'], /exclude each other/],
      [['--smb-signing', 'maybe'], /auto or required/],
      [['--tcp', 'a:1', '--smb-encrypt', 'required'], /go with --smb/],
      [['--caller-uid', '1'], /go with --unix/],
      [['--unix', '/x', '--caller-sid', 'bob'], /takes a SID/],
      [['--unix', '/x', '--caller-uid', '-1'], /non-negative integer/],
    ];
    for (const [argv, msg] of bad) expect(() => parse(argv), argv.join(' ')).toThrow(msg);
    expect(() => targetOpener({ kind: 'smb', host: 'h' }, undefined)).toThrow(TargetUsageError);
  });

  it('builds a named_pipe_auth request our own listener decodes to the claimed caller (levels 7 and 8)', () => {
    for (const level of [7, 8] as const) {
      const caller = npaCaller({ kind: 'unix', socket: '/x', caller: { user: 'DOM\\bob', uid: 1234, gid: 99, sids: ['S-1-5-32-551'], level } });
      const req = decodeNpaRequest(buildNpaRequest(caller));
      expect(req.level).toBe(level);
      const id = callerFromNpa(req);
      expect(id).toMatchObject({ source: 'npa', uid: 1234, accountName: 'bob', domainName: 'DOM' });
      expect(id.sids).toEqual(expect.arrayContaining(['S-1-5-32-551', 'S-1-22-1-1234', 'S-1-22-2-99']));
    }
  });
});

describe('against the real agent: --unix, replay over it, live fuzzing', () => {
  let t: TempAgent;
  let socket: string;
  beforeAll(async () => {
    const sock = await mkdtemp(join(tmpdir(), 'fsrvp-sock-'));
    socket = join(sock, 'np', 'fssagentrpc');
    t = await startTempAgent({ tweak: (c) => (c.listen.samba = { socketDir: sock, byteMode: false, minLevel: 'none' }) });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a cycle over the socket as root; an unprivileged claimed caller is denied', async () => {
    const root = targetOpener({ kind: 'unix', socket, caller: { uid: 0, gid: 0, sids: [] } }, undefined);
    const c = await FsrvpClient.over(await root.open());
    try {
      const r = await c.cycle({ shares: ['demo'], serverName: '127.0.0.1' });
      expect(r.copies).toHaveLength(1);
    } finally {
      await c.close();
    }
    const bob = targetOpener({ kind: 'unix', socket, caller: { user: 'X\\bob', uid: 4321, gid: 4321, sids: [] } }, undefined);
    const b = await FsrvpClient.over(await bob.open());
    try {
      expect((await b.getSupportedVersion()).result).toBe(0x80070005);
    } finally {
      await b.close();
    }
    await expect(NpaTransport.connect(join(socket, '..', 'nothing'), npaCaller({}))).rejects.toThrow(NpaClientError);
  });

  it('replays the rpcclient capture over the socket, as over TCP', async () => {
    const opener = targetOpener({ kind: 'unix', socket, caller: { uid: 0, gid: 0, sids: [] } }, undefined);
    const report = await replay(loadCapture(fixturePath('samba', 'rpcclient-session.pdus.jsonl')), { open: () => opener.open(), shareMap: { fsrvp_share: 'demo' } });
    expect(report.counts.missing).toBe(0);
    expect(report.verdicts.filter((v) => v.verdict === 'different').map((v) => v.op)).toEqual(['IsPathShadowCopied']);
  });

  it('cases are deterministic per seed and always start with a context or a set', () => {
    const a = Array.from({ length: 20 }, (_, i) => generateCase(new Rng(i), 2));
    const b = Array.from({ length: 20 }, (_, i) => generateCase(new Rng(i), 2));
    expect(a).toEqual(b);
    expect(a.every((steps) => steps.length >= 1)).toBe(true);
  });

  for (const kind of ['tcp', 'unix'] as const) {
    it(`live fuzzing over ${kind}: sets reach Commit and Expose, no finding, nothing left`, async () => {
      const target: TargetArgs = kind === 'tcp' ? { kind, host: '127.0.0.1', port: t.port } : { kind, socket, caller: { uid: 0, gid: 0, sids: [] } };
      const opener = targetOpener(target, undefined);
      const r = await fuzzLive({ open: () => opener.open(), seed: 42, iterations: 80, shares: ['demo'], serverName: '127.0.0.1', timeoutMs: 10_000 });
      expect(r.findings).toEqual([]);
      expect(r.canaryAlive).toBe(true);
      expect(r.setsCreated).toBeGreaterThan(20);
      expect(r.coverage['request:CommitShadowCopySet:ZERO']).toBeGreaterThan(0);
      expect(r.coverage['request:ExposeShadowCopySet:ZERO']).toBeGreaterThan(0);
      expect(Object.keys(r.coverage).some((k) => k.startsWith('request:opnum'))).toBe(true);
      const c = await FsrvpClient.connect({ port: t.port });
      try {
        expect((await c.isPathShadowCopied('\\\\127.0.0.1\\demo\\')).ShadowCopyPresent).toBe(false);
      } finally {
        await c.close();
      }
      // The copy backend keeps one directory per volume under <dir>/snapshots; no copy may remain in it.
      const volumes = await readdir(join(t.dir, 'snapshots'));
      expect(volumes.length).toBeGreaterThan(0);
      for (const v of volumes) expect(await readdir(join(t.dir, 'snapshots', v))).toEqual([]);
    }, 120_000);
  }
});
