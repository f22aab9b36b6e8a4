/**
 * SPNEGO tokens (RFC 4178 4.2, MS-SPNG 2.2) declared once with src/security/asn1, and the GSS
 * InitialContextToken framing (RFC 2743 3.1) of the first token.
 *
 * NegTokenInit and Windows' NegTokenInit2 share one declaration: their [3] is either mechListMIC
 * (OCTET STRING) or negHints (SEQUENCE), told apart by the inner tag; NegTokenInit2 puts the MIC
 * at [4].
 */
import {
  Asn1Error, CLASS, choice, concat, decode, decodePrefix, encode, enumerated, explicit, generalString, kerberosFlags,
  octetString, oid, optional, readHeader, seq, seqOf, tlv, withDer, type Infer,
} from '../asn1/index.js';
import { MECH_OID } from '../gss.js';

export const mechTypeList = seqOf(oid(), 64);

export const negHints = seq({
  hintName: optional(explicit(0, generalString())),
  hintAddress: optional(explicit(1, octetString())),
}, 'NegHints');

export const negTokenInit = seq({
  mechTypes: explicit(0, withDer(mechTypeList)),
  reqFlags: optional(explicit(1, kerberosFlags())),
  mechToken: optional(explicit(2, octetString())),
  /** RFC 4178: mechListMIC; MS-SPNG NegTokenInit2: negHints. */
  field3: optional(explicit(3, choice({ mechListMIC: octetString(), negHints }))),
  /** NegTokenInit2's mechListMIC. */
  mechListMIC2: optional(explicit(4, octetString())),
}, 'NegTokenInit');

export const NEG_STATE = { acceptCompleted: 0, acceptIncomplete: 1, reject: 2, requestMic: 3 } as const;
export type NegState = (typeof NEG_STATE)[keyof typeof NEG_STATE];

export const negTokenResp = seq({
  negState: optional(explicit(0, enumerated({ min: 0, max: 3 }))),
  supportedMech: optional(explicit(1, oid())),
  responseToken: optional(explicit(2, octetString())),
  mechListMIC: optional(explicit(3, octetString())),
}, 'NegTokenResp');

export const negotiationToken = choice({
  negTokenInit: explicit(0, negTokenInit),
  negTokenResp: explicit(1, negTokenResp),
}, 'NegotiationToken');

export type NegTokenInitValue = Infer<typeof negTokenInit>;
export type NegTokenRespValue = Infer<typeof negTokenResp>;
export type NegotiationTokenValue = Infer<typeof negotiationToken>;

/** The fields of a NegTokenInit / NegTokenInit2, flattened. */
export interface InitToken {
  readonly mechTypes: readonly string[];
  /** mechTypes' DER exactly as received (what mechListMIC covers). */
  readonly mechTypesDer: Uint8Array;
  readonly reqFlags?: number;
  readonly mechToken?: Uint8Array;
  readonly mechListMIC?: Uint8Array;
  readonly hintName?: string;
  readonly hintAddress?: Uint8Array;
}

export interface RespToken {
  readonly negState?: NegState;
  readonly supportedMech?: string;
  readonly responseToken?: Uint8Array;
  readonly mechListMIC?: Uint8Array;
}

/** GSS InitialContextToken: [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerContextToken ANY }. */
export function frameInitialToken(mechOid: string, inner: Uint8Array): Uint8Array {
  return tlv({ cls: CLASS.application, constructed: true, num: 0 }, concat([encode(oid(), mechOid), inner]));
}

/** Splits an InitialContextToken into its mech OID and the bytes after it. Throws Asn1Error. */
export function unframeInitialToken(bytes: Uint8Array): { mechOid: string; inner: Uint8Array } {
  const c = { buf: bytes, depth: 0, maxDepth: 1 };
  const h = readHeader(c, 0, bytes.length);
  if (h.cls !== CLASS.application || !h.constructed || h.num !== 0) throw new Asn1Error('TAG', 'not a GSS InitialContextToken', 0);
  if (h.end !== bytes.length) throw new Asn1Error('TRAILING', 'bytes after the InitialContextToken', h.end);
  const body = bytes.subarray(h.contentStart, h.end);
  const { value: mechOid, consumed } = decodePrefix(oid(), body);
  return { mechOid, inner: body.subarray(consumed) };
}

export function encodeInit(t: Omit<InitToken, 'mechTypesDer'> & { readonly negHints?: boolean }): Uint8Array {
  const v: NegTokenInitValue = { mechTypes: { value: [...t.mechTypes] } };
  if (t.reqFlags !== undefined) v.reqFlags = t.reqFlags;
  if (t.mechToken) v.mechToken = t.mechToken;
  if (t.negHints || t.hintName !== undefined || t.hintAddress) {
    const hints: Infer<typeof negHints> = {};
    if (t.hintName !== undefined) hints.hintName = t.hintName;
    if (t.hintAddress) hints.hintAddress = t.hintAddress;
    v.field3 = { type: 'negHints', value: hints };
    if (t.mechListMIC) v.mechListMIC2 = t.mechListMIC;
  } else if (t.mechListMIC) {
    v.field3 = { type: 'mechListMIC', value: t.mechListMIC };
  }
  return frameInitialToken(MECH_OID.spnego, encode(negotiationToken, { type: 'negTokenInit', value: v }));
}

export function encodeResp(t: RespToken): Uint8Array {
  const v: NegTokenRespValue = {};
  if (t.negState !== undefined) v.negState = t.negState;
  if (t.supportedMech !== undefined) v.supportedMech = t.supportedMech;
  if (t.responseToken) v.responseToken = t.responseToken;
  if (t.mechListMIC) v.mechListMIC = t.mechListMIC;
  return encode(negotiationToken, { type: 'negTokenResp', value: v });
}

function flattenInit(v: NegTokenInitValue): InitToken {
  const f3 = v.field3;
  const out: { -readonly [K in keyof InitToken]: InitToken[K] } = {
    mechTypes: v.mechTypes.value,
    mechTypesDer: v.mechTypes.der ?? encode(mechTypeList, v.mechTypes.value),
  };
  if (v.reqFlags !== undefined) out.reqFlags = v.reqFlags;
  if (v.mechToken) out.mechToken = v.mechToken;
  if (f3?.type === 'mechListMIC') out.mechListMIC = f3.value;
  if (f3?.type === 'negHints') {
    if (f3.value.hintName !== undefined) out.hintName = f3.value.hintName;
    if (f3.value.hintAddress) out.hintAddress = f3.value.hintAddress;
  }
  if (v.mechListMIC2) {
    if (f3?.type === 'mechListMIC') throw new Asn1Error('CONTENT', 'two mechListMICs', 0);
    out.mechListMIC = v.mechListMIC2;
  }
  return out;
}

export type ParsedToken = { readonly kind: 'init'; readonly init: InitToken } | { readonly kind: 'resp'; readonly resp: RespToken };

/**
 * Any SPNEGO token: an InitialContextToken with the SPNEGO OID around a NegotiationToken, or a
 * bare NegotiationToken (every later token, and some first ones). Throws only Asn1Error.
 */
export function parseSpnego(bytes: Uint8Array): ParsedToken {
  let body = bytes;
  if (bytes.length > 0 && bytes[0] === 0x60) {
    const { mechOid, inner } = unframeInitialToken(bytes);
    if (mechOid !== MECH_OID.spnego) throw new Asn1Error('CONTENT', `InitialContextToken for ${mechOid}, not SPNEGO`, 0);
    body = inner;
  }
  const t = decode(negotiationToken, body);
  if (t.type === 'negTokenInit') return { kind: 'init', init: flattenInit(t.value) };
  return { kind: 'resp', resp: t.value as RespToken };
}
