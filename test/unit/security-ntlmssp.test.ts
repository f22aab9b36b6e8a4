/**
 * NTLMSSP acceptor and initiator (src/security/ntlmssp): MS-NLMP 4.2.4.4 sealing vectors, the
 * three-message exchange both ways, SPNEGO around it, DCE/RPC packet protection, and every
 * refusal the issue names: wrong password, tampered AUTHENTICATE (MIC), a response computed for
 * another server's CHALLENGE, a reflected challenge, NTLMv1, anonymous, an expired CHALLENGE.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTH_LEVEL } from '../../src/dcerpc/constants.js';
import type { CallerIdentity } from '../../src/dcerpc/interface.js';
import type { GssContext, GssFlags, GssStep } from '../../src/security/gss.js';
import { MECH_OID } from '../../src/security/gss.js';
import { NTLM_FLAGS } from '../../src/security/ntlmssp/constants.js';
import { NtlmSessionSecurity } from '../../src/security/ntlmssp/seal.js';
import { sealKey, signKey } from '../../src/security/ntlmssp/keys.js';
import { MIC_OFFSET } from '../../src/security/ntlmssp/messages.js';
import {
  ChallengeRegistry, NtlmAcceptor, NtlmInitiator, ntHashOf, ntHashVerifier, type NtlmAcceptorOptions, type NtlmCredentials,
} from '../../src/security/ntlmssp/index.js';
import { createSpnegoAcceptor, createSpnegoInitiator } from '../../src/security/spnego/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

describe('MS-NLMP 4.2.4.4 GSS_WrapEx (NTLMv2, extended session security, key exchange)', () => {
  const flags = 0xe28a8233;
  const randomSessionKey = new Uint8Array(16).fill(0x55);
  it('SEALKEY and SIGNKEY client-to-server', () => {
    expect(hex(sealKey(randomSessionKey, flags, 'client'))).toBe('59f600973cc4960a25480a7c196e4c58');
    expect(hex(signKey(randomSessionKey, 'client'))).toBe('4788dc861b4782f35d43fd98fe1a2d39');
  });
  it('sealed "Plaintext" and its signature, byte-exact; the server unseals it', () => {
    const client = new NtlmSessionSecurity(randomSessionKey, flags, 'client');
    const plain = new Uint8Array(Buffer.from('Plaintext', 'utf16le'));
    const { sealed, signature } = client.wrap(plain);
    expect(hex(sealed)).toBe('54e50165bf1936dc996020c1811b0f06fb5f');
    expect(hex(signature)).toBe('010000007fb38ec5c55d497600000000');
    const server = new NtlmSessionSecurity(randomSessionKey, flags, 'server');
    expect(server.unwrap(sealed, signature)).toEqual(plain);
  });
});

const ALICE: CallerIdentity = { source: 'rpc-auth', sids: ['S-1-5-21-1-2-3-1001', 'S-1-5-32-551'], accountName: 'alice', domainName: 'FSRVPHOST' };
const accounts = new Map([['alice', ntHashOf('Secret1!')]]);
const verifier = ntHashVerifier(async (user) => {
  const h = accounts.get(user.toLowerCase());
  return h === undefined ? undefined : { ntHash: h, identity: ALICE };
});
const NAMES = { netbiosName: 'FSRVPHOST', netbiosDomain: 'WORKGROUP' };
const FULL: GssFlags = { integrity: true, confidentiality: true, headerSigning: true, dceStyle: false };
const alice = (password = 'Secret1!'): NtlmCredentials => ({ user: 'alice', domain: 'FSRVPHOST', password, workstation: 'CLIENT1' });

interface Run { readonly server: GssStep[]; readonly wire: Uint8Array[] }

/** Drives initiator and acceptor; `tamper` may replace a token on the wire (index = leg). */
async function run(ini: GssContext, acc: GssContext, tamper?: (leg: number, t: Uint8Array) => Uint8Array): Promise<Run> {
  const out: Run = { server: [], wire: [] };
  let s = await ini.step(new Uint8Array(0));
  for (let leg = 0; leg < 8; leg++) {
    if (s.status === 'rejected') return out;
    if (s.status === 'done' && s.token.length === 0) return out;
    const t = tamper ? tamper(leg, s.token) : s.token;
    out.wire.push(t);
    const toServer = leg % 2 === 0;
    s = await (toServer ? acc : ini).step(t);
    if (toServer) out.server.push(s);
    if (toServer && s.status === 'done' && ini.established) return out;
  }
  return out;
}

const pair = (o: Partial<NtlmAcceptorOptions> = {}, c = alice()): [NtlmInitiator, NtlmAcceptor] =>
  [new NtlmInitiator({ credentials: c, flags: FULL }), new NtlmAcceptor({ names: NAMES, verifier, flags: FULL, ...o })];

describe('NTLMSSP exchange, our initiator against our acceptor', () => {
  it('authenticates with key exchange and a MIC; both sides agree on keys and identity', async () => {
    const [ini, acc] = pair();
    const r = await run(ini, acc);
    expect(r.server.map((s) => s.status)).toEqual(['continue', 'done']);
    const done = r.server[1] as Extract<GssStep, { status: 'done' }>;
    expect(done.identity).toEqual(ALICE);
    expect(hex(ini.sessionKey())).toBe(hex(acc.sessionKey()));
    expect(ini.flags & NTLM_FLAGS.keyExch).toBe(NTLM_FLAGS.keyExch);
    expect(acc.expectsMechListMic()).toBe(true);
    // Client → server and back, GSS MICs.
    const m = ini.getMic(new Uint8Array([1, 2, 3]));
    expect(acc.verifyMic(new Uint8Array([1, 2, 3]), m)).toBe(true);
    expect(ini.verifyMic(new Uint8Array([4]), acc.getMic(new Uint8Array([4])))).toBe(true);
  });

  it('the user name is case-insensitive and the domain may be sent in any case', async () => {
    const [ini, acc] = pair({}, { ...alice(), user: 'ALICE', domain: 'fsrvphost' });
    const r = await run(ini, acc);
    expect(r.server.at(-1)?.status).toBe('done');
  });

  it('a wrong password is refused', async () => {
    const [ini, acc] = pair({}, alice('wrong'));
    const r = await run(ini, acc);
    expect(r.server.at(-1)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/wrong password/) });
    expect(acc.established).toBe(false);
  });

  it('an unknown account is refused', async () => {
    const [ini, acc] = pair({}, { ...alice(), user: 'mallory' });
    expect((await run(ini, acc)).server.at(-1)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/no usable account/) });
  });

  it('a tampered AUTHENTICATE (flags changed in transit) fails the MIC', async () => {
    const [ini, acc] = pair();
    const r = await run(ini, acc, (leg, t) => {
      if (leg !== 2) return t;
      const c = new Uint8Array(t);
      c[60] = (c[60] as number) & ~NTLM_FLAGS.seal; // strip sealing: a downgrade
      return c;
    });
    expect(r.server.at(-1)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/MIC does not match/) });
  });

  it('a tampered MIC is refused', async () => {
    const [ini, acc] = pair();
    const r = await run(ini, acc, (leg, t) => {
      if (leg !== 2) return t;
      const c = new Uint8Array(t);
      c[MIC_OFFSET] = (c[MIC_OFFSET] as number) ^ 1;
      return c;
    });
    expect(r.server.at(-1)?.status).toBe('rejected');
  });

  it('a response computed for another server\'s CHALLENGE (a relay) is refused', async () => {
    const other = new NtlmAcceptor({ names: { netbiosName: 'ELSEWHERE', netbiosDomain: 'WORKGROUP' }, verifier, flags: FULL });
    const [ini, acc] = pair();
    const neg = await ini.step(new Uint8Array(0));
    const negToken = (neg as { token: Uint8Array }).token;
    await acc.step(negToken); // our CHALLENGE, discarded by the attacker
    const foreign = await other.step(negToken);
    const auth = await ini.step((foreign as { token: Uint8Array }).token);
    const verdict = await acc.step((auth as { token: Uint8Array }).token);
    expect(verdict).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/AV pair .* (missing|differs)/) });
  });

  it('a reflected CHALLENGE (our own acceptor\'s) is refused by our initiator', async () => {
    const registry = new ChallengeRegistry();
    const acc = new NtlmAcceptor({ names: NAMES, verifier, flags: FULL, challenges: registry });
    const attackerIni = new NtlmInitiator({ credentials: alice(), flags: FULL });
    const challenge = await acc.step((await attackerIni.step(new Uint8Array(0)) as { token: Uint8Array }).token);
    const victim = new NtlmInitiator({ credentials: alice(), flags: FULL, refuseChallengesOf: registry });
    await victim.step(new Uint8Array(0));
    const answer = await victim.step((challenge as { token: Uint8Array }).token);
    expect(answer).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/reflection/) });
  });

  it('a CHALLENGE older than 30 minutes cannot be answered', async () => {
    let now = Date.now();
    const ini = new NtlmInitiator({ credentials: alice(), flags: FULL });
    const acc = new NtlmAcceptor({ names: NAMES, verifier, flags: FULL, now: () => now });
    const ch = await acc.step((await ini.step(new Uint8Array(0)) as { token: Uint8Array }).token);
    const auth = await ini.step((ch as { token: Uint8Array }).token);
    now += 31 * 60 * 1000;
    expect(await acc.step((auth as { token: Uint8Array }).token)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/expired/) });
  });

  it('privacy asked for by the bind, but the client does not offer sealing: refused at NEGOTIATE', async () => {
    const ini = new NtlmInitiator({ credentials: alice(), flags: { ...FULL, confidentiality: false } });
    const acc = new NtlmAcceptor({ names: NAMES, verifier, flags: FULL });
    const s = await acc.step((await ini.step(new Uint8Array(0)) as { token: Uint8Array }).token);
    expect(s).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/sealing/) });
  });

  it('NTLMv1 (24-byte response) and anonymous logons are refused', async () => {
    for (const shrink of [(nt: Uint8Array) => nt.subarray(0, 24), () => new Uint8Array(0)]) {
      const [ini, acc] = pair();
      const r = await run(ini, acc, (leg, t) => (leg === 2 ? rebuildAuthenticate(t, shrink, shrink.length === 0) : t));
      expect(r.server.at(-1)?.status).toBe('rejected');
    }
  });

  it('a finished context refuses further tokens; step never throws on garbage', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), async (a, b) => {
      const acc = new NtlmAcceptor({ names: NAMES, verifier });
      const s1 = await acc.step(a);
      const s2 = await acc.step(b);
      expect(['continue', 'rejected']).toContain(s1.status);
      expect(s2.status === 'rejected' || s2.status === 'done').toBe(true);
    }), { numRuns: 300 });
  });
});

/** Re-encodes an AUTHENTICATE with a changed NT response (and, for anonymous, no user). */
function rebuildAuthenticate(t: Uint8Array, shrink: (nt: Uint8Array) => Uint8Array, anonymous: boolean): Uint8Array {
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const field = (at: number): Uint8Array => t.slice(v.getUint32(at + 4, true), v.getUint32(at + 4, true) + v.getUint16(at, true));
  const parts = [field(28), anonymous ? new Uint8Array(0) : field(36), field(44), field(12), shrink(field(20)), field(52)];
  const ats = [28, 36, 44, 12, 20, 52];
  const fixed = new Uint8Array(t.subarray(0, 88));
  const fv = new DataView(fixed.buffer);
  let off = 88;
  ats.forEach((at, i) => {
    const p = parts[i] as Uint8Array;
    fv.setUint16(at, p.length, true); fv.setUint16(at + 2, p.length, true); fv.setUint32(at + 4, off, true);
    off += p.length;
  });
  return new Uint8Array(Buffer.concat([fixed, ...parts]));
}

describe('NTLMSSP through SPNEGO, both ends ours', () => {
  it('negotiates NTLMSSP, exchanges mechListMICs, and then protects messages', async () => {
    const ini = createSpnegoInitiator({ mechanisms: [{ oid: MECH_OID.ntlmssp, start: () => new NtlmInitiator({ credentials: alice(), flags: FULL }) }] });
    const acc = createSpnegoAcceptor({ mechanisms: [{ oid: MECH_OID.ntlmssp, start: () => new NtlmAcceptor({ names: NAMES, verifier, flags: FULL }) }] });
    const r = await run(ini, acc);
    expect(r.server.at(-1)?.status).toBe('done');
    expect(acc.established && ini.established).toBe(true);
    const m = ini.getMic(new Uint8Array([9]));
    expect(acc.verifyMic(new Uint8Array([9]), m)).toBe(true);
  });
});

describe('DCE/RPC packet protection', () => {
  const pdu = (): Uint8Array => {
    const b = new Uint8Array(24 + 32 + 8 + 16);
    for (let i = 0; i < 56; i++) b[i] = i;
    return b;
  };
  const protection = (b: Uint8Array, level: number) => ({ authLevel: level, pdu: b, payloadOffset: 24, payloadLength: 32, signedLength: 64 });

  for (const level of [AUTH_LEVEL.integrity, AUTH_LEVEL.privacy]) {
    it(`level ${level}: client wraps, server unwraps, then the other way; tampering is caught`, async () => {
      const [ini, acc] = pair();
      await run(ini, acc);
      const b = pdu();
      const sig = ini.wrapPdu(protection(b, level));
      if (level === AUTH_LEVEL.privacy) expect(hex(b.subarray(24, 56))).not.toBe(hex(pdu().subarray(24, 56)));
      const recv = new Uint8Array(b);
      expect(acc.unwrapPdu({ ...protection(recv, level), signature: sig })).toBe(true);
      expect(hex(recv.subarray(0, 56))).toBe(hex(pdu().subarray(0, 56)));
      // Server → client.
      const back = pdu();
      const sig2 = acc.wrapPdu(protection(back, level));
      expect(ini.unwrapPdu({ ...protection(new Uint8Array(back), level), signature: sig2 })).toBe(true);
      // A flipped bit in the header (covered by the signature) fails.
      const b3 = pdu();
      const sig3 = ini.wrapPdu(protection(b3, level));
      b3[2] = (b3[2] as number) ^ 0x80;
      expect(acc.unwrapPdu({ ...protection(b3, level), signature: sig3 })).toBe(false);
    });
  }
});
