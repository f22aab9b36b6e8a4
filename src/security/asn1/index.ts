/**
 * DER codec for SPNEGO and Kerberos: ASN.1 types declared once as values (see type.ts) drive
 * encoding, total decoding (Asn1Error with offset and field path) and the static value type.
 */
export { Asn1Error, type Asn1ErrorCode } from './error.js';
export { CLASS, readHeader, tlv, concat, type Tag, type TagClass, type Header } from './der.js';
export { encode, decode, decodePrefix, tagged, type Asn1Type, type Infer, type DecodeOptions } from './type.js';
export {
  boolean, nullType, integer, int32, uint32, microseconds, enumerated, bigInteger, octetString, bitString,
  kerberosFlags, oid, utf8, ia5, generalString, generalizedTime, type BitString, type IntRange,
} from './primitives.js';
export {
  seq, seqOf, choice, explicit, application, implicit, optional, any, withDer,
  type Optional, type SeqValue, type ChoiceValue, type WithDer,
} from './constructed.js';
