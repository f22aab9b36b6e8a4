/**
 * Our Kerberos crypto and GSS tokens against independent implementations on this machine:
 * impacket's krb5.crypto / krb5.gssapi (python3-impacket) both directions, MIT krb5's iov
 * encryption (libkrb5, through ctypes) for DCE header signing, and keytabs written by MIT's ktutil
 * (krb5-user). Missing packages are installed through tools/lib/apt.ts, or the test
 * fails saying what to install.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInstall } from '../../tools/lib/apt.js';
import { runCmd } from '../../tools/lib/run-cmd.js';
import {
  defaultSalt, findKeytabEntry, getEnctype, getMic, newMessageContext, parseKeytab, unwrapDce, verifyMic, wrapDce, type KrbMessageContext,
} from '../../src/security/kerberos/index.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, '../helpers/impacket-krb5.py');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

async function pythonHasImpacket(): Promise<boolean> {
  return (await runCmd(PYTHON, ['-c', 'import impacket.krb5.gssapi'])).code === 0;
}
async function hasKtutil(): Promise<boolean> {
  return (await runCmd('which', ['ktutil'])).code === 0;
}

/** Runs a batch of operations through impacket (see the helper script). */
async function py(ops: ReadonlyArray<Record<string, unknown>>): Promise<unknown[]> {
  const r = await runCmd(PYTHON, [SCRIPT], { input: JSON.stringify(ops), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`impacket helper failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

beforeAll(async () => {
  const need: string[] = [];
  if (!(await pythonHasImpacket())) need.push('python3-impacket');
  if (!(await hasKtutil())) need.push('krb5-user');
  if (need.length === 0) return;
  let why = '';
  try { await aptInstall(need); } catch (e) { why = `: ${(e as Error).message}`; }
  if (!(await pythonHasImpacket()) || !(await hasKtutil())) {
    throw new Error(`integration prerequisites not met${process.env.CI === 'true' ? ' (CI=true)' : ''}: apt-get install ${need.join(' ')}${why}`);
  }
});

const ETYPES = [[17, 16], [18, 32], [23, 16]] as const;
const USAGES = [1, 2, 3, 7, 8, 9, 11, 12, 13, 22, 23, 24, 25];
const keyFor = (etype: number, size: number): Uint8Array => new Uint8Array(size).map((_, i) => (i * 31 + etype * 5) & 0xff);

describe('impacket krb5.crypto', () => {
  it('string-to-key agrees for etypes 17, 18 and 23', async () => {
    const cases = [['password', 'ATHENA.MIT.EDUraeburn'], ['S3cret!pw', 'EXAMPLE.COMhostfsrvp.example.com'], ['pässwörd ✓', 'SAMBA.TESTadministrator']];
    const ops = ETYPES.flatMap(([etype]) => cases.map(([password, salt]) => ({ op: 'string_to_key', etype, password, salt })));
    const theirs = await py(ops);
    ops.forEach((o, i) => expect(hex(getEnctype(o.etype)!.stringToKey!(o.password!, o.salt!)), JSON.stringify(o)).toBe(theirs[i]));
  });

  it('encrypt with impacket → decrypt with ours, and the reverse, for every usage; same confounder gives the same bytes', async () => {
    const ops: Array<Record<string, unknown>> = [];
    const ours: Uint8Array[] = [];
    for (const [etype, size] of ETYPES) {
      const e = getEnctype(etype)!;
      const key = keyFor(etype, size);
      for (const usage of USAGES) {
        const plain = new Uint8Array(usage * 3 + 1).map((_, i) => i ^ usage);
        const conf = new Uint8Array(e.confounderSize).fill(usage);
        ops.push({ op: 'encrypt', etype, key: hex(key), usage, plain: hex(plain), conf: hex(conf) });
        ops.push({ op: 'encrypt', etype, key: hex(key), usage, plain: hex(plain) });
        const c = e.encrypt(key, usage, plain);
        ours.push(c);
        ops.push({ op: 'decrypt', etype, key: hex(key), usage, cipher: hex(c) });
        ops.push({ op: 'checksum', cksumtype: e.checksumType, etype, key: hex(key), usage, data: hex(plain) });
      }
    }
    const theirs = await py(ops);
    let i = 0;
    for (const [etype, size] of ETYPES) {
      const e = getEnctype(etype)!;
      const key = keyFor(etype, size);
      for (const usage of USAGES) {
        const plain = new Uint8Array(usage * 3 + 1).map((_, n) => n ^ usage);
        const conf = new Uint8Array(e.confounderSize).fill(usage);
        const what = `etype ${etype} usage ${usage}`;
        expect(hex(e.encrypt(key, usage, plain, conf)), what).toBe(theirs[i]);
        expect(hex(e.decrypt(key, usage, unhex(theirs[i + 1] as string)) as Uint8Array), what).toBe(hex(plain));
        expect(theirs[i + 2], what).toBe(hex(plain));
        expect(hex(e.checksum(key, usage, plain)), what).toBe(theirs[i + 3]);
        i += 4;
      }
    }
  });
});

/** A DCE/RPC response-like PDU: 24-byte header, payload, 8-byte sec_trailer, signature space. */
function pdu(payload: Uint8Array, sigSize: number, level: number): { authLevel: number; pdu: Uint8Array; payloadOffset: number; payloadLength: number; signedLength: number; trailer: Uint8Array } {
  const trailer = Uint8Array.of(0x10, level, 0, 0, 0, 0, 0, 0);
  const b = new Uint8Array(24 + payload.length + 8 + sigSize);
  b.set([5, 0, 2, 3, 0x10, 0, 0, 0]);
  b.set(payload, 24);
  b.set(trailer, 24 + payload.length);
  return { authLevel: level, pdu: b, payloadOffset: 24, payloadLength: payload.length, signedLength: 24 + payload.length + 8, trailer };
}

describe('impacket krb5.gssapi (GSSAPI_AES128 / GSSAPI_AES256 / GSSAPI_RC4)', () => {
  const ctxs = (etype: number, size: number, seq: number): { acc: KrbMessageContext; ini: KrbMessageContext; key: Uint8Array } => {
    const key = keyFor(etype, size);
    // impacket always sets AcceptorSubkey on AES tokens.
    return {
      key,
      acc: newMessageContext({ etype, key, isAcceptor: true, acceptorSubkey: true, sendSeq: seq, recvSeq: seq }),
      ini: newMessageContext({ etype, key, isAcceptor: false, acceptorSubkey: true, sendSeq: seq, recvSeq: seq }),
    };
  };

  it.each(ETYPES)('etype %i: GSS_GetMIC matches ours byte for byte; ours verify impacket\'s', async (etype, size) => {
    const data = new Uint8Array(64).map((_, i) => i * 3);
    const { key, acc, ini } = ctxs(etype, size, 5);
    const ops: Array<Record<string, unknown>> = [{ op: 'gss_getmic', etype, key: hex(key), data: hex(data), seq: 5, direction: 'init' }];
    if (etype === 23) ops.push({ op: 'gss_getmic', etype, key: hex(key), data: hex(data), seq: 5, direction: 'accept' });
    const ourAcceptorMic = getMic(acc, data);
    if (etype !== 23) ops.push({ op: 'aes_checksum', etype, key: hex(key), usage: 23, data: hex(data) + hex(ourAcceptorMic.subarray(0, 16)) });
    const theirs = await py(ops);
    expect(hex(getMic(ini, data))).toBe(theirs[0]);
    if (etype === 23) expect(hex(ourAcceptorMic)).toBe(theirs[1]);
    else expect(hex(ourAcceptorMic.subarray(16))).toBe(theirs[1]);
    expect(verifyMic(acc, data, unhex(theirs[0] as string))).toBeUndefined();
  });

  it.each(ETYPES)('etype %i: DCE privacy — impacket GSS_Wrap → our unwrapDce, our wrapDce → impacket GSS_Unwrap; tampering refused', async (etype, size) => {
    const { key, acc } = ctxs(etype, size, 9);
    const datas = [16, 48, 256].map((n) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff));
    const wrapped = (await py(datas.map((d, i) => ({ op: 'gss_wrap', etype, key: hex(key), data: hex(d), seq: 9 + i })))) as Array<{ sealed: string; token: string }>;
    datas.forEach((d, i) => {
      const token = unhex(wrapped[i]!.token);
      const p = pdu(unhex(wrapped[i]!.sealed), token.length, 6);
      const tampered = { ...p, pdu: Uint8Array.from(p.pdu), signature: token };
      tampered.pdu[24 + (d.length >> 1)]! ^= 0x10;
      expect(unwrapDce(acc, tampered), `tampered ${d.length}`).toBe(false);
      expect(unwrapDce(acc, { ...p, signature: token }), `len ${d.length}`).toBe(true);
      expect(hex(p.pdu.subarray(24, 24 + d.length))).toBe(hex(d));
    });
    expect(unwrapDce(acc, { ...pdu(unhex(wrapped[0]!.sealed), 0, 6), signature: unhex(wrapped[0]!.token) })).toBe(false); // replay
    const ops: Array<Record<string, unknown>> = [];
    for (const d of datas) {
      const p = pdu(d, 0, 6);
      const sig = wrapDce(acc, p);
      expect(sig.length).toBe(etype === 23 ? 45 : 76);
      ops.push({ op: 'gss_unwrap', etype, key: hex(key), seq: 0, sealed: hex(p.pdu.subarray(24, 24 + d.length)), sec_trailer: hex(p.trailer), token: hex(sig) });
    }
    const plains = await py(ops);
    datas.forEach((d, i) => expect(plains[i], `len ${d.length}`).toBe(hex(d)));
  });

  it.each(ETYPES)('etype %i: DCE integrity — impacket GSS_GetMIC over the stub verifies as a packet-level signature', async (etype, size) => {
    const { key, acc } = ctxs(etype, size, 3);
    const d = new Uint8Array(40).map((_, i) => i);
    const [mic] = (await py([{ op: 'gss_getmic', etype, key: hex(key), data: hex(d), seq: 3 }])) as string[];
    const p = pdu(d, 0, 5);
    expect(unwrapDce(acc, { ...p, signature: unhex(mic!) })).toBe(true);
  });
});

describe('header signing against MIT krb5 (krb5_c_encrypt_iov / krb5_c_decrypt_iov through ctypes)', () => {
  // gss_wrap_iov's DCE layout for AES, as MIT and Heimdal build it: krb5 HEADER (confounder),
  // SIGN_ONLY PDU header, DATA payload, SIGN_ONLY sec_trailer, DATA filler | token header, TRAILER.
  const tokenHeader = (flags: string, rrc: string, seq: number): string => `0504${flags}ff0010${rrc}${seq.toString(16).padStart(16, '0')}`;
  it.each([[17, 16], [18, 32]] as const)('etype %i: MIT-sealed PDU → our unwrapDce; our wrapDce → MIT decrypts and verifies; tampered header refused', async (etype, size) => {
    const key = keyFor(etype, size);
    const acc = newMessageContext({ etype, key, isAcceptor: true, acceptorSubkey: true, headerSigning: true, sendSeq: 40, recvSeq: 12 });
    const payload = new Uint8Array(64).map((_, i) => (i * 5) & 0xff);
    const p = pdu(payload, 76, 6);
    const before = hex(p.pdu.subarray(0, 24));
    const after = hex(p.trailer);
    const parts = (conf: string, data: string, tail: string, mac: string): Array<[number, string]> => [[1, conf], [3, before], [2, data], [3, after], [2, tail], [5, mac]];
    const [enc] = (await py([{ op: 'mit_encrypt_iov', etype, key: hex(key), usage: 24, parts: parts('00'.repeat(16), hex(payload), 'ff'.repeat(16) + tokenHeader('06', '0000', 12), '00'.repeat(12)) }])) as string[][];
    const [conf, , data, , tail, mac] = enc!;
    const signature = unhex(tokenHeader('06', '001c', 12) + tail! + mac! + conf!);
    p.pdu.set(unhex(data!), 24);
    const tampered = { ...p, pdu: Uint8Array.from(p.pdu), signature };
    tampered.pdu[3]! ^= 1;
    expect(unwrapDce(acc, tampered)).toBe(false);
    expect(unwrapDce(acc, { ...p, signature })).toBe(true);
    expect(hex(p.pdu.subarray(24, 88))).toBe(hex(payload));

    const q = pdu(payload, 76, 6);
    const sig = wrapDce(acc, q);
    const mine = parts(hex(sig.subarray(60)), hex(q.pdu.subarray(24, 88)), hex(sig.subarray(16, 48)), hex(sig.subarray(48, 60)));
    const badHeader = mine.map(([t, h], i): [number, string] => [t, i === 1 ? `ff${h.slice(2)}` : h]);
    const [dec, bad] = (await py([
      { op: 'mit_decrypt_iov', etype, key: hex(key), usage: 22, parts: mine },
      { op: 'mit_decrypt_iov', etype, key: hex(key), usage: 22, parts: badHeader },
    ])) as [string[], string];
    expect(dec[2]).toBe(hex(payload));
    expect(dec[4]).toBe('ff'.repeat(16) + tokenHeader('07', '0000', 40));
    expect(bad).toMatch(/^error/);
  });
});

describe('keytabs written by MIT ktutil', () => {
  let dir = '';
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'fsrvp-keytab-')); });
  afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it('parses every entry and each key equals our string-to-key of the password with the default salt', async () => {
    const file = join(dir, 'test.keytab');
    const realm = 'EXAMPLE.COM';
    const principals: Array<[string[], number, string]> = [
      [['host', 'fsrvp.example.com'], 3, 'S3cret!pw'],
      [['FSRVP$'], 300, 'machine pässword'],
    ];
    const enctypes: Array<[string, number]> = [['aes256-cts-hmac-sha1-96', 18], ['aes128-cts-hmac-sha1-96', 17], ['arcfour-hmac', 23]];
    let script = '';
    for (const [comps, kvno, password] of principals) {
      for (const [name] of enctypes) script += `addent -password -p ${comps.join('/')}@${realm} -k ${kvno} -e ${name}\n${password}\n`;
    }
    script += `wkt ${file}\nquit\n`;
    const r = await runCmd('ktutil', [], { input: script });
    expect(r.code, r.stderr).toBe(0);
    const kt = parseKeytab(new Uint8Array(await readFile(file)));
    expect(kt.version).toBe(2);
    expect(kt.entries.length).toBe(principals.length * enctypes.length);
    for (const [comps, kvno, password] of principals) {
      for (const [, etype] of enctypes) {
        const e = findKeytabEntry(kt, { components: comps, realm, etype });
        expect(e, `${comps.join('/')} ${etype}`).toBeDefined();
        expect(e!.kvno).toBe(kvno);
        expect(e!.principal.nameType).toBe(1);
        expect(hex(e!.key)).toBe(hex(getEnctype(etype)!.stringToKey!(password, defaultSalt(realm, comps))));
      }
    }
  });
});
