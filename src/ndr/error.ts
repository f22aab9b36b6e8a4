/** Why an NDR decode or encode failed. Names follow Samba's NDR_ERR_* where one exists. */
export type NdrErrorCode =
  | 'BUFSIZE' // read past the end of the input
  | 'ARRAY_SIZE' // actual_count > max_count, offset != 0, count larger than the input can hold
  | 'STRING' // terminator missing, empty string, bad character data
  | 'BAD_SWITCH' // union discriminant with no arm
  | 'RANGE' // value outside what the type allows
  | 'MAX_DEPTH' // nesting deeper than the decoder allows
  | 'ALLOC' // a declared size exceeds the configured limit
  | 'ENCODE'; // a value that cannot be encoded (wrong shape, out of range)

/**
 * A decode error that knows where it happened: a code, the byte offset and the field path, which
 * enclosing constructs prepend to (`within`) while the error unwinds, so the path costs nothing
 * unless decoding fails. NdrError and the DER decoder's Asn1Error are this with their own codes
 * and wording.
 */
export abstract class FieldPathError<Code extends string> extends Error {
  private readonly segments: string[];

  constructor(readonly code: Code, readonly detail: string, readonly offset: number, path: string) {
    super();
    this.segments = path ? path.split('.') : [];
  }

  /** The field path from the outermost construct to the failing field, dot-separated. */
  get path(): string {
    return this.segments.join('.');
  }

  /** Called by enclosing constructs while the error unwinds. */
  within(segment: string): void {
    this.segments.unshift(segment);
    this.message = this.render();
  }

  protected abstract render(): string;
}

/** The only exception NDR decoding throws; its path reads e.g. `ShareMapping.[1].*.ShareNameUNC`. */
export class NdrError extends FieldPathError<NdrErrorCode> {
  constructor(code: NdrErrorCode, detail: string, offset: number, path: string) {
    super(code, detail, offset, path);
    this.name = 'NdrError';
    this.message = this.render();
  }

  protected render(): string {
    const path = this.path;
    return `${this.code} at offset ${this.offset}${path ? ` (${path})` : ''}: ${this.detail}`;
  }
}
