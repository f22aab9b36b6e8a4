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

/** The only exception DER decoding throws: code, byte offset and field path. */
export class Asn1Error extends Error {
  readonly code: Asn1ErrorCode;
  readonly offset: number;
  readonly detail: string;
  private segments: string[] = [];

  constructor(code: Asn1ErrorCode, detail: string, offset: number) {
    super();
    this.name = 'Asn1Error';
    this.code = code;
    this.offset = offset;
    this.detail = detail;
    this.message = this.render();
  }

  /** Field path from the outermost declaration to the failing one, e.g. `negTokenInit.mechTypes.[1]`. */
  get path(): string {
    return this.segments.join('.');
  }

  /** Called by enclosing constructs while the error unwinds. */
  within(segment: string): void {
    this.segments.unshift(segment);
    this.message = this.render();
  }

  private render(): string {
    const at = this.segments.length ? ` at ${this.path}` : '';
    return `${this.code}: ${this.detail} (offset ${this.offset})${at}`;
  }
}
