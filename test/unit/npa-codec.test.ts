import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NdrError, Rng, print } from '../../src/ndr/index.js';
import {
  decodeNpaReply, decodeNpaRequest, defaultReply, encodeNpaReply, encodeNpaRequest, readLengthPrefix,
  type NpaRequest, type ReqInfo7, type ReqInfo8,
} from '../../src/transport/npa-codec.js';
import { namedPipeAuthReq, reqInfo7, reqInfo8 } from '../../src/transport/npa-idl.js';
import { domSid, formatSid, parseSid } from '../../src/transport/npa-sid.js';
import { callerFromNpa, describeCaller, npaDetails } from '../../src/transport/token.js';
import { fixturePath, hex, toHex } from '../helpers/fixtures.js';

const sample = new Uint8Array(readFileSync(fixturePath('npa_req_level7.bin')));

function sample7(): ReqInfo7 {
  const req = decodeNpaRequest(sample);
  if (req.level !== 7) throw new Error('fixture is level 7');
  return req.info;
}

/** The fixture's request moved to level 8 (what Samba >= 4.20 would send for the same session). */
function asLevel8(i7: ReqInfo7): ReqInfo8 {
  const si = i7.session_info!.session_info!;
  const tok = si.security_token!;
  const { authenticated, ...userInfo } = si.info!;
  return {
    ...i7,
    session_info: {
      ...i7.session_info!,
      session_info: {
        ...si,
        security_token: {
          ...tok,
          num_local_claims: 0, num_user_claims: 0, num_device_claims: 0, num_device_sids: 1,
          local_claims: [], user_claims: [], device_claims: [], device_sids: ['S-1-5-21-1-2-3-1105'],
          evaluate_claims: 2,
        },
        info: { ...userInfo, user_flags: authenticated === 1 ? 0x20 : 0 },
      },
    },
  };
}

function expectNdrError(f: () => unknown): NdrError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NdrError);
    return e as NdrError;
  }
  throw new Error('expected an NdrError');
}

describe('named_pipe_auth_req level 7 (the real 742-byte sample from smbd 4.17.12)', () => {
  it('decodes every field of the reference decode, consuming all bytes', () => {
    expect(sample.length).toBe(742);
    expect(readLengthPrefix(sample)).toBe(738);
    const req = decodeNpaRequest(sample);
    expect(req.level).toBe(7);
    const i = req.info as ReqInfo7;
    expect(i.transport).toBe(1);
    expect(i.remote_client_name).toBe('vm');
    expect(i.remote_client_addr).toBe('127.0.0.1');
    expect(i.remote_client_port).toBe(50048);
    expect(i.local_server_name).toBe('vm');
    expect(i.local_server_addr).toBe('127.0.0.1');
    expect(i.local_server_port).toBe(445);
    const t = i.session_info!;
    expect(t.exported_gssapi_credentials.length).toBe(0);
    const si = t.session_info!;
    expect(si.unique_session_token).toBe('ab7ad095-e32f-4d5f-89d8-e2f7a60e943b');
    expect(si.ticket_type).toBe(0);
    expect(si.session_key.length).toBe(16);
    expect(toHex(si.session_key)).toBe('56527d144965f40fcacbae24597b69e3');
    expect(si.torture).toBeNull();
    expect(si.credentials).toBeNull();
    const tok = si.security_token!;
    expect(tok.num_sids).toBe(8);
    expect(tok.sids).toEqual([
      'S-1-5-21-1554718477-2707086782-3482617865-1000',
      'S-1-5-21-1554718477-2707086782-3482617865-513',
      'S-1-22-2-993',
      'S-1-1-0',
      'S-1-5-2',
      'S-1-5-11',
      'S-1-22-1-999',
      'S-1-22-2041152804-0',
    ]);
    expect(tok.privilege_mask).toBe(0x280n);
    expect(tok.rights_mask).toBe(0);
    const ut = si.unix_token!;
    expect(ut.uid).toBe(999n);
    expect(ut.gid).toBe(993n);
    expect(ut.ngroups).toBe(1);
    expect(ut.groups).toEqual([993n]);
    const ui = si.info!;
    expect(ui.account_name).toBe('fsrvpuser');
    expect(ui.domain_name).toBe('FSRVPH');
    expect(ui.full_name).toBe('');
    expect(ui.logon_script).toBe('');
    expect(ui.profile_path).toBe('\\\\FSRVPH\\fsrvpuser\\profile');
    expect(ui.home_directory).toBe('\\\\FSRVPH\\fsrvpuser');
    expect(ui.home_drive).toBe('');
    expect(ui.logon_server).toBe('FSRVPH');
    expect(ui.user_principal_name).toBeNull();
    expect(ui.dns_domain_name).toBeNull();
    expect(ui.acct_flags).toBe(0x10);
    expect(ui.authenticated).toBe(1);
    expect(ui.last_logoff).toBe(0x7fffffffffffffffn);
    const uu = si.unix_info!;
    expect(uu.unix_name).toBe('fsrvpuser');
    expect(uu.sanitized_username).toBe('fsrvpuser');
  });

  it('re-encodes byte for byte (referent ids, padding, hoisted and inline conformance)', () => {
    const again = encodeNpaRequest(decodeNpaRequest(sample));
    expect(toHex(again)).toBe(toHex(sample));
  });

  it('prints with the declaration', () => {
    const text = print(namedPipeAuthReq, { length: 738, magic: sample.subarray(4, 8), level: 7, info: { tag: 7, value: sample7() } });
    expect(text).toContain('S-1-5-21-1554718477-2707086782-3482617865-1000');
    expect(text).toContain('"fsrvpuser"');
  });
});

describe('caller identity from the token', () => {
  it('takes SIDs, uid, privileges, names and client address from the sample', () => {
    const caller = callerFromNpa(decodeNpaRequest(sample));
    expect(caller.source).toBe('npa');
    expect(caller.sids).toHaveLength(8);
    expect(caller.sids[0]).toBe('S-1-5-21-1554718477-2707086782-3482617865-1000');
    expect(caller.uid).toBe(999);
    expect(caller.privilegeMask).toBe(0x280n);
    expect(caller.privilegeMask! & 0x200n).toBe(0x200n);
    expect(caller.accountName).toBe('fsrvpuser');
    expect(caller.domainName).toBe('FSRVPH');
    expect(caller.clientAddress).toBe('127.0.0.1');
    expect(describeCaller(caller)).toBe('FSRVPH\\fsrvpuser uid=999 privileges=0x280 sids=7 from 127.0.0.1');
    const d = npaDetails(decodeNpaRequest(sample));
    expect(d).toMatchObject({ gid: 993, groups: [993], unixName: 'fsrvpuser', clientPort: 50048, localPort: 445, sessionKeyLength: 16 });
  });

  it('a request without session info is anonymous', () => {
    const req: NpaRequest = { level: 7, info: { ...sample7(), session_info: null } };
    const caller = callerFromNpa(decodeNpaRequest(encodeNpaRequest(req)));
    expect(caller).toEqual({ source: 'anonymous', sids: [], clientAddress: '127.0.0.1' });
  });
});

describe('named_pipe_auth_rep', () => {
  it('is the 36 bytes samba-dcerpcd sends', () => {
    expect(toHex(encodeNpaReply(defaultReply(7)))).toBe(toHex(hex(
      '00000020 4e50414d 07000000 07000000 0200 ff05 00000000 0010000000000000 00000000')));
  });

  it('round-trips both modes and level 8', () => {
    for (const rep of [defaultReply(7, 'byte'), defaultReply(8), { ...defaultReply(8), status: 0xc0000022 }]) {
      const bytes = encodeNpaReply(rep);
      expect(bytes.length).toBe(36);
      expect(decodeNpaReply(bytes)).toEqual(rep);
    }
  });
});

describe('level 8 (Samba >= 4.20): one more union arm', () => {
  it('round-trips a level 8 request and yields the same identity', () => {
    const req: NpaRequest = { level: 8, info: asLevel8(sample7()) };
    const bytes = encodeNpaRequest(req);
    expect(bytes.subarray(8, 16)).toEqual(hex('08000000 08000000'));
    const back = decodeNpaRequest(bytes);
    expect(back).toEqual(req);
    const caller = callerFromNpa(back);
    expect(caller).toEqual(callerFromNpa(decodeNpaRequest(sample)));
    // The token grows by 4 counts, 4 inline max_counts, one device SID (20 bytes) and the u16.
    expect(bytes.length).toBeGreaterThan(sample.length + 40);
  });

  it('refuses a token that carries claims (not decoded) with an NdrError', () => {
    const bytes = encodeNpaRequest({ level: 8, info: asLevel8(sample7()) });
    // rights_mask, num_local_claims, num_user_claims, num_device_claims = 0, num_device_sids = 1
    const counts = hex('00000000 00000000 00000000 00000000 01000000');
    let at = -1;
    for (let p = 0; p + counts.length <= bytes.length && at < 0; p++) {
      if (counts.every((b, k) => bytes[p + k] === b)) at = p;
    }
    expect(at).toBeGreaterThan(0x100);
    const bad = bytes.slice();
    bad[at + 8] = 1; // num_user_claims
    bad[at + 24] = 1; // user_claims inline max_count (after the local_claims one)
    const e = expectNdrError(() => decodeNpaRequest(bad));
    expect(e.message).toMatch(/claim/);
  });
});

describe('named_pipe_auth_req level 8 (a real 781-byte request from smbd 4.22.6)', () => {
  // Captured on this machine kind from Samba 4.22.6 (Debian bookworm-backports) when rpcclient
  // opened \PIPE\FssagentRpc as a user with SeBackupPrivilege; .decoded.txt is Samba's ndrdump.
  const sample8 = new Uint8Array(readFileSync(fixturePath('npa_req_level8.bin')));
  const ndrdump = readFileSync(fixturePath('npa_req_level8.decoded.txt'), 'utf8');
  const field = (name: string): string | undefined => new RegExp(`\\b${name}\\s+: (.*)`).exec(ndrdump)?.[1]?.trim();

  it('decodes, consuming all bytes, and re-encodes byte for byte', () => {
    expect(sample8.length).toBe(781);
    expect(readLengthPrefix(sample8)).toBe(777);
    const req = decodeNpaRequest(sample8);
    expect(req.level).toBe(8);
    expect(toHex(encodeNpaRequest(req))).toBe(toHex(sample8));
  });

  it('agrees with Samba\'s own ndrdump of the same bytes', () => {
    expect(field('level')).toBe('0x00000008 (8)');
    const req = decodeNpaRequest(sample8);
    if (req.level !== 8) throw new Error('level 8 expected');
    const si = req.info.session_info!.session_info!;
    const tok = si.security_token!;
    expect(field('num_sids')).toBe(`0x${tok.num_sids.toString(16).padStart(8, '0')} (${tok.num_sids})`);
    expect(field('privilege_mask')).toMatch(new RegExp(`^0x0*${tok.privilege_mask.toString(16)} `));
    expect(tok).toMatchObject({ num_local_claims: 0, num_user_claims: 0, num_device_claims: 0, num_device_sids: 0 });
    expect(field('evaluate_claims')).toBe('CLAIMS_EVALUATION_NEVER (1)');
    expect(field('unique_session_token')).toBe(npaDetails(req).sessionToken);
    expect(field('ticket_type')).toBe('TICKET_TYPE_UNKNOWN (0)');
    for (const sid of tok.sids) expect(ndrdump).toContain(sid);
  });

  it('gives the caller identity authorization uses', () => {
    const caller = callerFromNpa(decodeNpaRequest(sample8));
    expect(describeCaller(caller)).toBe('FSRVPH\\fsrvp422 uid=1001 privileges=0x200 sids=7 from 127.0.0.1');
    expect(caller.privilegeMask! & 0x200n).toBe(0x200n); // SeBackupPrivilege
    // The user's SID first, then its groups; S-1-22-1-1001 is Samba's unix-uid SID for it.
    expect(caller.sids[0]).toBe('S-1-5-21-1162506640-2691666658-1070911629-1000');
    expect(caller.sids).toContain('S-1-22-1-1001');
  });

  it('every truncation is an NdrError', () => {
    for (let n = 0; n < sample8.length; n++) expectNdrError(() => decodeNpaRequest(sample8.subarray(0, n)));
  });
});

describe('malformed requests are NdrErrors', () => {
  it('every truncation', () => {
    for (let n = 0; n < sample.length; n++) expectNdrError(() => decodeNpaRequest(sample.subarray(0, n)));
  });

  it('trailing bytes, wrong length, magic, level, arm, counts', () => {
    const cases: Array<[string, (b: Uint8Array) => void]> = [
      ['length', (b) => { b[3] = 0xe3; }],
      ['magic', (b) => { b[4] = 0x4f; }],
      ['level/arm mismatch', (b) => { b[8] = 8; }],
      ['unsupported level', (b) => { b[8] = 6; b[12] = 6; }],
      ['num_sids', (b) => { b[0xc8] = 7; }],
      ['ngroups', (b) => { b[0x180] = 2; }],
      ['sub-authority count > 15', (b) => { b[0xd1] = 16; }],
      ['torture pointer not NULL', (b) => { b[0x98] = 4; }],
      ['string without terminator', (b) => { b[0x3e] = 0x41; }],
      ['string offset', (b) => { b[0x34] = 1; }],
    ];
    for (const [what, mutate] of cases) {
      const b = sample.slice();
      mutate(b);
      const e = expectNdrError(() => decodeNpaRequest(b));
      expect(e.message, what).toBeTruthy();
    }
    const longer = new Uint8Array(sample.length + 4);
    longer.set(sample);
    new DataView(longer.buffer).setUint32(0, longer.length - 4, false);
    expectNdrError(() => decodeNpaRequest(longer));
  });

  it('random corruption never throws anything but NdrError', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(sample.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (edits) => {
        const b = sample.slice();
        for (const [at, v] of edits) b[at] = v;
        try {
          decodeNpaRequest(b);
        } catch (e) {
          if (!(e instanceof NdrError)) throw e;
        }
      },
    ), { numRuns: 3000 });
  });

  it('random bytes after a valid header never throw anything but NdrError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(7, 8), (body, level) => {
      const b = new Uint8Array(16 + body.length);
      new DataView(b.buffer).setUint32(0, b.length - 4, false);
      b.set(hex('4e50414d'), 4);
      b[8] = level;
      b[12] = level;
      b.set(body, 16);
      try {
        decodeNpaRequest(b);
      } catch (e) {
        if (!(e instanceof NdrError)) throw e;
      }
    }), { numRuns: 3000 });
  });
});

describe('generated requests round-trip', () => {
  function consistent<T extends ReqInfo7 | ReqInfo8>(info: T): T {
    const si = info.session_info?.session_info;
    if (si?.security_token) {
      const tok = si.security_token as { num_sids: number; sids: string[]; num_device_sids?: number; device_sids?: string[] };
      tok.num_sids = tok.sids.length;
      if (tok.device_sids) {
        tok.num_device_sids = tok.device_sids.length;
        Object.assign(tok, { num_local_claims: 0, num_user_claims: 0, num_device_claims: 0 });
      }
    }
    if (si?.unix_token) (si.unix_token as { ngroups: number }).ngroups = si.unix_token.groups.length;
    return info;
  }

  it('encode → decode is the identity for random level 7 and 8 values', () => {
    fc.assert(fc.property(fc.integer(), fc.boolean(), (seed, eight) => {
      const g = new Rng(seed);
      const req: NpaRequest = eight
        ? { level: 8, info: consistent(reqInfo8.generate(g, 0)) }
        : { level: 7, info: consistent(reqInfo7.generate(g, 0)) };
      const bytes = encodeNpaRequest(req);
      expect(decodeNpaRequest(bytes)).toEqual(req);
    }), { numRuns: 500 });
  });
});

describe('dom_sid', () => {
  it('formats and parses', () => {
    expect(parseSid('S-1-5-32-544')).toEqual({ revision: 1, authority: 5n, subAuthorities: [32, 544] });
    expect(formatSid({ revision: 1, authority: 0x1234567890abn, subAuthorities: [1] })).toBe('S-1-0x1234567890AB-1');
    expect(parseSid('S-1-0x1234567890AB-1')?.authority).toBe(0x1234567890abn);
    expect(parseSid('S-1-5-4294967296')).toBeUndefined();
    expect(parseSid('X-1-5')).toBeUndefined();
    expect(parseSid(`S-1-5${'-1'.repeat(16)}`)).toBeUndefined();
  });

  it('text → NDR → text for generated SIDs', () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      const sid = domSid.generate(new Rng(seed), 0);
      expect(formatSid(parseSid(sid)!)).toBe(sid);
    }), { numRuns: 300 });
  });
});
