/**
 * The Kerberos initiator (RFC 4121 §4.1, MS-KILE 3.2.5, MS-RPCE 3.3.1.5.2.2) as a GssContext:
 * DCE/RPC auth_type 16, and the Kerberos mechanism inside SPNEGO (auth_type 9).
 *
 * Legs (DCE style, what Windows and Samba's clients do for DCE/RPC):
 * 1. The AP-REQ, GSS-framed (60 … OID 01 00): ap-options mutual-required; an authenticator with
 *    a fresh subkey of the session key's etype, a random sequence number and the 0x8003 GSS
 *    checksum (Lgth 16, zero channel bindings, flags MUTUAL | REPLAY | SEQUENCE | INTEG [| CONF]
 *    | DCE_STYLE, little-endian). Step: 'continue'.
 * 2. The acceptor's AP-REP (raw in DCE style; framed 02 00 otherwise): decrypted with the ticket
 *    session key (usage 12); its ctime/cusec must be ours; its subkey (when present) becomes the
 *    per-message key and its sequence number the one we expect. A KRB-ERROR here is a refusal
 *    with its text. DCE style: we answer with our own raw AP-REP (same ctime/cusec, no subkey,
 *    the acceptor's sequence number) and the step is 'done' with it (auth3 or SPNEGO's last
 *    token); otherwise 'done' with nothing.
 * Per-message: RFC 4121 tokens (AES) or RFC 4757 (rc4-hmac) through gss-tokens.ts, under the
 * acceptor subkey (AcceptorSubkey flag) or else our subkey.
 *
 * The ticket may be given as a promise-returning function: the first step fetches it (from a
 * ccache, or a TGS exchange), and a failure there is the step's refusal reason.
 */
import { randomBytes } from 'node:crypto';
import { Asn1Error, decode, encode } from '../asn1/index.js';
import { MECH_OID, type GssContext, type GssFlags, type GssStep } from '../gss.js';
import type { SpnegoInnerHooks } from '../spnego/mech.js';
import { getEnctype } from './crypto.js';
import { KerberosCryptoError } from './errors.js';
import { newMessageContext } from './gss-context.js';
import { EstablishedKerberosContext } from './gss-tokens.js';
import { asName, type ServiceTicket } from './kdc-client.js';
import { apReqRaw, flagBits } from './kdc-messages.js';
import { krbErrorText } from './kdc-transport.js';
import {
  AP_OPTION, GSS_CHECKSUM_TYPE, GSS_FLAG, KEY_USAGE, MSG_TYPE, TOK_ID, apRep, authenticator, encApRepPart, frameKrbToken, krbError,
  unframeKrbToken,
} from './messages.js';

export interface KerberosInitiatorOptions {
  /** The service ticket, or how to get it (called once, at the first step). */
  readonly ticket: ServiceTicket | (() => Promise<ServiceTicket>);
  /** What the bind asks for: integrity, confidentiality, header signing. */
  readonly flags: GssFlags;
  /** DCE style (three legs); default true, as DCE/RPC wants. */
  readonly dceStyle?: boolean;
  /** The OID framing our tokens (default the IETF krb5 OID). */
  readonly mechOid?: string;
  /** Milliseconds since 1970 (tests, or a KDC clock offset). */
  readonly now?: () => number;
  readonly random?: (n: number) => Uint8Array;
}

type Key = { readonly etype: number; readonly key: Uint8Array };
const refuse = (reason: string): GssStep => ({ status: 'rejected', reason });
class Refusal extends Error {}
const fail = (reason: string): never => {
  throw new Refusal(reason);
};

export class KerberosInitiator extends EstablishedKerberosContext implements GssContext, SpnegoInnerHooks {
  readonly mechOid: string;
  private phase: 'start' | 'ap-rep' | 'done' | 'over' = 'start';
  private ticket: ServiceTicket | undefined;
  private subkey: Key | undefined;
  private ourSeq = 0;
  private ctime = new Date(0);
  private cusec = 0;
  private headerSigning: boolean;
  private readonly dce: boolean;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: KerberosInitiatorOptions) {
    super();
    this.mechOid = opts.mechOid ?? MECH_OID.kerberos;
    this.dce = opts.dceStyle ?? true;
    this.headerSigning = opts.flags.headerSigning;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  /** The client and service principals, once the ticket is known. */
  get principals(): { client: string; server: string } | undefined {
    const t = this.ticket;
    return t && { client: `${t.client.components.join('/')}@${t.client.realm}`, server: `${t.server.components.join('/')}@${t.server.realm}` };
  }

  async step(token: Uint8Array): Promise<GssStep> {
    const phase = this.phase;
    this.phase = 'over';
    try {
      if (phase === 'start') return await this.start();
      if (phase === 'ap-rep') return this.onApRep(token);
      return refuse('Kerberos exchange already finished');
    } catch (e) {
      if (e instanceof Refusal) return refuse(e.message);
      if (e instanceof Asn1Error) return refuse(`malformed Kerberos token from the server: ${e.message}`);
      return refuse(`Kerberos: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The GSS flags of our checksum. */
  gssFlags(): number {
    const f = this.opts.flags;
    let flags = GSS_FLAG.mutual | GSS_FLAG.replay | GSS_FLAG.sequence;
    if (f.integrity || f.confidentiality) flags |= GSS_FLAG.integ;
    if (f.confidentiality) flags |= GSS_FLAG.conf;
    if (this.dce) flags |= GSS_FLAG.dceStyle;
    return flags;
  }

  private async start(): Promise<GssStep> {
    const t = typeof this.opts.ticket === 'function' ? await this.opts.ticket() : this.opts.ticket;
    this.ticket = t;
    const e = getEnctype(t.sessionKey.etype);
    if (e === undefined) return refuse(`the service ticket's session key is etype ${t.sessionKey.etype}, which we do not support`);
    if (t.endtime.getTime() <= this.now()) return refuse(`the service ticket for ${this.principals!.server} expired at ${t.endtime.toISOString()}`);
    this.subkey = { etype: e.etype, key: e.randomToKey(this.random(e.keySize)) };
    const r4 = this.random(4);
    this.ourSeq = ((r4[0]! << 24) | (r4[1]! << 16) | (r4[2]! << 8) | r4[3]!) & 0x3fffffff;
    const now = this.now();
    this.ctime = new Date(Math.floor(now / 1000) * 1000);
    this.cusec = (now % 1000) * 1000 + (this.random(1)[0]! % 1000);
    const ck = new Uint8Array(24);
    const dv = new DataView(ck.buffer);
    dv.setUint32(0, 16, true);
    dv.setUint32(20, this.gssFlags(), true);
    const auth = encode(authenticator, {
      authenticatorVno: 5, crealm: t.client.realm, cname: asName(t.client), cksum: { cksumtype: GSS_CHECKSUM_TYPE, checksum: ck },
      cusec: this.cusec, ctime: this.ctime, subkey: { keytype: this.subkey.etype, keyvalue: this.subkey.key }, seqNumber: this.ourSeq,
    });
    const req = encode(apReqRaw, {
      pvno: 5, msgType: MSG_TYPE.apReq, apOptions: flagBits(AP_OPTION.mutualRequired), ticket: t.ticket,
      authenticator: { etype: t.sessionKey.etype, cipher: e.encrypt(t.sessionKey.key, KEY_USAGE.apReqAuthenticator, auth) },
    });
    this.phase = 'ap-rep';
    return { status: 'continue', token: frameKrbToken(TOK_ID.apReq, req, this.mechOid) };
  }

  private onApRep(token: Uint8Array): GssStep {
    const t = this.ticket!;
    if (token.length === 0) fail('the server sent no AP-REP (mutual authentication required)');
    let message = token;
    if (token[0] === 0x60) {
      const f = unframeKrbToken(token);
      message = f.message;
      if (f.tokId === TOK_ID.error) {
        const err = decode(krbError, message);
        fail(`the server refused our ticket: ${krbErrorText(err.errorCode)}${err.eText ? ` [${err.eText}]` : ''}`);
      }
      if (f.tokId !== TOK_ID.apRep) fail(`server token with TOK_ID ${f.tokId.toString(16).padStart(4, '0')}, not an AP-REP`);
    } else if (token[0] === (0x60 | MSG_TYPE.krbError)) {
      const err = decode(krbError, token);
      fail(`the server refused our ticket: ${krbErrorText(err.errorCode)}${err.eText ? ` [${err.eText}]` : ''}`);
    }
    const rep = decode(apRep, message);
    const sk = t.sessionKey;
    if (rep.encPart.etype !== sk.etype) fail(`AP-REP in etype ${rep.encPart.etype}, the session key is etype ${sk.etype}`);
    const e = getEnctype(sk.etype)!;
    const plain = e.decrypt(sk.key, KEY_USAGE.apRepEncPart, rep.encPart.cipher);
    if (plain instanceof KerberosCryptoError) return fail(`the server's AP-REP does not decrypt under the session key (${plain.reason}): not the service the ticket is for`);
    const part = decode(encApRepPart, plain);
    if (part.ctime.getTime() !== this.ctime.getTime() || part.cusec !== this.cusec) fail('the server\'s AP-REP does not echo our authenticator time (mutual authentication failed)');
    let key: Key = this.subkey!;
    if (part.subkey !== undefined) {
      const ae = getEnctype(part.subkey.keytype);
      if (ae === undefined || part.subkey.keyvalue.length !== ae.keySize) fail(`acceptor subkey of etype ${part.subkey.keytype}: not one we support`);
      key = { etype: part.subkey.keytype, key: part.subkey.keyvalue };
    }
    const theirSeq = (part.seqNumber ?? 0) >>> 0;
    this.ctx = newMessageContext({
      etype: key.etype, key: key.key, isAcceptor: false, acceptorSubkey: part.subkey !== undefined,
      headerSigning: this.headerSigning, sendSeq: this.ourSeq, recvSeq: theirSeq,
    });
    let out: Uint8Array = new Uint8Array(0);
    if (this.dce) {
      const mine = encode(encApRepPart, { ctime: part.ctime, cusec: part.cusec, seqNumber: theirSeq });
      out = encode(apRep, { pvno: 5, msgType: MSG_TYPE.apRep, encPart: { etype: sk.etype, cipher: e.encrypt(sk.key, KEY_USAGE.apRepEncPart, mine) } });
    }
    this.phase = 'done';
    return { status: 'done', token: out };
  }

  protected isDone(): boolean {
    return this.phase === 'done';
  }

  protected contextFlags(): GssFlags | undefined {
    return this.opts.flags;
  }

  setHeaderSigning(on: boolean): void {
    this.headerSigning = on;
    if (this.ctx) this.ctx.headerSigning = on;
  }

  hasIntegrity(): boolean {
    return (this.gssFlags() & GSS_FLAG.integ) !== 0;
  }

  /** CFX (AES) contexts take part in SPNEGO's mechListMIC exchange; rc4-hmac ones do not. */
  expectsMechListMic(): boolean {
    return this.ctx !== undefined && this.ctx.etype !== 23;
  }
}
