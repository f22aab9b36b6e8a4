import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MECH_OID } from '../../src/security/gss.js';
import { encode, oid } from '../../src/security/asn1/index.js';
import { NEG_STATE, encodeInit, encodeResp, parseSpnego, type InitToken, type RespToken } from '../../src/security/spnego/index.js';
import { ensureImpacket, impacket } from '../helpers/impacket.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const oidContent = (o: string): string => hex(encode(oid(), o).subarray(2));
const asInit = (b: Uint8Array): InitToken => {
  const p = parseSpnego(b);
  if (p.kind !== 'init') throw new Error('not init');
  return p.init;
};
const asResp = (b: Uint8Array): RespToken => {
  const p = parseSpnego(b);
  if (p.kind !== 'resp') throw new Error('not resp');
  return p.resp;
};

describe('SPNEGO interop with impacket (python3-impacket)', () => {
  const mechToken = Buffer.from('NTLMSSP\0\x01\0\0\0\x97\x82\x08\xe2', 'latin1').toString('hex') + '00'.repeat(16);
  const responseToken = Buffer.from('NTLMSSP\0\x02\0\0\0', 'latin1').toString('hex') + 'ab'.repeat(40);
  const ours = {
    init: encodeInit({ mechTypes: [MECH_OID.kerberosMs, MECH_OID.kerberos, MECH_OID.ntlmssp], mechToken: Buffer.from(mechToken, 'hex') }),
    serverResp: encodeResp({ negState: NEG_STATE.acceptIncomplete, supportedMech: MECH_OID.ntlmssp, responseToken: Buffer.from(responseToken, 'hex') }),
    clientResp: encodeResp({ responseToken: Buffer.from(responseToken, 'hex') }),
  };
  let res: Awaited<ReturnType<typeof impacket>>;
  beforeAll(async () => {
    await ensureImpacket();
    res = await impacket({ mechToken, responseToken, parseInit: [hex(ours.init)], parseResp: [hex(ours.serverResp), hex(ours.clientResp)] });
  }, 600_000);

  it('decodes impacket’s NegTokenInit (GSS framing, mechTypes, mechToken) and re-encodes it byte for byte', () => {
    const b = Buffer.from(res.made.init, 'hex');
    const t = asInit(b);
    expect(t.mechTypes).toEqual([MECH_OID.kerberosMs, MECH_OID.kerberos, MECH_OID.ntlmssp]);
    expect(hex(t.mechToken!)).toBe(mechToken);
    // mechTypes' DER as received (what mechListMIC covers): inside [0], a SEQUENCE of the three OIDs.
    expect(hex(t.mechTypesDer)).toBe(`3022${[MECH_OID.kerberosMs, MECH_OID.kerberos, MECH_OID.ntlmssp].map((o) => hex(encode(oid(), o))).join('')}`);
    expect(hex(b)).toContain(`a024${hex(t.mechTypesDer)}`);
    expect(hex(ours.init)).toBe(res.made.init);
  });
  it('decodes impacket’s NegTokenResp forms', () => {
    expect(asResp(Buffer.from(res.made.serverResp, 'hex'))).toEqual({ negState: 1, supportedMech: MECH_OID.ntlmssp, responseToken: new Uint8Array(Buffer.from(responseToken, 'hex')) });
    expect(asResp(Buffer.from(res.made.clientResp, 'hex'))).toEqual({ responseToken: new Uint8Array(Buffer.from(responseToken, 'hex')) });
    expect(asResp(Buffer.from(res.made.completed, 'hex'))).toEqual({ negState: NEG_STATE.acceptCompleted });
    expect(hex(ours.serverResp)).toBe(res.made.serverResp);
    expect(hex(ours.clientResp)).toBe(res.made.clientResp);
  });
  it('impacket parses the tokens we encode', () => {
    expect(res.parsedInit[0]).toEqual({
      oid: oidContent(MECH_OID.spnego),
      mechTypes: [MECH_OID.kerberosMs, MECH_OID.kerberos, MECH_OID.ntlmssp].map(oidContent),
      mechToken,
    });
    expect(res.parsedResp[0]).toEqual({ NegState: '01', SupportedMech: oidContent(MECH_OID.ntlmssp), ResponseToken: responseToken });
    expect(res.parsedResp[1]).toEqual({ ResponseToken: responseToken });
  });
});

describe('SPNEGO tokens from Samba 4.17.12 gensec (fixtures/spnego)', () => {
  const fixture = (n: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../fixtures/spnego/${n}`, import.meta.url)));
  it('client NegTokenInit: NTLMSSP with an optimistic NEGOTIATE; re-encodes byte for byte', () => {
    const b = fixture('samba-client-negtokeninit.bin');
    const t = asInit(b);
    expect(t.mechTypes).toEqual([MECH_OID.ntlmssp]);
    expect(Buffer.from(t.mechToken!.subarray(0, 12)).toString('latin1')).toBe('NTLMSSP\0\x01\0\0\0');
    expect(hex(encodeInit({ mechTypes: t.mechTypes, mechToken: t.mechToken }))).toBe(hex(b));
  });
  it('server NegTokenInit2 with negHints; re-encodes byte for byte', () => {
    const b = fixture('samba-server-negtokeninit2.bin');
    const t = asInit(b);
    expect(t).toMatchObject({ mechTypes: [MECH_OID.ntlmssp], hintName: 'not_defined_in_RFC4178@please_ignore' });
    expect(t.mechToken).toBeUndefined();
    expect(hex(encodeInit({ mechTypes: t.mechTypes, negHints: true, hintName: t.hintName }))).toBe(hex(b));
  });
});
