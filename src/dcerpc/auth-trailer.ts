/**
 * The auth verifier at the end of a PDU (docs/DCERPC.md §8): [auth pad] sec_trailer auth_value.
 * `pullAuthTrailer` mirrors Samba's `dcerpc_pull_auth_trailer`, including its pad checks, so the
 * same PDUs are refused for the same reasons.
 */
import { NdrWriter } from '../ndr/index.js';
import {
  AUTH_PAD_ALIGNMENT, HEADER_LENGTH, REQUEST_HEADER_LENGTH, SEC_TRAILER_LENGTH,
} from './constants.js';
import { PduError } from './errors.js';
import type { PduHeader } from './pdu-types.js';
import { isLittleEndian } from './pdu.js';

/** sec_trailer fields plus the auth_value (credentials / token / signature). */
export interface AuthVerifier {
  readonly authType: number;
  readonly authLevel: number;
  readonly authPadLength: number;
  readonly authReserved: number;
  readonly authContextId: number;
  readonly credentials: Uint8Array;
}

export interface PulledAuthTrailer {
  readonly auth: AuthVerifier;
  /** sec_trailer + auth_value bytes (8 + auth_length), to strip from the end of the blob. */
  readonly trailerLength: number;
}

/**
 * Parses the auth verifier at the end of `blob` (the PDU's trailing blob: `authInfo` for
 * bind/alter/auth3, `stubAndVerifier` for request/response). `authDataOnly` is true for
 * bind/alter/auth3, where nothing but auth pad may precede the sec_trailer.
 * Throws PduError('AUTH_TRAILER') where Samba returns a protocol error.
 */
export function pullAuthTrailer(header: PduHeader, blob: Uint8Array, authDataOnly: boolean): PulledAuthTrailer {
  const fail = (msg: string): never => {
    throw new PduError('AUTH_TRAILER', msg, header.fragLength - header.authLength - SEC_TRAILER_LENGTH);
  };
  if (header.authLength === 0) fail('auth_length is 0');
  if (header.authLength > header.fragLength) fail('auth_length > frag_length');
  if (HEADER_LENGTH + SEC_TRAILER_LENGTH + header.authLength > header.fragLength) {
    fail('auth verifier does not fit in frag_length');
  }
  const trailerLength = SEC_TRAILER_LENGTH + header.authLength;
  if (blob.length < trailerLength) fail(`trailer blob of ${blob.length} bytes, verifier needs ${trailerLength}`);
  const dataAndPad = blob.length - trailerLength;

  // The sec_trailer is read as an NDR struct (4-aligned) from a fresh cursor on the blob.
  const at = (dataAndPad + 3) & ~3;
  if (at + SEC_TRAILER_LENGTH > blob.length) fail('sec_trailer runs past the end');
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const authType = blob[at] as number;
  const authLevel = blob[at + 1] as number;
  let authPadLength = blob[at + 2] as number;
  const authReserved = blob[at + 3] as number;
  const authContextId = view.getUint32(at + 4, isLittleEndian(header.drep));
  const credentials = blob.subarray(at + SEC_TRAILER_LENGTH);

  // The pad must fit in frag_length beyond a 24-byte body header (Samba applies this to all PTYPEs).
  const minimum = REQUEST_HEADER_LENGTH + SEC_TRAILER_LENGTH + header.authLength;
  const maxPad = minimum < header.fragLength ? header.fragLength - minimum : 0;
  if (authPadLength > maxPad) fail(`auth_pad_length ${authPadLength} > ${maxPad}`);
  // Old Samba sent a pad length with no pad bytes on bind/alter/auth3; it is ignored there.
  if (authDataOnly && dataAndPad === 0 && authPadLength > 0) authPadLength = 0;
  if (dataAndPad < authPadLength) fail(`auth_pad_length ${authPadLength} > ${dataAndPad} bytes before the trailer`);
  if (authDataOnly && dataAndPad !== authPadLength) {
    fail(`${dataAndPad} bytes before the sec_trailer, auth_pad_length says ${authPadLength}`);
  }
  return {
    auth: { authType, authLevel, authPadLength, authReserved, authContextId, credentials },
    trailerLength,
  };
}

/** The pad that puts a sec_trailer after `bodyLength` body bytes on a 16-byte boundary. */
export function authPadFor(bodyLength: number): number {
  return (AUTH_PAD_ALIGNMENT - (bodyLength % AUTH_PAD_ALIGNMENT)) % AUTH_PAD_ALIGNMENT;
}

/**
 * Builds `auth pad + sec_trailer + credentials`. The pad length written is `authPadLength`
 * (defaults to the number of pad bytes). Use the result as the trailing blob and set the
 * header's authLength to `credentials.length`.
 */
export function buildAuthVerifier(
  v: {
    authType: number;
    authLevel: number;
    authContextId: number;
    credentials: Uint8Array;
    padBytes?: number;
    authPadLength?: number;
    authReserved?: number;
  },
  littleEndian = true,
): Uint8Array {
  const pad = v.padBytes ?? 0;
  const w = new NdrWriter({ littleEndian, initialSize: pad + SEC_TRAILER_LENGTH + v.credentials.length });
  w.bytes(new Uint8Array(pad));
  w.u8(v.authType);
  w.u8(v.authLevel);
  w.u8(v.authPadLength ?? pad);
  w.u8(v.authReserved ?? 0);
  const id = new Uint8Array(4);
  new DataView(id.buffer).setUint32(0, v.authContextId >>> 0, littleEndian);
  w.bytes(id);
  w.bytes(v.credentials);
  return w.finish().slice();
}
