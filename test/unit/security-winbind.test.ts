/**
 * The winbind NTLM verifier's parts: the ntlm-server-1 request/answer codec (total, names sent
 * base64), and the child management (refusal blocks with their extra `.`, restart after a death,
 * timeout, bounded queue, missing binary) against small stand-in executables that speak the
 * protocol as Samba 4.17's ntlm_auth does (the real one runs in samba-addc-winbind.test.ts),
 * and the token from wbinfo's output.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNtlmAuthRequest, NtlmAuthHelper, NtlmAuthUnavailable, parseNtlmAuthAnswer } from '../../src/security/credentials/ntlm-auth.js';
import { parseNameToSid, parseSidList, parseSidToName, WinbindCredentials } from '../../src/security/credentials/winbind.js';
import type { NtlmVerifyRequest } from '../../src/security/ntlmssp/index.js';

const KEY = '00112233445566778899aabbccddeeff';

/** A stand-in ntlm_auth: the user name (base64 on the wire) picks the answer. */
const FAKE_NTLM_AUTH = String.raw`#!/usr/bin/node
let buf = '';
let req = {};
const out = (s) => process.stdout.write(s);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    if (line !== '.') {
      const i = line.indexOf(':: ');
      if (i > 0) req[line.slice(0, i)] = Buffer.from(line.slice(i + 3), 'base64').toString();
      else { const j = line.indexOf(': '); req[line.slice(0, j)] = line.slice(j + 2); }
      continue;
    }
    const u = req.Username; const seen = req; req = {};
    if (u === 'alice' && seen['Request-User-Session-Key'] === 'Yes' && seen['LANMAN-Challenge'] === '0102030405060708')
      out('Authenticated: Yes\nUser-Session-Key: ${KEY.toUpperCase()}\n.\n');
    else if (u === 'nokey') out('Authenticated: Yes\n.\n');
    else if (u === 'down') out('Authenticated: No\nAuthentication-Error: Reading winbind reply failed!\n.\n.\n');
    else if (u === 'die') process.exit(3);
    else if (u === 'hang') {}
    else if (u === 'slow') setTimeout(() => out('Authenticated: No\nAuthentication-Error: Wrong Password\n.\n.\n'), 200);
    else out('Authenticated: No\nAuthentication-Error: Wrong Password\n.\n.\n');
  }
});
`;

/** A stand-in wbinfo for the account FSRVPTEST\alice, in Backup Operators. */
const FAKE_WBINFO = String.raw`#!/usr/bin/node
const [op, arg] = process.argv.slice(2);
const w = (s) => process.stdout.write(s);
if (op === '--separator') w('\\\n');
else if (op === '--name-to-sid') {
  if (arg === 'FSRVPTEST\\alice') w('S-1-5-21-1-2-3-1105 SID_USER (1)\n');
  else if (arg === 'FSRVPTEST\\Domain Admins') w('S-1-5-21-1-2-3-512 SID_DOM_GROUP (2)\n');
  else { process.stderr.write('failed to call wbcLookupName\n'); process.exit(1); }
} else if (op === '--user-sids') w('S-1-5-21-1-2-3-513\nS-1-5-32-551\nS-1-5-32-545\n');
else if (op === '--sid-to-name') w('FSRVPTEST\\alice 1\n');
else process.exit(2);
`;

let dir: string;
let ntlmAuth: string;
let wbinfo: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'winbind-unit-'));
  ntlmAuth = join(dir, 'ntlm_auth');
  wbinfo = join(dir, 'wbinfo');
  await writeFile(ntlmAuth, FAKE_NTLM_AUTH);
  await writeFile(wbinfo, FAKE_WBINFO);
  await chmod(ntlmAuth, 0o755);
  await chmod(wbinfo, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const challenge = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const ntResponse = new Uint8Array(64).fill(7);
const req = (user: string, domain = 'FSRVPTEST'): NtlmVerifyRequest => ({
  user, domain, workstation: 'WS', serverChallenge: challenge, ntResponse, lmResponse: new Uint8Array(0),
});

describe('ntlm-server-1 codec', () => {
  it('sends names base64, the challenge and the response in hex, and asks for the user session key', () => {
    const t = encodeNtlmAuthRequest({ user: 'a: b:: c', domain: 'DOM', serverChallenge: challenge, ntResponse: new Uint8Array(24).fill(0xab) });
    expect(t).toBe([
      `Username:: ${Buffer.from('a: b:: c').toString('base64')}`, `NT-Domain:: ${Buffer.from('DOM').toString('base64')}`,
      'LANMAN-Challenge: 0102030405060708', `NT-Response: ${'ab'.repeat(24)}`, 'Request-User-Session-Key: Yes', '.', '',
    ].join('\n'));
  });

  it('refuses to send what ntlm_auth would reject line by line (and so answer twice)', () => {
    const base = { user: 'u', domain: 'D', serverChallenge: challenge, ntResponse };
    expect(encodeNtlmAuthRequest({ ...base, serverChallenge: new Uint8Array(7) })).toEqual({ invalid: 'the server challenge is not 8 bytes' });
    expect(encodeNtlmAuthRequest({ ...base, ntResponse: new Uint8Array(23) })).toEqual({ invalid: 'the NT response is shorter than 24 bytes' });
    expect(encodeNtlmAuthRequest({ ...base, user: 'a\nNT-Domain: X' })).toEqual({ invalid: 'unusable user name' });
    expect(encodeNtlmAuthRequest({ ...base, user: 'a\u0000b' })).toEqual({ invalid: 'unusable user name' });
    expect(encodeNtlmAuthRequest({ ...base, domain: 'D\r' })).toEqual({ invalid: 'unusable domain name' });
    expect(typeof encodeNtlmAuthRequest({ ...base, domain: '' })).toBe('string');
    expect(encodeNtlmAuthRequest({ ...base, domain: '' })).not.toContain('NT-Domain');
  });

  it('reads the answers ntlm_auth gives', () => {
    expect(parseNtlmAuthAnswer(['Authenticated: Yes', `User-Session-Key: ${KEY.toUpperCase()}`])).toEqual({ kind: 'authenticated', userSessionKey: Uint8Array.from(Buffer.from(KEY, 'hex')) });
    expect(parseNtlmAuthAnswer(['Authenticated: Yes'])).toEqual({ kind: 'authenticated' });
    expect(parseNtlmAuthAnswer(['Authenticated: No', 'Authentication-Error: Wrong Password'])).toEqual({ kind: 'refused', error: 'Wrong Password' });
    expect(parseNtlmAuthAnswer(['Error: No username supplied!'])).toEqual({ kind: 'error', error: 'No username supplied!' });
    expect(parseNtlmAuthAnswer(['Authenticated: Yes', 'User-Session-Key: 1234'])).toMatchObject({ kind: 'error' });
    expect(parseNtlmAuthAnswer(['hello'])).toMatchObject({ kind: 'error', error: expect.stringContaining('unexpected answer') });
  });

  it('is total: any lines give an answer, and only a 16-byte key is ever accepted', () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 6 }), (lines) => {
      const a = parseNtlmAuthAnswer(lines);
      expect(['authenticated', 'refused', 'error']).toContain(a.kind);
      if (a.kind === 'authenticated' && a.userSessionKey !== undefined) expect(a.userSessionKey).toHaveLength(16);
    }));
  });
});

describe('wbinfo output', () => {
  it('reads name-to-sid, user-sids and sid-to-name', () => {
    expect(parseNameToSid('S-1-5-21-1-2-3-500 SID_USER (1)\n')).toEqual({ sid: 'S-1-5-21-1-2-3-500', type: 1 });
    expect(parseNameToSid('failed to call wbcLookupName: WBC_ERR_DOMAIN_NOT_FOUND\n')).toBeUndefined();
    expect(parseSidList('S-1-5-21-1-2-3-513\nS-1-5-32-544\n\ngarbage\n')).toEqual(['S-1-5-21-1-2-3-513', 'S-1-5-32-544']);
    expect(parseSidToName('FSRVPTEST\\Administrator 1\n')).toEqual({ domain: 'FSRVPTEST', name: 'Administrator' });
  });
});

describe('NtlmAuthHelper: the ntlm_auth child', () => {
  it('answers in order, skips the second "." after a refusal, and keeps one child', async () => {
    const h = new NtlmAuthHelper({ ntlmAuth });
    try {
      const r = { domain: 'D', serverChallenge: challenge, ntResponse };
      const answers = await Promise.all(['bob', 'alice', 'slow', 'alice', 'down'].map((user) => h.check({ ...r, user })));
      expect(answers.map((a) => a.kind)).toEqual(['refused', 'authenticated', 'refused', 'authenticated', 'refused']);
      expect(answers[1]).toEqual({ kind: 'authenticated', userSessionKey: Uint8Array.from(Buffer.from(KEY, 'hex')) });
      expect(h.starts).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a child that dies fails its request and is started again for the next', async () => {
    const h = new NtlmAuthHelper({ ntlmAuth });
    try {
      const r = { domain: 'D', serverChallenge: challenge, ntResponse };
      const dead = h.check({ ...r, user: 'die' });
      const next = h.check({ ...r, user: 'alice' });
      await expect(dead).rejects.toThrow(/ntlm_auth exited \(status 3\)/);
      expect((await next).kind).toBe('authenticated');
      expect(h.starts).toBe(2);
    } finally {
      await h.close();
    }
  });

  it('a request without an answer times out and kills the stuck child; the queue is bounded', async () => {
    const h = new NtlmAuthHelper({ ntlmAuth, timeoutMs: 300, maxQueue: 2 });
    try {
      const r = { domain: 'D', serverChallenge: challenge, ntResponse };
      const stuck = h.check({ ...r, user: 'hang' });
      const q1 = h.check({ ...r, user: 'alice' });
      const q2 = h.check({ ...r, user: 'bob' });
      await expect(h.check({ ...r, user: 'alice' })).rejects.toThrow(/busy \(2 requests waiting\)/);
      await expect(stuck).rejects.toThrow(/no answer within 300 ms/);
      expect((await q1).kind).toBe('authenticated');
      expect((await q2).kind).toBe('refused');
      expect(h.starts).toBe(2);
    } finally {
      await h.close();
    }
  });

  it('a missing binary is unavailable, not a crash', async () => {
    const h = new NtlmAuthHelper({ ntlmAuth: join(dir, 'nope') });
    await expect(h.check({ user: 'alice', domain: 'D', serverChallenge: challenge, ntResponse })).rejects.toBeInstanceOf(NtlmAuthUnavailable);
    await h.close();
  });
});

describe('WinbindCredentials: the verifier', () => {
  const errors: string[] = [];
  const creds = (o: { ntlmAuth?: string } = {}): WinbindCredentials => new WinbindCredentials({ ntlmAuth, wbinfo, onError: (m) => errors.push(m), ...o });

  it('accepts with the session base key from ntlm_auth and the token from winbind (BUILTIN aliases in it)', async () => {
    const w = creds();
    try {
      const v = await w.verifier(req('alice'));
      expect(v).toEqual({
        ok: true, sessionBaseKey: Uint8Array.from(Buffer.from(KEY, 'hex')),
        identity: { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1105', 'S-1-5-21-1-2-3-513', 'S-1-5-32-551', 'S-1-5-32-545'], accountName: 'alice', domainName: 'FSRVPTEST' },
      });
    } finally {
      await w.close();
    }
  });

  it('refuses a wrong password, NTLMv1, a missing key; winbindd down or no ntlm_auth is a refusal with a logged error', async () => {
    errors.length = 0;
    const w = creds();
    const gone = creds({ ntlmAuth: join(dir, 'nope') });
    try {
      expect(await w.verifier(req('bob'))).toEqual({ ok: false, reason: 'winbind refused FSRVPTEST\\bob: Wrong Password' });
      expect(await w.verifier({ ...req('alice'), ntResponse: new Uint8Array(24) })).toMatchObject({ ok: false, reason: expect.stringMatching(/not an NTLMv2 response/) });
      expect(await w.verifier(req('nokey'))).toMatchObject({ ok: false, reason: expect.stringMatching(/no user session key/) });
      expect(errors).toEqual([]);
      expect(await w.verifier(req('down'))).toMatchObject({ ok: false, reason: expect.stringMatching(/winbindd is not answering \(Reading winbind reply failed!\)/) });
      expect(await gone.verifier(req('alice'))).toMatchObject({ ok: false, reason: expect.stringMatching(/not found \(Debian package winbind\)/) });
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/is winbindd running\?/);
    } finally {
      await w.close();
      await gone.close();
    }
  });

  it('an account winbind cannot name, or a group, gets no token', async () => {
    const w = creds();
    try {
      expect(await w.identity('carol', 'FSRVPTEST')).toBe('winbind knows no account FSRVPTEST\\carol');
      expect(await w.identity('Domain Admins', 'FSRVPTEST')).toBe('FSRVPTEST\\Domain Admins is not a user account (SID type 2)');
    } finally {
      await w.close();
    }
  });
});
