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

/** The only exception NDR decoding throws. Carries the byte offset and the field path. */
export class NdrError extends Error {
  readonly code: NdrErrorCode;
  readonly offset: number;
  readonly detail: string;
  private segments: string[];

  constructor(code: NdrErrorCode, detail: string, offset: number, path: string) {
    super();
    this.name = 'NdrError';
    this.code = code;
    this.offset = offset;
    this.detail = detail;
    this.segments = path ? path.split('.') : [];
    this.message = this.render();
  }

  /** The field path from the outermost construct to the failing field, e.g. `ShareMapping.[1].*.ShareNameUNC`. */
  get path(): string {
    return this.segments.join('.');
  }

  /** Called by enclosing constructs while the error unwinds: the path is built only on failure. */
  within(segment: string): void {
    this.segments.unshift(segment);
    this.message = this.render();
  }

  private render(): string {
    const path = this.path;
    return `${this.code} at offset ${this.offset}${path ? ` (${path})` : ''}: ${this.detail}`;
  }
}
