/**
 * The three NTLMSSP messages (MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE, AUTHENTICATE, encoded and
 * decoded. Decoders are total: any byte string gives a message or an NtlmError carrying the
 * offset; every (length, offset) field is checked against the buffer before it is read.
 */
import { MESSAGE_TYPE, NTLMSSP_SIGNATURE, NTLM_FLAGS, hasFlag } from './constants.js';
import { NtlmError } from './errors.js';
import { fromUtf16, utf16 } from './av-pairs.js';

/** The VERSION structure (MS-NLMP 2.2.2.10); `ntlmRevision` is 15 for current NTLMSSP. */
export interface NtlmVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
  readonly ntlmRevision: number;
}

/** What we announce: Windows 10 / Server 2019 numbers, NTLMSSP_REVISION_W2K3. */
export const OUR_VERSION: NtlmVersion = { major: 10, minor: 0, build: 17763, ntlmRevision: 15 };

export interface NegotiateMessage {
  readonly flags: number;
  readonly domain: string;
  readonly workstation: string;
  readonly version?: NtlmVersion;
}

export interface ChallengeMessage {
  readonly flags: number;
  readonly targetName: string;
  readonly serverChallenge: Uint8Array;
  /** The raw AV_PAIR list (decode with decodeAvPairs). */
  readonly targetInfo: Uint8Array;
  readonly version?: NtlmVersion;
}

export interface AuthenticateMessage {
  readonly flags: number;
  readonly lmResponse: Uint8Array;
  readonly ntResponse: Uint8Array;
  readonly domain: string;
  readonly user: string;
  readonly workstation: string;
  readonly encryptedRandomSessionKey: Uint8Array;
  readonly version?: NtlmVersion;
  /** The 16 bytes at offset 72 when the layout leaves room for them (whether a MIC is meant is told by MsvAvFlags). */
  readonly mic?: Uint8Array;
}

export const MIC_OFFSET = 72;
const AUTH_FIXED = 64;
const CHALLENGE_FIXED = 48;
const NEGOTIATE_FIXED = 32;

// ---- decoding --------------------------------------------------------------------------------

interface Field { readonly len: number; readonly off: number; readonly at: number }

class Reader {
  readonly view: DataView;
  /** Lowest offset of a non-empty payload field: where the fixed part must end. */
  payloadStart: number;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.payloadStart = buf.length;
  }
  u32(at: number): number {
    if (at + 4 > this.buf.length) throw new NtlmError('message truncated', at);
    return this.view.getUint32(at, true);
  }
  field(at: number): Field {
    if (at + 8 > this.buf.length) throw new NtlmError('message truncated', at);
    const len = this.view.getUint16(at, true);
    const off = this.view.getUint32(at + 4, true);
    if (len > 0) {
      if (off + len > this.buf.length) throw new NtlmError(`field of ${len} bytes at ${off} runs past the message`, at);
      this.payloadStart = Math.min(this.payloadStart, off);
    }
    return { len, off, at };
  }
  bytes(f: Field): Uint8Array {
    return f.len === 0 ? new Uint8Array(0) : this.buf.slice(f.off, f.off + f.len);
  }
  text(f: Field, unicode: boolean): string {
    const b = this.bytes(f);
    if (!unicode) return Buffer.from(b).toString('latin1');
    if (b.length % 2 !== 0) throw new NtlmError('odd length UTF-16 string', f.at);
    return fromUtf16(b);
  }
  version(at: number, flags: number): NtlmVersion | undefined {
    if (!hasFlag(flags, NTLM_FLAGS.version) || at + 8 > this.buf.length || this.payloadStart < at + 8) return undefined;
    return {
      major: this.buf[at]!,
      minor: this.buf[at + 1]!,
      build: this.view.getUint16(at + 2, true),
      ntlmRevision: this.buf[at + 7]!,
    };
  }
}

function header(buf: Uint8Array, type: number): Reader {
  if (buf.length < 12) throw new NtlmError('message shorter than its header', 0);
  for (let i = 0; i < 8; i++) if (buf[i] !== NTLMSSP_SIGNATURE[i]) throw new NtlmError('no NTLMSSP signature', 0);
  const r = new Reader(buf);
  const t = r.u32(8);
  if (t !== type) throw new NtlmError(`message type ${t}, expected ${type}`, 8);
  return r;
}

/** The message type of a token (1, 2, 3), or an NtlmError when it is no NTLMSSP message. */
export function messageType(buf: Uint8Array): number {
  if (buf.length < 12) throw new NtlmError('message shorter than its header', 0);
  for (let i = 0; i < 8; i++) if (buf[i] !== NTLMSSP_SIGNATURE[i]) throw new NtlmError('no NTLMSSP signature', 0);
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(8, true);
}

export function decodeNegotiate(buf: Uint8Array): NegotiateMessage {
  const r = header(buf, MESSAGE_TYPE.negotiate);
  const flags = r.u32(12);
  // Old clients send a 16-byte NEGOTIATE with no name fields at all.
  if (buf.length < NEGOTIATE_FIXED) return { flags, domain: '', workstation: '' };
  const d = r.field(16);
  const w = r.field(24);
  const version = r.version(NEGOTIATE_FIXED, flags);
  // Names in NEGOTIATE are always OEM (MS-NLMP 2.2.1.1).
  return { flags, domain: r.text(d, false), workstation: r.text(w, false), ...(version ? { version } : {}) };
}

export function decodeChallenge(buf: Uint8Array): ChallengeMessage {
  const r = header(buf, MESSAGE_TYPE.challenge);
  if (buf.length < 32) throw new NtlmError('CHALLENGE truncated', buf.length);
  const tn = r.field(12);
  const flags = r.u32(20);
  const serverChallenge = buf.slice(24, 32);
  const ti = buf.length >= CHALLENGE_FIXED ? r.field(40) : undefined;
  const version = r.version(CHALLENGE_FIXED, flags);
  return {
    flags,
    targetName: r.text(tn, hasFlag(flags, NTLM_FLAGS.unicode)),
    serverChallenge,
    targetInfo: ti ? r.bytes(ti) : new Uint8Array(0),
    ...(version ? { version } : {}),
  };
}

export function decodeAuthenticate(buf: Uint8Array): AuthenticateMessage {
  const r = header(buf, MESSAGE_TYPE.authenticate);
  if (buf.length < AUTH_FIXED) throw new NtlmError('AUTHENTICATE truncated', buf.length);
  const lm = r.field(12), nt = r.field(20), dom = r.field(28), usr = r.field(36), ws = r.field(44), key = r.field(52);
  const flags = r.u32(60);
  const unicode = hasFlag(flags, NTLM_FLAGS.unicode);
  const version = r.version(AUTH_FIXED, flags);
  const mic = r.payloadStart >= MIC_OFFSET + 16 && buf.length >= MIC_OFFSET + 16 ? buf.slice(MIC_OFFSET, MIC_OFFSET + 16) : undefined;
  return {
    flags,
    lmResponse: r.bytes(lm),
    ntResponse: r.bytes(nt),
    domain: r.text(dom, unicode),
    user: r.text(usr, unicode),
    workstation: r.text(ws, unicode),
    encryptedRandomSessionKey: r.bytes(key),
    ...(version ? { version } : {}),
    ...(mic ? { mic } : {}),
  };
}

// ---- encoding --------------------------------------------------------------------------------

class Writer {
  private readonly parts: Uint8Array[] = [];
  private fieldsAt: Array<[number, Uint8Array]> = [];
  constructor(private readonly fixed: Uint8Array, private payloadOff: number) {}
  field(at: number, data: Uint8Array): void {
    if (data.length > 0xffff) throw new NtlmError('field longer than 65535 bytes');
    this.fieldsAt.push([at, data]);
  }
  finish(): Uint8Array {
    const view = new DataView(this.fixed.buffer);
    for (const [at, data] of this.fieldsAt) {
      view.setUint16(at, data.length, true);
      view.setUint16(at + 2, data.length, true);
      view.setUint32(at + 4, this.payloadOff, true);
      this.parts.push(data);
      this.payloadOff += data.length;
    }
    return new Uint8Array(Buffer.concat([this.fixed, ...this.parts]));
  }
}

function fixedPart(size: number, type: number): Uint8Array {
  const b = new Uint8Array(size);
  b.set(NTLMSSP_SIGNATURE);
  new DataView(b.buffer).setUint32(8, type, true);
  return b;
}

function putVersion(b: Uint8Array, at: number, v: NtlmVersion): void {
  b[at] = v.major;
  b[at + 1] = v.minor;
  new DataView(b.buffer).setUint16(at + 2, v.build, true);
  b[at + 7] = v.ntlmRevision;
}

const oem = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

export function encodeNegotiate(m: NegotiateMessage): Uint8Array {
  const withVersion = hasFlag(m.flags, NTLM_FLAGS.version);
  const size = NEGOTIATE_FIXED + (withVersion ? 8 : 0);
  const b = fixedPart(size, MESSAGE_TYPE.negotiate);
  new DataView(b.buffer).setUint32(12, m.flags >>> 0, true);
  if (withVersion) putVersion(b, NEGOTIATE_FIXED, m.version ?? OUR_VERSION);
  const w = new Writer(b, size);
  w.field(16, oem(m.domain));
  w.field(24, oem(m.workstation));
  return w.finish();
}

export function encodeChallenge(m: ChallengeMessage): Uint8Array {
  if (m.serverChallenge.length !== 8) throw new NtlmError('server challenge must be 8 bytes');
  const size = CHALLENGE_FIXED + 8;
  const b = fixedPart(size, MESSAGE_TYPE.challenge);
  new DataView(b.buffer).setUint32(20, m.flags >>> 0, true);
  b.set(m.serverChallenge, 24);
  if (hasFlag(m.flags, NTLM_FLAGS.version)) putVersion(b, CHALLENGE_FIXED, m.version ?? OUR_VERSION);
  const w = new Writer(b, size);
  w.field(12, hasFlag(m.flags, NTLM_FLAGS.unicode) ? utf16(m.targetName) : oem(m.targetName));
  w.field(40, m.targetInfo);
  return w.finish();
}

/**
 * Encodes an AUTHENTICATE. With `withMic` the 16 bytes at offset 72 are reserved (zero) for the
 * caller to fill in once the MIC over all three messages is known.
 */
export function encodeAuthenticate(m: Omit<AuthenticateMessage, 'mic'>, withMic: boolean): Uint8Array {
  const size = AUTH_FIXED + 8 + (withMic ? 16 : 0);
  const b = fixedPart(size, MESSAGE_TYPE.authenticate);
  new DataView(b.buffer).setUint32(60, m.flags >>> 0, true);
  if (hasFlag(m.flags, NTLM_FLAGS.version)) putVersion(b, AUTH_FIXED, m.version ?? OUR_VERSION);
  const unicode = hasFlag(m.flags, NTLM_FLAGS.unicode);
  const str = (s: string): Uint8Array => (unicode ? utf16(s) : oem(s));
  const w = new Writer(b, size);
  // Payload order as Windows lays it out: domain, user, workstation, LM, NT, session key.
  w.field(28, str(m.domain));
  w.field(36, str(m.user));
  w.field(44, str(m.workstation));
  w.field(12, m.lmResponse);
  w.field(20, m.ntResponse);
  w.field(52, m.encryptedRandomSessionKey);
  return w.finish();
}
