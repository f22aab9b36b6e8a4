/**
 * Our Kerberos acceptor against tickets and AP-REQs built by an independent implementation:
 * impacket (python3-impacket) forges a service ticket with a PAC under a known service key,
 * builds the AP-REQ (authenticator, 0x8003 checksum, subkey, sequence number), reads our AP-REP,
 * answers the DCE-style third leg, and exchanges wrapped DCE/RPC-style messages both ways
 * (impacket's GSSAPI_AES256/AES128/RC4). Refusals: wrong key, wrong kvno, wrong service, expired
 * ticket, replay, clock skew, tampered PAC, no PAC, mismatched names.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { aptInstall } from '../../tools/lib/apt.js';
import { runCmd } from '../../tools/lib/run-cmd.js';
import { KerberosAcceptor, hostPrincipals, kerberosAcceptorFactory } from '../../src/security/kerberos/acceptor.js';
import { ReplayCache } from '../../src/security/kerberos/replay-cache.js';
import type { KeytabEntry } from '../../src/security/kerberos/keytab.js';
import { createSpnegoAcceptor } from '../../src/security/spnego/index.js';
import { encodeResp, parseSpnego } from '../../src/security/spnego/tokens.js';
import { MECH_OID, type GssFlags, type GssStep } from '../../src/security/gss.js';

const PYTHON = '/usr/bin/python3';
const TICKETS = join(import.meta.dirname, '../helpers/impacket-krb5-ticket.py');
const GSS = join(import.meta.dirname, '../helpers/impacket-krb5.py');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

async function run(script: string, ops: ReadonlyArray<Record<string, unknown>>): Promise<unknown[]> {
  const r = await runCmd(PYTHON, [script], { input: JSON.stringify(ops), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`impacket helper failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}
const tickets = (ops: ReadonlyArray<Record<string, unknown>>): Promise<unknown[]> => run(TICKETS, ops);
const gss = (ops: ReadonlyArray<Record<string, unknown>>): Promise<unknown[]> => run(GSS, ops);

beforeAll(async () => {
  const ok = async (): Promise<boolean> => (await runCmd(PYTHON, ['-c', 'import impacket.krb5.pac'])).code === 0;
  if (await ok()) return;
  let why = '';
  try { await aptInstall(['python3-impacket']); } catch (e) { why = `: ${(e as Error).message}`; }
  if (!(await ok())) throw new Error(`integration prerequisites not met${process.env.CI === 'true' ? ' (CI=true)' : ''}: apt-get install python3-impacket${why}`);
});

const NOW = 1_760_000_000; // seconds
const REALM = 'EXAMPLE.COM';
const SNAME = ['host', 'fs.example.com'];
const SIZE: Record<number, number> = { 17: 16, 18: 32, 23: 16 };
const keyOf = (etype: number, seed: number): Uint8Array => new Uint8Array(SIZE[etype]!).map((_, i) => (i * 13 + seed * 7 + etype) & 0xff);
const serviceKey = (etype: number): Uint8Array => keyOf(etype, 1);
const keys: KeytabEntry[] = [17, 18, 23].map((etype) => ({
  principal: { components: SNAME, realm: REALM, nameType: 3 }, timestamp: 0, kvno: 3, etype, key: serviceKey(etype),
}));
const GSS_DCE = 0x1000 | 0x20 | 0x10 | 0x8 | 0x4 | 0x2;
const FLAGS: GssFlags = { integrity: true, confidentiality: true, headerSigning: false, dceStyle: true };
const PAC = {
  user: 'alice', rid: 1105, groups: [513, 512, 1200], domain: 'EXAMPLE', domainSid: 'S-1-5-21-11-22-33',
  extraSids: ['S-1-18-1'], resourceGroups: { domainSid: 'S-1-5-21-44-55-66', rids: [1000] }, upn: 'alice@example.com', dnsDomain: 'EXAMPLE.COM',
};

let ctimeCounter = 0;
function apReqOp(etype: number, o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    op: 'make_ap_req', etype, serviceKey: hex(serviceKey(etype)), sessionKey: hex(keyOf(etype, 2)), kvno: 3, realm: REALM, sname: SNAME,
    cname: ['alice'], crealm: REALM, authtime: NOW - 60, endtime: NOW + 36000, ctime: NOW - 30, cusec: 1000 + ctimeCounter++,
    gssFlags: GSS_DCE, subkey: hex(keyOf(etype, 3)), seq: 77, pac: PAC, ...o,
  };
}
const acceptor = (replay = new ReplayCache(), flags: GssFlags = FLAGS): KerberosAcceptor =>
  new KerberosAcceptor({ keys, flags, now: () => NOW * 1000, replay });
const reason = (s: GssStep): string => (s.status === 'rejected' ? s.reason : `not rejected: ${s.status}`);

/** A DCE/RPC response-like PDU: 24-byte header, payload, 8-byte sec_trailer, signature space. */
function pdu(payload: Uint8Array, sigSize: number, level: number) {
  const trailer = Uint8Array.of(0x10, level, 0, 0, 0, 0, 0, 0);
  const b = new Uint8Array(24 + payload.length + 8 + sigSize);
  b.set([5, 0, 2, 3, 0x10, 0, 0, 0]);
  b.set(payload, 24);
  b.set(trailer, 24 + payload.length);
  return { authLevel: level, pdu: b, payloadOffset: 24, payloadLength: payload.length, signedLength: 24 + payload.length + 8, trailer };
}

describe.each([18, 17, 23])('etype %i: impacket-forged ticket', (etype) => {
  it('DCE style: AP-REQ → our AP-REP (impacket decrypts it, ctime/cusec echoed, acceptor subkey) → impacket third leg → done; PAC identity; wrapped messages both ways', async () => {
    const op = apReqOp(etype);
    const [token] = (await tickets([op])) as string[];
    const acc = acceptor();
    const s1 = await acc.step(unhex(token!));
    expect(s1.status, reason(s1)).toBe('continue');
    if (s1.status !== 'continue') return;
    expect(s1.token[0]).toBe(0x6f); // raw AP-REP ([APPLICATION 15]) in DCE style
    const [rep] = (await tickets([{ op: 'read_ap_rep', token: hex(s1.token), sessionEtype: etype, sessionKey: op.sessionKey, ctime: op.ctime }])) as Array<Record<string, string | number>>;
    expect(rep!.ctime).toBe(rep!.expectedCtime);
    expect(rep!.cusec).toBe(op.cusec);
    expect(rep!.subkeyEtype).toBe(etype);
    expect(rep!.subkey).not.toBe(op.subkey);
    const [third] = (await tickets([{ op: 'make_dce_ap_rep', sessionEtype: etype, sessionKey: op.sessionKey, seq: rep!.seq, now: NOW }])) as string[];
    expect(acc.established).toBe(false);
    const s2 = await acc.step(unhex(third!));
    expect(s2.status, reason(s2)).toBe('done');
    if (s2.status !== 'done') return;
    expect(s2.token.length).toBe(0);
    expect(acc.established).toBe(true);
    expect(s2.identity).toEqual({
      source: 'rpc-auth', accountName: 'alice', domainName: 'EXAMPLE',
      sids: ['S-1-5-21-11-22-33-1105', 'S-1-5-21-11-22-33-513', 'S-1-5-21-11-22-33-512', 'S-1-5-21-11-22-33-1200', 'S-1-18-1', 'S-1-5-21-44-55-66-1000'],
    });
    expect(hex(acc.sessionKey())).toBe(rep!.subkey);

    // Client → server: impacket GSS_Wrap (initiator, seq 77) under the acceptor subkey; our unwrapPdu.
    const key = rep!.subkey as string;
    const data = new Uint8Array(48).map((_, i) => (i * 5 + etype) & 0xff);
    const [w] = (await gss([{ op: 'gss_wrap', etype, key, data: hex(data), seq: 77 }])) as Array<{ sealed: string; token: string }>;
    const sig = unhex(w!.token);
    const inbound = pdu(unhex(w!.sealed), sig.length, 6);
    expect(acc.unwrapPdu({ ...inbound, signature: sig })).toBe(true);
    expect(hex(inbound.pdu.subarray(24, 24 + data.length))).toBe(hex(data));
    expect(acc.unwrapPdu({ ...pdu(unhex(w!.sealed), sig.length, 6), signature: sig })).toBe(false); // replayed sequence number

    // Server → client: our wrapPdu; impacket GSS_Unwrap.
    const out = pdu(data, 0, 6);
    const ours = acc.wrapPdu(out);
    expect(ours.length).toBe(acc.signatureSize());
    const [plain] = await gss([{ op: 'gss_unwrap', etype, key, seq: rep!.seq, sealed: hex(out.pdu.subarray(24, 24 + data.length)), sec_trailer: hex(out.trailer), token: hex(ours) }]);
    expect(plain).toBe(hex(data));
  });

  it('wrong service key and wrong kvno are refused, naming the key', async () => {
    const [wrongKey, wrongKvno, wrongService] = (await tickets([
      apReqOp(etype, { serviceKey: hex(keyOf(etype, 9)) }),
      apReqOp(etype, { kvno: 4 }),
      apReqOp(etype, { sname: ['cifs', 'other.example.com'] }),
    ])) as string[];
    expect(reason(await acceptor().step(unhex(wrongKey!)))).toMatch(/ticket for host\/fs\.example\.com@EXAMPLE\.COM does not decrypt/);
    expect(reason(await acceptor().step(unhex(wrongKvno!)))).toMatch(/kvno 4 etype \d+ in the keytab \(it has kvno 3/);
    expect(reason(await acceptor().step(unhex(wrongService!)))).toMatch(/no key for cifs\/other\.example\.com@EXAMPLE\.COM/);
  });
});

describe('impacket-forged tickets: refusals (aes256)', () => {
  it('expired ticket, skewed authenticator, replayed authenticator', async () => {
    const [expired, skewed, good] = (await tickets([
      apReqOp(18, { authtime: NOW - 72000, endtime: NOW - 3600 }),
      apReqOp(18, { ctime: NOW - 600 }),
      apReqOp(18),
    ])) as string[];
    expect(reason(await acceptor().step(unhex(expired!)))).toMatch(/expired at/);
    expect(reason(await acceptor().step(unhex(skewed!)))).toMatch(/outside the clock skew of 300 s/);
    const cache = new ReplayCache();
    expect((await acceptor(cache).step(unhex(good!))).status).toBe('continue');
    expect(reason(await acceptor(cache).step(unhex(good!)))).toMatch(/replayed authenticator of alice@EXAMPLE\.COM/);
  });

  it('tampered PAC (server signature, logon info), no PAC, PAC for another client, mismatched authenticator', async () => {
    const [sig, logon, none, otherName, otherClient] = (await tickets([
      apReqOp(18, { tamperPacSignature: true }),
      apReqOp(18, { tamperPacLogonInfo: true }),
      apReqOp(18, { noPac: true }),
      apReqOp(18, { pac: { ...PAC, clientName: 'mallory' } }),
      apReqOp(18, { authCname: ['bob'] }),
    ])) as string[];
    expect(reason(await acceptor().step(unhex(sig!)))).toMatch(/PAC server checksum does not verify/);
    expect(reason(await acceptor().step(unhex(logon!)))).toMatch(/PAC server checksum does not verify|malformed PAC/);
    expect(reason(await acceptor().step(unhex(none!)))).toMatch(/ticket without a PAC/);
    expect(reason(await acceptor().step(unhex(otherName!)))).toMatch(/PAC is for "mallory"/);
    expect(reason(await acceptor().step(unhex(otherClient!)))).toMatch(/authenticator names bob@EXAMPLE\.COM, the ticket alice@EXAMPLE\.COM/);
  });

  it('third leg with the wrong sequence number is refused; integrity asked for but not in the GSS flags is refused', async () => {
    const op = apReqOp(18);
    const [token, noInteg] = (await tickets([op, apReqOp(18, { gssFlags: 0x1000 | 0x2 })])) as string[];
    const acc = acceptor();
    const s1 = await acc.step(unhex(token!));
    expect(s1.status).toBe('continue');
    const [bad] = (await tickets([{ op: 'make_dce_ap_rep', sessionEtype: 18, sessionKey: op.sessionKey, seq: 12345, now: NOW }])) as string[];
    expect(reason(await acc.step(unhex(bad!)))).toMatch(/initiator AP-REP sequence number 12345/);
    expect(acc.established).toBe(false);
    expect(reason(await acceptor().step(unhex(noInteg!)))).toMatch(/integrity asked for, but the GSS checksum lacks INTEG/);
  });

  it('non-DCE style: the framed AP-REP comes with done (two legs)', async () => {
    const op = apReqOp(18, { gssFlags: 0x3e });
    const [token] = (await tickets([op])) as string[];
    const acc = acceptor(new ReplayCache(), { ...FLAGS, dceStyle: false });
    const s = await acc.step(unhex(token!));
    expect(s.status, reason(s)).toBe('done');
    if (s.status !== 'done') return;
    expect(s.token[0]).toBe(0x60);
    const [rep] = (await tickets([{ op: 'read_ap_rep', token: hex(s.token), sessionEtype: 18, sessionKey: op.sessionKey, ctime: op.ctime }])) as Array<Record<string, string | number>>;
    expect(rep!.ctime).toBe(rep!.expectedCtime);
    expect(rep!.subkeyEtype).toBe(18);
    expect(s.identity?.accountName).toBe('alice');
  });
});

describe('SPNEGO (auth_type 9) over the Kerberos acceptor, impacket NegTokenInit/NegTokenResp', () => {
  it('MS KRB5 first: AP-REP in accept-incomplete, third leg, our mechListMIC, impacket\'s MIC → done', async () => {
    const op = apReqOp(18);
    const [apReqTok] = (await tickets([op])) as string[];
    const [init] = (await tickets([{ op: 'spnego_init', token: apReqTok }])) as string[];
    const factory = kerberosAcceptorFactory({ keytab: keys, now: () => NOW * 1000, replay: new ReplayCache() });
    const start = () => factory({ ...FLAGS, dceStyle: true })!;
    const spnego = createSpnegoAcceptor({ mechanisms: [{ oid: MECH_OID.kerberosMs, start }, { oid: MECH_OID.kerberos, start }] });
    const s1 = await spnego.step(unhex(init!));
    expect(s1.status, reason(s1)).toBe('continue');
    if (s1.status !== 'continue') return;
    const [p1] = (await tickets([{ op: 'spnego_parse', token: hex(s1.token) }])) as Array<Record<string, string>>;
    expect(p1!.NegState).toBe('01');
    const [rep] = (await tickets([{ op: 'read_ap_rep', token: p1!.ResponseToken, sessionEtype: 18, sessionKey: op.sessionKey, ctime: op.ctime }])) as Array<Record<string, string | number>>;
    const [third] = (await tickets([{ op: 'make_dce_ap_rep', sessionEtype: 18, sessionKey: op.sessionKey, seq: rep!.seq, now: NOW }])) as string[];
    const [resp] = (await tickets([{ op: 'spnego_resp', token: third }])) as string[];
    const s2 = await spnego.step(unhex(resp!));
    // AES: the "new SPNEGO" mechListMIC exchange follows; the initiator's MIC over its mechTypes must come back.
    expect(s2.status, reason(s2)).toBe('continue');
    if (s2.status !== 'continue') return;
    // (impacket 0.10 cannot parse a NegTokenResp holding only negState and mechListMIC: ours reads it.)
    const p2 = parseSpnego(s2.token);
    expect(p2.kind === 'resp' && p2.resp.mechListMIC?.length).toBe(28);
    // The MIC covers mechTypes exactly as impacket sent them (MS KRB5, NTLMSSP).
    const sent = parseSpnego(unhex(init!));
    const mechTypesDer = sent.kind === 'init' ? hex(sent.init.mechTypesDer) : '';
    expect(mechTypesDer).toBe('3017' + '06092a864882f712010202' + '060a2b06010401823702020a');
    // impacket 0.10's GSS_GetMIC pads the data to 4 bytes (fine for DCE/RPC stubs, wrong for these 25), so the
    // RFC 4121 MIC token is assembled here around impacket's hmac-sha1-96-aes256 checksum (usage 25, initiator sign).
    const micHeader = '0404' + '04' + 'ffffffffff' + (77).toString(16).padStart(16, '0');
    const [cksum] = (await gss([{ op: 'aes_checksum', etype: 18, key: rep!.subkey, usage: 25, data: mechTypesDer + micHeader }])) as string[];
    const mic = micHeader + cksum!;
    // impacket 0.10 cannot build a NegTokenResp without a responseToken either: ours frames impacket's MIC.
    const s3 = await spnego.step(encodeResp({ mechListMIC: unhex(mic!) }));
    expect(s3.status, reason(s3)).toBe('done');
    expect(spnego.established).toBe(true);
    if (s3.status === 'done') expect(s3.identity?.sids[0]).toBe('S-1-5-21-11-22-33-1105');
  });
});

describe('a keytab file written by MIT ktutil, tickets under impacket\'s string-to-key of the same password', () => {
  it.each([[18, 'aes256-cts-hmac-sha1-96'], [23, 'arcfour-hmac']] as const)('etype %i: kerberosAcceptorFactory reads the file and accepts the ticket', async (etype, name) => {
    if ((await runCmd('which', ['ktutil'])).code !== 0) {
      try { await aptInstall(['krb5-user']); } catch { /* reported below */ }
    }
    const dir = await mkdtemp(join(tmpdir(), 'fsrvp-krbacc-'));
    try {
      const file = join(dir, 'host.keytab');
      const password = 'Serv1ce pässword';
      const r = await runCmd('ktutil', [], { input: `addent -password -p host/fs.example.com@${REALM} -k 3 -e ${name}\n${password}\nwkt ${file}\nquit\n` });
      expect(r.code, `ktutil (krb5-user): ${r.stderr}`).toBe(0);
      const [key] = (await gss([{ op: 'string_to_key', etype, password, salt: `${REALM}hostfs.example.com` }])) as string[];
      const op = apReqOp(etype, { serviceKey: key });
      const [token] = (await tickets([op])) as string[];
      const factory = kerberosAcceptorFactory({ keytab: file, principals: hostPrincipals('fs.example.com', REALM), now: () => NOW * 1000, replay: new ReplayCache() });
      const s = await factory(FLAGS)!.step(unhex(token!));
      expect(s.status, reason(s)).toBe('continue');
      const other = kerberosAcceptorFactory({ keytab: file, principals: ['cifs/fs.example.com'], now: () => NOW * 1000, replay: new ReplayCache() });
      expect(reason(await other(FLAGS)!.step(unhex(token!)))).toMatch(/does not accept/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
