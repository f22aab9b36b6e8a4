/**
 * The connection-oriented PDU codec (docs/DCERPC.md §1–§4). `decodePdu` is total: any bytes give a
 * PDU or a PduError, with work bounded by the input length. Offsets and alignment are relative to
 * the PDU start, as in Samba's parser; integer byte order follows drep[0].
 */
import { guidFromBytes, NdrError, NdrReader } from '../ndr/index.js';
import { DREP_LE, HEADER_LENGTH, PFC, PTYPE, ptypeName } from './constants.js';
import { isLittleEndian } from './drep.js';
import { PduError } from './errors.js';
import type {
  BindVersion, ContextResult, Drep, Pdu, PduHeader, PresentationContext,
} from './pdu-types.js';
import type { SyntaxId } from './syntax.js';

/**
 * frag_length of a PDU whose first 16 bytes are available (byte order from drep[0], as Samba's
 * `dcerpc_get_frag_length`), or undefined with fewer than 16 bytes.
 */
export function peekFragLength(bytes: Uint8Array): number | undefined {
  if (bytes.length < HEADER_LENGTH) return undefined;
  const lo = bytes[8] as number;
  const hi = bytes[9] as number;
  return isLittleEndian(bytes.subarray(4, 8)) ? lo | (hi << 8) : (lo << 8) | hi;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function readSyntax(r: NdrReader): SyntaxId {
  r.align(4);
  const uuid = guidFromBytes(r.bytes(16), r.le);
  const version = r.u32();
  return { uuid, version };
}

function readHeader(r: NdrReader): PduHeader {
  const rpcVers = r.u8();
  const rpcVersMinor = r.u8();
  const ptype = r.u8();
  const pfcFlags = r.u8();
  const d = r.bytes(4);
  const drep: Drep = [d[0] as number, d[1] as number, d[2] as number, d[3] as number];
  const fragLength = r.u16();
  const authLength = r.u16();
  const callId = r.u32();
  return { rpcVers, rpcVersMinor, ptype, pfcFlags, drep, fragLength, authLength, callId };
}

function rest(r: NdrReader): Uint8Array {
  return r.bytes(r.remaining);
}

function decodeBody(r: NdrReader, header: PduHeader): Pdu {
  switch (header.ptype) {
    case PTYPE.request: {
      const allocHint = r.u32();
      const contextId = r.u16();
      const opnum = r.u16();
      let object: string | undefined;
      if (header.pfcFlags & PFC.OBJECT_UUID) {
        r.align(4);
        object = guidFromBytes(r.bytes(16), r.le);
      }
      const stubAndVerifier = rest(r);
      return object === undefined
        ? { kind: 'request', header, allocHint, contextId, opnum, stubAndVerifier }
        : { kind: 'request', header, allocHint, contextId, opnum, object, stubAndVerifier };
    }
    case PTYPE.response: {
      const allocHint = r.u32();
      const contextId = r.u16();
      const cancelCount = r.u8();
      const reserved = r.u8();
      return { kind: 'response', header, allocHint, contextId, cancelCount, reserved, stubAndVerifier: rest(r) };
    }
    case PTYPE.fault: {
      const allocHint = r.u32();
      const contextId = r.u16();
      const cancelCount = r.u8();
      const flags = r.u8();
      const status = r.u32();
      const reserved = r.u32();
      return {
        kind: 'fault', header, allocHint, contextId, cancelCount, flags, status, reserved,
        errorAndVerifier: rest(r),
      };
    }
    case PTYPE.bind:
    case PTYPE.alter_context: {
      const maxXmitFrag = r.u16();
      const maxRecvFrag = r.u16();
      const assocGroupId = r.u32();
      const n = r.u8();
      const contexts: PresentationContext[] = [];
      for (let i = 0; i < n; i++) {
        r.align(4);
        const contextId = r.u16();
        const k = r.u8();
        const abstractSyntax = readSyntax(r);
        r.checkCount(k, 20);
        const transferSyntaxes: SyntaxId[] = [];
        for (let j = 0; j < k; j++) transferSyntaxes.push(readSyntax(r));
        contexts.push({ contextId, abstractSyntax, transferSyntaxes });
      }
      const kind = header.ptype === PTYPE.bind ? 'bind' : 'alter_context';
      return { kind, header, maxXmitFrag, maxRecvFrag, assocGroupId, contexts, authInfo: rest(r) };
    }
    case PTYPE.bind_ack:
    case PTYPE.alter_context_resp: {
      const maxXmitFrag = r.u16();
      const maxRecvFrag = r.u16();
      const assocGroupId = r.u32();
      const secLen = r.u16();
      const secBytes = r.bytes(secLen);
      const nul = secBytes.indexOf(0);
      const secondaryAddress = Buffer.from(nul < 0 ? secBytes : secBytes.subarray(0, nul)).toString('latin1');
      // Pad to a 4-byte boundary of the PDU, clamped to what is there (Samba's NDR_ALIGN4 blob).
      r.bytes(Math.min((4 - (r.pos % 4)) % 4, r.remaining));
      const n = r.u8();
      const results: ContextResult[] = [];
      for (let i = 0; i < n; i++) {
        r.align(4);
        const result = r.u16();
        const reason = r.u16();
        results.push({ result, reason, transferSyntax: readSyntax(r) });
      }
      const kind = header.ptype === PTYPE.bind_ack ? 'bind_ack' : 'alter_context_resp';
      return { kind, header, maxXmitFrag, maxRecvFrag, assocGroupId, secondaryAddress, results, authInfo: rest(r) };
    }
    case PTYPE.bind_nak: {
      const rejectReason = r.u16();
      const versions: BindVersion[] = [];
      if (r.remaining > 0) {
        const n = r.u8();
        r.checkCount(n, 2);
        for (let i = 0; i < n; i++) versions.push({ major: r.u8(), minor: r.u8() });
      }
      return { kind: 'bind_nak', header, rejectReason, versions, pad: rest(r) };
    }
    case PTYPE.auth3: {
      const pad = r.u32();
      return { kind: 'auth3', header, pad, authInfo: rest(r) };
    }
    case PTYPE.co_cancel:
    case PTYPE.orphaned: {
      const kind = header.ptype === PTYPE.co_cancel ? 'co_cancel' : 'orphaned';
      return { kind, header, authInfo: rest(r) };
    }
    case PTYPE.shutdown:
    case PTYPE.ping:
    case PTYPE.working:
    case PTYPE.ack:
      return { kind: ptypeName(header.ptype) as 'shutdown', header, body: rest(r) };
    case PTYPE.cl_cancel:
    case PTYPE.cancel_ack:
    case PTYPE.reject:
    case PTYPE.rts: {
      // Minimum bodies per Samba's IDL: cl_cancel {u32 version, u32 id}; cancel_ack adds a
      // boolean32; reject is a fault body; rts starts {u16 Flags, u16 NumberOfCommands} (its
      // command list is kept opaque).
      const need = { [PTYPE.cl_cancel]: 8, [PTYPE.cancel_ack]: 12, [PTYPE.reject]: 16, [PTYPE.rts]: 4 }[header.ptype] ?? 0;
      r.need(need);
      return { kind: ptypeName(header.ptype) as 'rts', header, body: rest(r) };
    }
    case PTYPE.nocall:
    case PTYPE.fack: {
      // fack {u32 version; u8 pad; u16 window_size; u32 max_tdsu; u32 max_frag_size;
      //       u16 serial_no; u16 selack_size; u32 selack[selack_size]}
      const start = r.pos;
      r.u32();
      r.u8();
      r.u16();
      r.u32();
      r.u32();
      r.u16();
      const selack = r.u16();
      r.align(4);
      r.checkCount(selack, 4);
      r.pos = start;
      return { kind: ptypeName(header.ptype) as 'fack', header, body: rest(r) };
    }
    default:
      throw new PduError('PTYPE', `no PDU has PTYPE ${header.ptype}`, 2);
  }
}

/**
 * Decodes one complete PDU. Throws PduError (never anything else) when the bytes are shorter than
 * a header, frag_length differs from their length, the PTYPE is unknown or the body is truncated —
 * the cases where Samba drops the connection without a reply (§11, transport level).
 * Semantic checks (version, drep, auth_length) are `verifyHeader`'s job: Samba parses such PDUs
 * and answers them.
 */
export function decodePdu(bytes: Uint8Array): Pdu {
  if (bytes.length < HEADER_LENGTH) throw new PduError('SHORT', `${bytes.length} bytes, a header needs 16`, 0);
  const r = new NdrReader(bytes, { littleEndian: isLittleEndian(bytes.subarray(4, 8)) });
  try {
    const header = readHeader(r);
    if (header.fragLength !== bytes.length) {
      throw new PduError('FRAG_LENGTH', `frag_length ${header.fragLength} but ${bytes.length} bytes`, 8);
    }
    return decodeBody(r, header);
  } catch (e) {
    if (e instanceof PduError) throw e;
    if (e instanceof NdrError) {
      const short = e.code === 'BUFSIZE' || e.code === 'ARRAY_SIZE';
      throw new PduError(short ? 'SHORT' : 'BODY', e.message, e.offset);
    }
    throw new PduError('BODY', `unexpected decoder fault: ${String(e)}`, r.pos);
  }
}

/** Decodes only the common header (the first 16 bytes). */
export function decodeHeader(bytes: Uint8Array): PduHeader {
  if (bytes.length < HEADER_LENGTH) throw new PduError('SHORT', `${bytes.length} bytes, a header needs 16`, 0);
  return readHeader(new NdrReader(bytes.subarray(0, HEADER_LENGTH), { littleEndian: isLittleEndian(bytes.subarray(4, 8)) }));
}

/**
 * Samba's `dcerpc_verify_ncacn_packet_header`: the checks every received PDU type gets before it
 * is acted on. `maxAuthInfo` is the length of the blob the auth verifier must fit in. Returns why
 * the header is refused, or undefined. Samba allows every pfc_flags combination on bind, alter,
 * auth3 and request (all eight bits are "optional"), so flags are checked only when asked.
 */
export function verifyHeader(
  h: PduHeader,
  ptype: number,
  maxAuthInfo: number,
  flags: { required?: number; optional?: number } = {},
): string | undefined {
  const required = flags.required ?? 0;
  const optional = flags.optional ?? 0xff;
  if (h.rpcVers !== 5) return `rpc_vers ${h.rpcVers}`;
  if (h.rpcVersMinor !== 0) return `rpc_vers_minor ${h.rpcVersMinor}`;
  if (h.authLength > h.fragLength) return `auth_length ${h.authLength} > frag_length ${h.fragLength}`;
  if (h.ptype !== ptype) return `PTYPE ${ptypeName(h.ptype)}, expected ${ptypeName(ptype)}`;
  if (maxAuthInfo > 0xffff) return 'auth blob larger than 65535';
  if (h.authLength > 0) {
    if (maxAuthInfo <= 8) return `auth_length ${h.authLength} but only ${maxAuthInfo} trailer bytes`;
    if (h.authLength > maxAuthInfo - 8) return `auth_length ${h.authLength} > ${maxAuthInfo - 8}`;
  }
  if ((h.pfcFlags & required) !== required) return `pfc_flags 0x${h.pfcFlags.toString(16)} lack 0x${required.toString(16)}`;
  if (h.pfcFlags & ~(optional | required) & 0xff) return `pfc_flags 0x${h.pfcFlags.toString(16)} not allowed`;
  if (h.drep[0] & ~DREP_LE) return `drep[0] 0x${h.drep[0].toString(16)} (only integer byte order may vary)`;
  if (h.drep[1] !== 0 || h.drep[2] !== 0 || h.drep[3] !== 0) return `drep ${h.drep.join(',')} (non-IEEE or reserved bytes)`;
  return undefined;
}

export { encodePdu } from './pdu-encode.js';
export { isLittleEndian } from './drep.js';
