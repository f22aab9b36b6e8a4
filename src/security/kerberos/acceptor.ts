/**
 * The Kerberos acceptor (RFC 4121, MS-KILE 3.4.5) as a GssContext: DCE/RPC auth_type 16, and the
 * Kerberos mechanism inside SPNEGO (auth_type 9).
 *
 * Legs, as MIT's and Heimdal's acceptors run them:
 * - The AP-REQ, GSS-framed (60 … OID 01 00) or — only when its GSS checksum says DCE_STYLE —
 *   raw. It is checked by ap-req.ts (keytab key, ticket times, authenticator, skew, replay,
 *   0x8003 flags, PAC).
 * - With mutual authentication (ap-options mutual-required, the MUTUAL flag, or DCE style) we
 *   answer with an AP-REP (key usage 12, ticket session key) echoing ctime/cusec, carrying a
 *   fresh acceptor subkey of the same etype and our first sequence number. DCE style: the AP-REP
 *   is raw and the step is 'continue'; the initiator answers with its own raw AP-REP, which must
 *   decrypt under the ticket session key, carry no subkey and echo our sequence number
 *   (MIT's krb5_rd_rep_dce; its ctime/cusec are the initiator's own, impacket sends "now"), and
 *   then the context is done with an empty token. Otherwise the framed AP-REP (02 00) comes
 *   with 'done'.
 * - Per-message: RFC 4121 tokens (AES) or RFC 4757 (rc4-hmac) under the acceptor subkey (else the
 *   initiator's subkey, else the session key), sequence numbers from the authenticator (receive)
 *   and the AP-REP (send); DCE/RPC packet protection through gss-tokens.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import createDebug from 'debug';
import type { CallerIdentity } from '../../dcerpc/interface.js';
import type { AcceptorFactory } from '../dcerpc-provider.js';
import { MECH_OID, type GssContext, type GssFlags, type GssStep } from '../gss.js';
import type { SpnegoInnerHooks } from '../spnego/mech.js';
import { Asn1Error, decode, encode } from '../asn1/index.js';
import { verifyApReq, type VerifiedApReq } from './ap-req.js';
import { getEnctype } from './crypto.js';
import { KerberosCryptoError } from './errors.js';
import { newMessageContext } from './gss-context.js';
import { EstablishedKerberosContext } from './gss-tokens.js';
import { parseKeytab, type Keytab, type KeytabEntry } from './keytab.js';
import { GSS_FLAG, KEY_USAGE, MSG_TYPE, TOK_ID, apRep, encApRepPart, frameKrbToken, unframeKrbToken } from './messages.js';
import { processReplayCache, type ReplayCache } from './replay-cache.js';

const log = createDebug('fsrvp:kerberos');

export const DEFAULT_CLOCK_SKEW_SEC = 300;
const KRB_OIDS = new Set<string>([MECH_OID.kerberos, MECH_OID.kerberosMs]);

export interface KerberosAcceptorOptions {
  /** The service keys (a parsed keytab's entries). */
  readonly keys: readonly KeytabEntry[];
  /** Accepted service principals ("host/fs.example.com", optionally "@REALM"); absent = any with a key. */
  readonly principals?: readonly string[];
  readonly clockSkewSec?: number;
  /** Milliseconds since 1970 (tests). */
  readonly now?: () => number;
  /** What the bind asked for: integrity / confidentiality must then be in the client's GSS flags. */
  readonly flags?: GssFlags;
  /** Default: the process-wide cache. */
  readonly replay?: ReplayCache;
  readonly random?: (n: number) => Uint8Array;
}

type Phase = 'ap-req' | 'dce-ap-rep' | 'done' | 'over';
const refuse = (reason: string): GssStep => ({ status: 'rejected', reason });
type Key = { readonly etype: number; readonly key: Uint8Array };

export class KerberosAcceptor extends EstablishedKerberosContext implements GssContext, SpnegoInnerHooks {
  private mech: string = MECH_OID.kerberos;
  private phase: Phase = 'ap-req';
  private verified: VerifiedApReq | undefined;
  private ourSeq = 0;
  private identity: CallerIdentity | undefined;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: KerberosAcceptorOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  /** The Kerberos OID the initiator framed its token with (MS or IETF), the IETF one until then. */
  get mechOid(): string {
    return this.mech;
  }

  /** Who the client is (after established). */
  get caller(): CallerIdentity | undefined {
    return this.identity;
  }

  async step(token: Uint8Array): Promise<GssStep> {
    const phase = this.phase;
    this.phase = 'over'; // any refusal below is final
    let out: GssStep;
    try {
      if (phase === 'ap-req') out = this.onApReq(token);
      else if (phase === 'dce-ap-rep') out = this.onDceApRep(token);
      else out = refuse('Kerberos exchange already finished');
    } catch (e) {
      out = refuse(`Kerberos acceptor failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (out.status === 'rejected') log('refused: %s', out.reason);
    return out;
  }

  private onApReq(token: Uint8Array): GssStep {
    let message = token;
    let framed = false;
    if (token[0] === 0x60) {
      let t;
      try {
        t = unframeKrbToken(token);
      } catch (e) {
        return refuse(`malformed GSS token: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!KRB_OIDS.has(t.mechOid)) return refuse(`GSS token for mechanism ${t.mechOid}, not Kerberos`);
      if (t.tokId !== TOK_ID.apReq) return refuse(`GSS token with TOK_ID ${t.tokId.toString(16).padStart(4, '0')}, not an AP-REQ`);
      this.mech = t.mechOid;
      message = t.message;
      framed = true;
    }
    const r = verifyApReq(message, {
      keys: this.opts.keys,
      ...(this.opts.principals !== undefined ? { principals: this.opts.principals } : {}),
      clockSkewMs: (this.opts.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC) * 1000,
      now: this.now(),
      replay: this.opts.replay ?? processReplayCache,
    });
    if (!r.ok) return refuse(r.reason);
    const v = r.value;
    const dce = (v.gssFlags & GSS_FLAG.dceStyle) !== 0;
    if (!framed && !dce) return refuse('raw (unframed) AP-REQ without DCE_STYLE in its GSS checksum');
    const wants = this.opts.flags;
    if (wants?.integrity === true && (v.gssFlags & GSS_FLAG.integ) === 0) return refuse(`${v.client}: integrity asked for, but the GSS checksum lacks INTEG`);
    if (wants?.confidentiality === true && (v.gssFlags & GSS_FLAG.conf) === 0) return refuse(`${v.client}: privacy asked for, but the GSS checksum lacks CONF`);
    this.verified = v;
    const li = v.identity;
    this.identity = { source: 'rpc-auth', sids: li.sids, accountName: li.accountName, domainName: li.domainName };
    const initiatorKey: Key = v.initiatorSubkey ?? v.sessionKey;
    const mutual = dce || v.mutualRequired || (v.gssFlags & GSS_FLAG.mutual) !== 0;
    let reply: Uint8Array = new Uint8Array(0);
    let acceptorSubkey: Key | undefined;
    if (mutual) {
      // A subkey of our own unless the peer is rc4-hmac without DCE style (RFC 4757 tokens cannot say which key).
      if (dce || initiatorKey.etype !== 23) acceptorSubkey = this.newKey(initiatorKey.etype);
      const r4 = this.random(4);
      this.ourSeq = ((r4[0]! << 24) | (r4[1]! << 16) | (r4[2]! << 8) | r4[3]!) & 0x3fffffff;
      const part = encode(encApRepPart, {
        ctime: v.authenticator.ctime, cusec: v.authenticator.cusec, seqNumber: this.ourSeq,
        ...(acceptorSubkey ? { subkey: { keytype: acceptorSubkey.etype, keyvalue: acceptorSubkey.key } } : {}),
      });
      const e = getEnctype(v.sessionKey.etype)!;
      const rep = encode(apRep, {
        pvno: 5, msgType: MSG_TYPE.apRep,
        encPart: { etype: v.sessionKey.etype, cipher: e.encrypt(v.sessionKey.key, KEY_USAGE.apRepEncPart, part) },
      });
      reply = dce ? rep : frameKrbToken(TOK_ID.apRep, rep, this.mech);
    } else {
      this.ourSeq = v.initiatorSeq;
    }
    const key = acceptorSubkey ?? initiatorKey;
    this.ctx = newMessageContext({
      etype: key.etype, key: key.key, isAcceptor: true, acceptorSubkey: acceptorSubkey !== undefined,
      headerSigning: wants?.headerSigning ?? false, sendSeq: this.ourSeq, recvSeq: v.initiatorSeq,
    });
    if (dce) {
      this.phase = 'dce-ap-rep';
      return { status: 'continue', token: reply };
    }
    return this.finish(reply);
  }

  private onDceApRep(token: Uint8Array): GssStep {
    const v = this.verified!;
    let message = token;
    if (token[0] === 0x60) {
      const t = unframeKrbToken(token);
      if (t.tokId !== TOK_ID.apRep) return refuse(`third leg with TOK_ID ${t.tokId.toString(16)}, not an AP-REP`);
      message = t.message;
    }
    let part;
    try {
      const rep = decode(apRep, message);
      if (rep.encPart.etype !== v.sessionKey.etype) return refuse(`initiator AP-REP in etype ${rep.encPart.etype}, the session key is ${v.sessionKey.etype}`);
      const plain = getEnctype(v.sessionKey.etype)!.decrypt(v.sessionKey.key, KEY_USAGE.apRepEncPart, rep.encPart.cipher);
      if (plain instanceof KerberosCryptoError) return refuse(`initiator AP-REP does not decrypt under the session key (${plain.reason})`);
      part = decode(encApRepPart, plain);
    } catch (e) {
      if (e instanceof Asn1Error) return refuse(`malformed initiator AP-REP: ${e.message}`);
      throw e;
    }
    if (part.subkey !== undefined) return refuse('initiator AP-REP carries a subkey (DCE style forbids it)');
    if (((part.seqNumber ?? 0) >>> 0) !== this.ourSeq) return refuse(`initiator AP-REP sequence number ${part.seqNumber ?? '(none)'}, ours was ${this.ourSeq}`);
    return this.finish(new Uint8Array(0));
  }

  private finish(token: Uint8Array): GssStep {
    this.phase = 'done';
    const v = this.verified!;
    log('authenticated %s for %s (etype %d, flags 0x%s)', v.client, v.server, this.ctx!.etype, v.gssFlags.toString(16));
    return { status: 'done', token, identity: this.identity! };
  }

  private newKey(etype: number): Key {
    const e = getEnctype(etype);
    if (e === undefined) throw new KerberosCryptoError('unsupported', `subkey etype ${etype}`);
    return { etype, key: e.randomToKey(this.random(e.keySize)) };
  }

  protected isDone(): boolean {
    return this.phase === 'done';
  }

  protected contextFlags(): GssFlags | undefined {
    return this.opts.flags;
  }

  // ---- SPNEGO hooks -----------------------------------------------------------------------

  hasIntegrity(): boolean {
    return ((this.verified?.gssFlags ?? 0) & GSS_FLAG.integ) !== 0;
  }

  /** The "new SPNEGO" mechListMIC exchange is expected with CFX (AES) contexts, not rc4-hmac. */
  expectsMechListMic(): boolean {
    return this.ctx !== undefined && this.ctx.etype !== 23;
  }
}

/** Where the service keys come from: a keytab file path (read once), its bytes, a parsed keytab or entries. */
export type KeytabSource = string | Uint8Array | Keytab | readonly KeytabEntry[];

function loadKeys(src: KeytabSource): readonly KeytabEntry[] {
  if (typeof src === 'string') return parseKeytab(new Uint8Array(readFileSync(src))).entries;
  if (src instanceof Uint8Array) return parseKeytab(src).entries;
  if (Array.isArray(src)) return src as readonly KeytabEntry[];
  return (src as Keytab).entries;
}

export interface KerberosFactoryOptions {
  readonly keytab: KeytabSource;
  readonly principals?: readonly string[];
  readonly clockSkewSec?: number;
  readonly now?: () => number;
  readonly replay?: ReplayCache;
}

/**
 * An AcceptorFactory for buildHostAuth / hostAuthProviders. The keytab is read once, here
 * (throws KeytabError or the file system's error); a keytab with no usable key refuses to start.
 */
export function kerberosAcceptorFactory(o: KerberosFactoryOptions): AcceptorFactory {
  const keys = loadKeys(o.keytab).filter((k) => getEnctype(k.etype) !== undefined && k.key.length === getEnctype(k.etype)!.keySize);
  if (keys.length === 0) throw new Error('the keytab has no aes256, aes128 or rc4-hmac key');
  return (flags: GssFlags) => new KerberosAcceptor({
    keys, flags,
    ...(o.principals !== undefined ? { principals: o.principals } : {}),
    ...(o.clockSkewSec !== undefined ? { clockSkewSec: o.clockSkewSec } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
    ...(o.replay !== undefined ? { replay: o.replay } : {}),
  });
}

/** The service principals a file server host answers to: host/ and cifs/ with its FQDN and short name. */
export function hostPrincipals(fqdn: string, realm?: string): string[] {
  const names = [...new Set([fqdn.toLowerCase(), fqdn.split('.')[0]!.toLowerCase()])];
  const suffix = realm === undefined ? '' : `@${realm}`;
  return names.flatMap((n) => [`host/${n}${suffix}`, `cifs/${n}${suffix}`]);
}
