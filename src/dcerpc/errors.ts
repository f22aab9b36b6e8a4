/** Why bytes could not be taken as a PDU. The only exception the PDU decoders throw. */
export type PduErrorCode =
  | 'SHORT' // fewer than 16 bytes, or a body shorter than its PTYPE needs
  | 'FRAG_LENGTH' // frag_length differs from the bytes given (or is < 16)
  | 'PTYPE' // a PTYPE value no PDU has (>= 21): Samba cannot parse the body
  | 'BODY' // a body field that cannot be parsed (bad count, bad character data)
  | 'AUTH_TRAILER' // sec_trailer / auth pad inconsistent (§8)
  | 'ENCODE'; // a value that cannot be encoded

export class PduError extends Error {
  readonly code: PduErrorCode;
  /** Byte offset in the PDU where the problem was found, when known. */
  readonly offset: number;

  constructor(code: PduErrorCode, message: string, offset = 0) {
    super(`${code} at offset ${offset}: ${message}`);
    this.name = 'PduError';
    this.code = code;
    this.offset = offset;
  }
}
