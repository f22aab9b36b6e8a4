/**
 * The one error type of src/security/ntlmssp: every decoder and every check that refuses input
 * throws (or returns) an NtlmError, with the byte offset when the fault is in a message.
 */
export class NtlmError extends Error {
  override readonly name = 'NtlmError';
  constructor(
    /** What is wrong, for logs. */
    readonly reason: string,
    /** Where in the decoded buffer, when the fault is in a message. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? `NTLMSSP: ${reason}` : `NTLMSSP: ${reason} (at offset ${offset})`);
  }
}
