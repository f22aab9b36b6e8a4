/**
 * Our SMB2/3 client (src/smb) against the real smbd 4.17 of the Samba harness: NEGOTIATE to
 * 3.1.1, NTLMv2 logon of a passdb user, \PIPE\FssagentRpc on IPC$ forwarded to our agent, and
 * RpcClient (bind + GetSupportedVersion) over the pipe, by transceive and by write/read; every
 * dialect; then smbd with `server signing = mandatory` and with `smb encrypt = required`, and
 * the failures a user meets: wrong password, missing share, missing pipe.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/dcerpc/client.js';
import { NDR20, syntaxId } from '../../src/dcerpc/syntax.js';
import { FSRVP_UUID } from '../../src/fsrvp/codes.js';
import * as Idl from '../../src/fsrvp/idl.js';
import {
  CIPHER, DIALECT, SIGNING_ALG, dialectName, SmbClient, SmbPipe, SmbSecurityError, SmbStatusError, type CipherId, type Dialect, type PipeMode,
  type SmbClientOptions,
} from '../../src/smb/index.js';
import { CREATE_OPTION, DISPOSITION } from '../../src/smb/messages.js';
import { SHARE, SambaHarness, startTestAgent, type SambaUser } from '../../tools/lib/samba-harness.js';

const creds = (u: SambaUser, password = u.password): SmbClientOptions['credentials'] => ({ user: u.name, domain: 'FSRVPH', password });

/** Binds FSRVP over the pipe and asks GetSupportedVersion. */
async function supportedVersion(pipe: SmbPipe): Promise<{ MinVersion: number; MaxVersion: number }> {
  const rpc = RpcClient.over(pipe);
  try {
    const ack = await rpc.bind({ contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, 1, 0), transferSyntaxes: [NDR20] }], timeoutMs: 20_000 });
    if (ack.kind !== 'bind_ack') throw new Error('bind_nak');
    expect(ack.results[0]?.result).toBe(0);
    const v = await rpc.callOp(Idl.GetSupportedVersion, {}, { timeoutMs: 20_000 });
    expect(v.result).toBe(0);
    return v;
  } finally {
    await rpc.close();
  }
}

async function expectRejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('SMB client against smbd, FssagentRpc served by our agent', () => {
  let h: SambaHarness;
  beforeAll(async () => {
    h = await SambaHarness.start({ mode: 'agent' });
    await startTestAgent(h);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.each(['transceive', 'write-read'] as PipeMode[])('3.1.1, signed: bind + GetSupportedVersion over \\PIPE\\FssagentRpc (%s)', async (mode) => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), mode });
    expect(pipe.client.dialect).toBe(DIALECT.SMB311);
    expect(pipe.client.signing).toBe(true);
    // Samba 4.17 takes the client's first choices: AES-128-GMAC signing, AES-128-GCM cipher.
    expect(pipe.client.signingAlgorithm).toBe(SIGNING_ALG.AES_GMAC);
    expect(pipe.client.cipher).toBe(CIPHER.AES_128_GCM);
    expect(pipe.client.encryptingAll).toBe(false);
    expect(await supportedVersion(pipe)).toMatchObject({ MinVersion: 1, MaxVersion: 1 });
  });

  it.each([DIALECT.SMB202, DIALECT.SMB210, DIALECT.SMB300, DIALECT.SMB302].map((d) => [dialectName(d), d]) as Array<[string, Dialect]>)('dialect %s alone works too', async (_n, d) => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), dialects: [d] });
    expect(pipe.client.dialect).toBe(d);
    expect(pipe.client.signingAlgorithm).toBe(d >= 0x0300 ? SIGNING_ALG.AES_CMAC : SIGNING_ALG.HMAC_SHA256);
    expect(pipe.client.negotiateValidated).toBe(d === DIALECT.SMB300 || d === DIALECT.SMB302);
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it('3.1.1 with AES-CMAC signing when GMAC is not offered', async () => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), signingAlgorithms: [SIGNING_ALG.AES_CMAC] });
    expect(pipe.client.signingAlgorithm).toBe(SIGNING_ALG.AES_CMAC);
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it.each([CIPHER.AES_128_GCM, CIPHER.AES_128_CCM, CIPHER.AES_256_GCM, CIPHER.AES_256_CCM] as CipherId[])('client-required encryption with cipher %i', async (c) => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), encryption: 'required', ciphers: [c] });
    expect(pipe.client.cipher).toBe(c);
    expect(pipe.client.encryptingAll).toBe(true);
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it('3.0 with client-required encryption (AES-128-CCM)', async () => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), dialects: [DIALECT.SMB300], encryption: 'required' });
    expect(pipe.client.cipher).toBe(CIPHER.AES_128_CCM);
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it('the unprivileged user reaches the pipe as himself: the agent answers E_ACCESSDENIED', async () => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.plain) });
    const rpc = RpcClient.over(pipe);
    try {
      const ack = await rpc.bind({ contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, 1, 0), transferSyntaxes: [NDR20] }] });
      expect(ack.kind).toBe('bind_ack');
      const v = await rpc.callOp(Idl.GetSupportedVersion, {});
      expect(v.result >>> 0).toBe(0x80070005);
    } finally {
      await rpc.close();
    }
  });

  it('a wrong password is a typed STATUS_LOGON_FAILURE', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: creds(h.admin, 'not-the-password') }));
    expect(e).toBeInstanceOf(SmbStatusError);
    expect((e as SmbStatusError).is('LOGON_FAILURE')).toBe(true);
    expect(e.message).toMatch(/wrong password/);
  });

  it('a missing share is STATUS_BAD_NETWORK_NAME, a missing pipe STATUS_OBJECT_NAME_NOT_FOUND', async () => {
    const c = await SmbClient.connect({ credentials: creds(h.admin) });
    try {
      const e = await expectRejects(c.treeConnect('no_such_share'));
      expect((e as SmbStatusError).statusName).toBe('BAD_NETWORK_NAME');
      expect(e.message).toMatch(/no such share/);
      const ipc = await c.treeConnect('IPC$');
      const p = await expectRejects(ipc.open('NoSuchPipe'));
      expect((p as SmbStatusError).statusName).toBe('OBJECT_NAME_NOT_FOUND');
      expect(p.message).toMatch(/named pipe/);
      await ipc.disconnect();
    } finally {
      await c.close();
    }
  });

  it.each(['transceive', 'write-read'] as PipeMode[])('pipe messages longer than one READ/IOCTL answer: STATUS_BUFFER_OVERFLOW, then READs (%s)', async (mode) => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), mode, chunkSize: 24 });
    expect(await supportedVersion(pipe)).toMatchObject({ MinVersion: 1, MaxVersion: 1 });
  });

  it('large I/O on a disk share: multi-credit WRITE and READ (CreditCharge > 1)', async () => {
    const c = await SmbClient.connect({ credentials: creds(h.admin) });
    try {
      const tree = await c.treeConnect(SHARE);
      const f = await tree.open('big.bin', { disposition: DISPOSITION.OVERWRITE_IF, options: CREATE_OPTION.NON_DIRECTORY_FILE });
      const data = new Uint8Array(randomBytes(700_000));
      expect(await f.write(data)).toBe(data.length);
      const back: Uint8Array[] = [];
      let got = 0;
      while (got < data.length) {
        const ch = await f.read(data.length - got, BigInt(got));
        expect(ch.data.length).toBeGreaterThan(0);
        back.push(ch.data);
        got += ch.data.length;
      }
      expect(Buffer.compare(Buffer.concat(back), Buffer.from(data))).toBe(0);
      expect(c.maxIo('read')).toBeGreaterThan(65536);
      expect(c.conn.availableCredits).toBeGreaterThan(8);
      await f.close();
      await tree.disconnect();
    } finally {
      await c.close();
    }
  });

  it('an unknown user, with no guest mapping, is STATUS_LOGON_FAILURE even when signing is required', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: { user: 'nobody-here', domain: 'FSRVPH', password: 'x' }, signing: 'required' }));
    expect((e as SmbStatusError).statusName).toBe('LOGON_FAILURE');
  });
});

describe.each([
  // The disk share alone requires encryption here: its tree is encrypted, IPC$ only signed.
  ['server signing = mandatory', { 'server signing': 'mandatory' }, { 'server smb encrypt': 'required' }],
  ['smb encrypt = required', { 'server smb encrypt': 'required' }, {}],
])('SMB client against smbd with %s (Samba\'s own rpcd_fsrvp)', (name, global, share) => {
  let h: SambaHarness;
  beforeAll(async () => {
    h = await SambaHarness.start({ mode: 'samba', global, share });
  });

  it('a share requiring encryption gets an encrypted tree (session-wide otherwise)', async () => {
    const c = await SmbClient.connect({ credentials: creds(h.admin) });
    try {
      const ipc = await c.treeConnect('IPC$');
      const tree = await c.treeConnect(SHARE);
      expect(tree.encrypt).toBe(true);
      expect(ipc.encrypt).toBe(!name.includes('signing'));
      expect(c.encryptingAll).toBe(!name.includes('signing'));
      const f = await tree.open('enc.txt', { disposition: DISPOSITION.OVERWRITE_IF, options: CREATE_OPTION.NON_DIRECTORY_FILE });
      await f.write(new Uint8Array(Buffer.from('sealed')));
      expect(Buffer.from((await f.read(100)).data).toString()).toBe('sealed');
      await f.close();
      await tree.disconnect();
      await ipc.disconnect();
    } finally {
      await c.close();
    }
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('3.1.1: bind + GetSupportedVersion', async () => {
    const pipe = await SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin) });
    try {
      expect(pipe.client.dialect).toBe(DIALECT.SMB311);
      if (name.includes('encrypt')) expect(pipe.client.encryptingAll).toBe(true);
      else {
        expect(pipe.client.negotiated.serverRequiresSigning).toBe(true);
        expect(pipe.client.signing).toBe(true);
      }
      expect(await supportedVersion(pipe)).toMatchObject({ MinVersion: 1, MaxVersion: 1 });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await h.logTail('smbd.out')}`);
    }
  });

  it('2.1 as well', async () => {
    const attempt = SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), dialects: [DIALECT.SMB210] });
    if (name.includes('encrypt')) {
      // 2.1 cannot encrypt: smbd refuses the session or the tree connect.
      const e = await expectRejects(attempt.then((p) => supportedVersion(p)));
      expect((e as SmbStatusError).statusName).toBe('ACCESS_DENIED');
      expect(e.message).toMatch(/require encryption.*2\.1/);
      return;
    }
    const pipe = await attempt;
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it('a client that offers no encryption', async () => {
    const attempt = SmbPipe.connect('FssagentRpc', { credentials: creds(h.admin), encryption: 'off' });
    if (name.includes('encrypt')) {
      const e = await expectRejects(attempt);
      expect((e as SmbStatusError).statusName).toBe('ACCESS_DENIED');
      expect(e.message).toMatch(/require encryption/);
      return;
    }
    const pipe = await attempt;
    expect(await supportedVersion(pipe)).toMatchObject({ MaxVersion: 1 });
  });

  it('a wrong password: STATUS_LOGON_FAILURE', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: creds(h.admin, 'bad') }));
    expect((e as SmbStatusError).statusName).toBe('LOGON_FAILURE');
  });
});


describe('SMB client against smbd mapping unknown users to guest', () => {
  let h: SambaHarness;
  beforeAll(async () => {
    h = await SambaHarness.start({ mode: 'samba', global: { 'map to guest': 'Bad User', 'guest account': 'nobody' } });
  });
  afterAll(async () => {
    await h?.stop();
  });
  const stranger = { user: 'no-such-user', domain: 'FSRVPH', password: 'whatever' };

  it('a guest logon is refused by default, with a clear error', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: stranger }));
    expect(e).toBeInstanceOf(SmbSecurityError);
    expect(e.message).toMatch(/logged us on as guest \(unknown user name\?\)/);
  });

  it('with allowGuest, a guest session does not sign (nor encrypt) and still reaches IPC$', async () => {
    const c = await SmbClient.connect({ credentials: stranger, allowGuest: true });
    try {
      expect(c.session.guest).toBe(true);
      expect(c.signing).toBe(false);
      expect(c.cipher).toBeUndefined();
      const ipc = await c.treeConnect('IPC$');
      await ipc.disconnect();
    } finally {
      await c.close();
    }
  });

  it('signing required by the client on a guest session: SmbSecurityError', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: stranger, signing: 'required', allowGuest: true }));
    expect(e).toBeInstanceOf(SmbSecurityError);
    expect(e.message).toMatch(/signing is required.*guest/);
  });

  it('a known user with a wrong password is still STATUS_LOGON_FAILURE', async () => {
    const e = await expectRejects(SmbClient.connect({ credentials: creds(h.admin, 'bad') }));
    expect((e as SmbStatusError).statusName).toBe('LOGON_FAILURE');
  });
});
