/**
 * FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 2.2.31.4, 3.2.5.14.12): on a signed 3.0 / 3.0.2 session
 * the client repeats what it negotiated and the server, in a signed answer, what it chose; any
 * difference means someone rewrote the NEGOTIATE exchange (a downgrade), and the connection is
 * dropped. 3.1.1 has preauth integrity instead; 2.x has neither.
 */
import { NT_STATUS, SmbSecurityError } from './errors.js';
import { COMMAND, DIALECT } from './header.js';
import { FSCTL_VALIDATE_NEGOTIATE_INFO, decodeIoctlResponse, encodeIoctlRequest } from './messages.js';
import type { Negotiated } from './session.js';
import type { Response, RequestOptions } from './connection.js';
import { Reader, Writer, equalBytes } from './wire.js';

const ANY_FILE = { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn };

export function needsValidation(neg: Negotiated, signing: boolean): boolean {
  return signing && (neg.dialect === DIALECT.SMB300 || neg.dialect === DIALECT.SMB302);
}

export function encodeValidateInput(neg: Negotiated): Uint8Array {
  const w = new Writer().u32(neg.sent.capabilities).bytes(neg.sent.clientGuid).u16(neg.securityMode).u16(neg.sent.dialects.length);
  for (const d of neg.sent.dialects) w.u16(d);
  return w.finish();
}

/** Sends the FSCTL on a tree (IPC$) and checks the answer against the NEGOTIATE response. */
export async function validateNegotiate(
  neg: Negotiated,
  request: (command: number, body: Uint8Array, opts?: RequestOptions) => Promise<Response>,
): Promise<void> {
  const input = encodeValidateInput(neg);
  const res = await request(COMMAND.IOCTL, encodeIoctlRequest(FSCTL_VALIDATE_NEGOTIATE_INFO, ANY_FILE, input, 24), { payloadSize: input.length });
  // The answer was signed (the connection checks that on a signing session), so a failure status
  // is the server's own verdict.
  if (res.header.status !== NT_STATUS.SUCCESS) {
    throw new SmbSecurityError(`validate negotiate failed with status 0x${res.header.status.toString(16)}: the NEGOTIATE exchange may have been tampered with`);
  }
  const out = new Reader(decodeIoctlResponse(res.msg).output);
  const s = neg.server;
  const same = out.length >= 24 && out.u32(0) === s.capabilities && equalBytes(out.bytesAt(4, 16), s.serverGuid) &&
    out.u16(20) === s.securityMode && out.u16(22) === s.dialect;
  if (!same) throw new SmbSecurityError('validate negotiate: the server\'s answer differs from its NEGOTIATE response (downgrade attempt?)');
}
