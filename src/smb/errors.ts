/**
 * The error types of src/smb. SmbError: malformed input or a protocol rule broken (every decoder
 * throws only this). SmbStatusError: the server answered a request with an NTSTATUS failure; its
 * message says what that means for the user (wrong password, missing share, no such pipe, …).
 */
export class SmbError extends Error {
  override readonly name: string = 'SmbError';
  constructor(
    readonly reason: string,
    /** Byte offset in the decoded buffer, when the fault is in a message. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? `SMB2: ${reason}` : `SMB2: ${reason} (at offset ${offset})`);
  }
}

/** Status codes the client acts on or explains (MS-ERREF 2.3.1). */
export const NT_STATUS = {
  SUCCESS: 0x00000000,
  PENDING: 0x00000103,
  BUFFER_OVERFLOW: 0x80000005,
  NO_MORE_FILES: 0x80000006,
  INVALID_HANDLE: 0xc0000008,
  INVALID_PARAMETER: 0xc000000d,
  INVALID_DEVICE_REQUEST: 0xc0000010,
  END_OF_FILE: 0xc0000011,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  ACCESS_DENIED: 0xc0000022,
  OBJECT_NAME_INVALID: 0xc0000033,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  OBJECT_PATH_NOT_FOUND: 0xc000003a,
  NO_SUCH_USER: 0xc0000064,
  WRONG_PASSWORD: 0xc000006a,
  LOGON_FAILURE: 0xc000006d,
  ACCOUNT_RESTRICTION: 0xc000006e,
  INVALID_LOGON_HOURS: 0xc000006f,
  INVALID_WORKSTATION: 0xc0000070,
  PASSWORD_EXPIRED: 0xc0000071,
  ACCOUNT_DISABLED: 0xc0000072,
  INSUFFICIENT_RESOURCES: 0xc000009a,
  PIPE_NOT_AVAILABLE: 0xc00000ac,
  INVALID_PIPE_STATE: 0xc00000ad,
  PIPE_BUSY: 0xc00000ae,
  PIPE_DISCONNECTED: 0xc00000b0,
  PIPE_CLOSING: 0xc00000b1,
  NOT_SUPPORTED: 0xc00000bb,
  NETWORK_NAME_DELETED: 0xc00000c9,
  NETWORK_ACCESS_DENIED: 0xc00000ca,
  BAD_NETWORK_NAME: 0xc00000cc,
  REQUEST_NOT_ACCEPTED: 0xc00000d0,
  PIPE_EMPTY: 0xc00000d9,
  FILE_CLOSED: 0xc0000128,
  PIPE_BROKEN: 0xc000014b,
  USER_SESSION_DELETED: 0xc0000203,
  CONNECTION_DISCONNECTED: 0xc000020c,
  CONNECTION_RESET: 0xc000020d,
  ACCOUNT_LOCKED_OUT: 0xc0000234,
  NOT_FOUND: 0xc0000225,
  PASSWORD_MUST_CHANGE: 0xc0000224,
  NETWORK_SESSION_EXPIRED: 0xc000035c,
  INVALID_SIGNATURE: 0xc000a000,
} as const;

export type NtStatusName = keyof typeof NT_STATUS;

const NAMES = new Map<number, NtStatusName>(Object.entries(NT_STATUS).map(([k, v]) => [v, k as NtStatusName]));

/** What a status means, for people (undefined: no explanation beyond the name). */
const EXPLAIN: Partial<Record<NtStatusName, string>> = {
  LOGON_FAILURE: 'logon failed: unknown user name or wrong password',
  WRONG_PASSWORD: 'logon failed: wrong password',
  NO_SUCH_USER: 'logon failed: no such user',
  ACCOUNT_DISABLED: 'logon refused: the account is disabled',
  ACCOUNT_LOCKED_OUT: 'logon refused: the account is locked out',
  ACCOUNT_RESTRICTION: 'logon refused by an account restriction (an empty password, perhaps)',
  PASSWORD_EXPIRED: 'logon refused: the password has expired',
  PASSWORD_MUST_CHANGE: 'logon refused: the password must be changed first',
  INVALID_LOGON_HOURS: 'logon refused outside the account\'s logon hours',
  INVALID_WORKSTATION: 'logon refused from this workstation',
  ACCESS_DENIED: 'access denied',
  NETWORK_ACCESS_DENIED: 'network access denied',
  BAD_NETWORK_NAME: 'no such share on the server',
  OBJECT_NAME_NOT_FOUND: 'no such file or named pipe on the server (is the service running?)',
  OBJECT_PATH_NOT_FOUND: 'no such path on the server',
  OBJECT_NAME_INVALID: 'the name is not valid on the server',
  PIPE_NOT_AVAILABLE: 'the named pipe has no instance available',
  PIPE_BUSY: 'the named pipe is busy',
  PIPE_BROKEN: 'the named pipe was closed by the server',
  PIPE_DISCONNECTED: 'the named pipe is disconnected',
  PIPE_CLOSING: 'the named pipe is being closed',
  CONNECTION_DISCONNECTED: 'the server behind the pipe closed it',
  CONNECTION_RESET: 'the server behind the pipe reset its connection',
  USER_SESSION_DELETED: 'the server ended the session',
  NETWORK_SESSION_EXPIRED: 'the session expired',
  NETWORK_NAME_DELETED: 'the share was disconnected by the server',
  INVALID_SIGNATURE: 'the server did not accept the message signature',
  NOT_SUPPORTED: 'the server does not support this request',
  INVALID_DEVICE_REQUEST: 'the request does not apply to this kind of file',
  INSUFFICIENT_RESOURCES: 'the server is out of resources',
  REQUEST_NOT_ACCEPTED: 'the server accepts no more connections',
};

export function ntStatusName(status: number): string {
  return NAMES.get(status >>> 0) ?? `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

/** A request answered with an NTSTATUS failure. */
export class SmbStatusError extends SmbError {
  override readonly name = 'SmbStatusError';
  /** e.g. 'LOGON_FAILURE', or the hex code when unknown. */
  readonly statusName: string;
  constructor(readonly status: number, readonly operation: string, hint?: string) {
    const name = ntStatusName(status);
    const why = NAMES.has(status >>> 0) ? EXPLAIN[name as NtStatusName] : undefined;
    super(`${operation}: ${why !== undefined ? `${why} (STATUS_${name})` : `failed with STATUS_${name}`}${hint !== undefined ? `; ${hint}` : ''}`);
    this.status = status >>> 0;
    this.statusName = name;
  }
  is(name: NtStatusName): boolean {
    return this.status === NT_STATUS[name];
  }
}

/** Security could not be set up as asked (signing or encryption required but impossible). */
export class SmbSecurityError extends SmbError {
  override readonly name = 'SmbSecurityError';
}

/** The connection is gone (closed by the peer, a socket error, or close()). */
export class SmbConnectionError extends SmbError {
  override readonly name = 'SmbConnectionError';
}
