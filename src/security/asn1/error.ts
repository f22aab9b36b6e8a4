import { FieldPathError } from '../../ndr/index.js';

/** Why a DER decode or encode failed. */
export type Asn1ErrorCode =
  | 'TRUNCATED' // a header or content runs past the end of its enclosing element or the input
  | 'INDEFINITE' // indefinite length (BER only; DER refuses it)
  | 'NON_DER' // a valid BER form that DER forbids (long length that fits short, padded integer, ...)
  | 'TAG' // an element with a tag the declaration does not allow here
  | 'MISSING' // a mandatory SEQUENCE field absent
  | 'TRAILING' // bytes after the last field / after the top-level element
  | 'RANGE' // a value outside what the type allows
  | 'CONTENT' // malformed content (bad OID, bad time, invalid string bytes)
  | 'MAX_DEPTH' // nesting deeper than the decoder allows
  | 'ENCODE'; // a value that cannot be encoded

/** The only exception DER decoding throws; its path reads e.g. `negTokenInit.mechTypes.[1]`. */
export class Asn1Error extends FieldPathError<Asn1ErrorCode> {
  constructor(code: Asn1ErrorCode, detail: string, offset: number) {
    super(code, detail, offset, '');
    this.name = 'Asn1Error';
    this.message = this.render();
  }

  protected render(): string {
    const at = this.path ? ` at ${this.path}` : '';
    return `${this.code}: ${this.detail} (offset ${this.offset})${at}`;
  }
}
