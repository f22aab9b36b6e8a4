/**
 * The SMB SESSION_SETUP initiator with Kerberos (smbInitiator in src/smb/client.ts): SPNEGO
 * offering Kerberos first (then NTLMSSP when credentials are given), the AP-REQ GSS style (not
 * DCE: no DCE_STYLE flag, framed AP-REP, two legs), against our SPNEGO acceptor over our
 * Kerberos acceptor. The GSS session key both sides end up with is the acceptor's subkey, and
 * the SMB keys derived from it (first 16 bytes; the whole key for AES-256) agree.
 */
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/security/asn1/index.js';
import type { GssContext, GssFlags } from '../../src/security/gss.js';
import { MECH_OID } from '../../src/security/gss.js';
import { getEnctype } from '../../src/security/kerberos/crypto.js';
import { KerberosAcceptor } from '../../src/security/kerberos/acceptor.js';
import { apReqRaw } from '../../src/security/kerberos/kdc-messages.js';
import type { KeytabEntry } from '../../src/security/kerberos/keytab.js';
import { GSS_FLAG, KEY_USAGE, TOK_ID, authenticator, unframeKrbToken } from '../../src/security/kerberos/messages.js';
import { ReplayCache } from '../../src/security/kerberos/replay-cache.js';
import { createSpnegoAcceptor } from '../../src/security/spnego/index.js';
import { parseSpnego } from '../../src/security/spnego/tokens.js';
import { deriveSessionKeys, smbSessionKey } from '../../src/smb/kdf.js';
import { smbInitiator } from '../../src/smb/client.js';
import { DIALECT } from '../../src/smb/header.js';
import { REALM, SNAME, issue, keyOf } from '../helpers/krb5-forge.js';

const keys: KeytabEntry[] = [17, 18, 23].map((etype) => ({ principal: { components: SNAME, realm: REALM, nameType: 3 }, timestamp: 0, kvno: 3, etype, key: keyOf(etype, 1) }));
const SMB_FLAGS: GssFlags = { integrity: true, confidentiality: false, headerSigning: false, dceStyle: false };

async function run(ini: GssContext, acc: GssContext): Promise<number> {
  let legs = 0;
  let s = await ini.step(new Uint8Array(0));
  for (; legs < 8; legs++) {
    if (s.status === 'rejected') throw new Error(`initiator: ${s.reason}`);
    if (s.status === 'done' && s.token.length === 0) break;
    const a = await acc.step(s.token);
    if (a.status === 'rejected') throw new Error(`acceptor: ${a.reason}`);
    if (ini.established && a.status === 'done' && a.token.length === 0) break;
    s = await ini.step(a.token);
  }
  return legs + 1;
}

describe('SMB SESSION_SETUP with Kerberos: smbInitiator', () => {
  it('offers Kerberos first, then NTLMSSP; the AP-REQ is GSS style (mutual, integrity, no DCE_STYLE)', async () => {
    const t = issue(18);
    const first = await smbInitiator({ kerberos: t, credentials: { user: 'alice', domain: 'EXAMPLE', password: 'pw' } }).step(new Uint8Array(0));
    if (first.status !== 'continue') throw new Error(`first leg: ${first.status}`);
    const init = parseSpnego(first.token);
    if (init.kind !== 'init') throw new Error('not a NegTokenInit');
    expect(init.init.mechTypes).toEqual([MECH_OID.kerberos, MECH_OID.ntlmssp]);
    const f = unframeKrbToken(init.init.mechToken!);
    expect(f.tokId).toBe(TOK_ID.apReq);
    const req = decode(apReqRaw, f.message);
    const plain = getEnctype(18)!.decrypt(t.sessionKey.key, KEY_USAGE.apReqAuthenticator, req.authenticator.cipher);
    if (plain instanceof Error) throw plain;
    const auth = decode(authenticator, plain);
    const flags = new DataView(auth.cksum!.checksum.buffer, auth.cksum!.checksum.byteOffset).getUint32(20, true);
    expect(flags & GSS_FLAG.dceStyle).toBe(0);
    expect(flags & (GSS_FLAG.mutual | GSS_FLAG.integ)).toBe(GSS_FLAG.mutual | GSS_FLAG.integ);
    expect(auth.subkey?.keytype).toBe(18);
  });

  it('without a ticket or credentials there is nothing to offer', () => {
    expect(() => smbInitiator({})).toThrow(/no credentials given/);
  });

  for (const etype of [18, 17, 23]) {
    it(`etype ${etype}: both sides agree on the GSS session key and the SMB 3.1.1 keys`, async () => {
      const ini = smbInitiator({ kerberos: issue(etype) });
      const acc = createSpnegoAcceptor({
        mechanisms: [{ oid: MECH_OID.kerberos, start: () => new KerberosAcceptor({ keys, flags: SMB_FLAGS, replay: new ReplayCache() }) }],
      });
      await run(ini, acc);
      expect(ini.established).toBe(true);
      expect(acc.established).toBe(true);
      const k = ini.sessionKey();
      expect(Buffer.from(k).equals(Buffer.from(acc.sessionKey()))).toBe(true);
      expect(k).toHaveLength(getEnctype(etype)!.keySize);
      expect(Array.from(smbSessionKey(k))).toEqual(Array.from(k.subarray(0, 16)));
      const hash = new Uint8Array(64).fill(3);
      const ours = deriveSessionKeys(DIALECT.SMB311, k, hash, etype === 18);
      const theirs = deriveSessionKeys(DIALECT.SMB311, acc.sessionKey(), hash, etype === 18);
      expect(ours).toEqual(theirs);
      expect(ours.encryptionKey).toHaveLength(etype === 18 ? 32 : 16);
    });
  }
});
