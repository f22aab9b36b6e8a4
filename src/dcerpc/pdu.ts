/**
 * The connection-oriented PDU codec (docs/DCERPC.md §1–§4). `decodePdu` is total: any bytes give a
 * PDU or a PduError, with work bounded by the input length. Offsets and alignment are relative to
 * the PDU start, as in Samba's parser; integer byte order follows drep[0].
 */
import { guidFromBytes, guidToBytes, NdrError, NdrReader, NdrWriter } from '../ndr/index.js';
import { DREP_LE, HEADER_LENGTH, PFC, PFC_FIRST_LAST, PTYPE, ptypeName } from './constants.js';
import { PduError } from './errors.js';
import type {
  BindVersion, ContextResult, Drep, Pdu, PduHeader, PduInit, PduKind, PresentationContext,
} from './pdu-types.js';
import type { SyntaxId } from './syntax.js';

const KIND_PTYPE: Record<PduKind, number> = {
  request: PTYPE.request,
  ping: PTYPE.ping,
  response: PTYPE.response,
  fault: PTYPE.fault,
  working: PTYPE.working,
  nocall: PTYPE.nocall,
  reject: PTYPE.reject,
  ack: PTYPE.ack,
  cl_cancel: PTYPE.cl_cancel,
  fack: PTYPE.fack,
  cancel_ack: PTYPE.cancel_ack,
  bind: PTYPE.bind,
  bind_ack: PTYPE.bind_ack,
  bind_nak: PTYPE.bind_nak,
  alter_context: PTYPE.alter_context,
  alter_context_resp: PTYPE.alter_context_resp,
  auth3: PTYPE.auth3,
  shutdown: PTYPE.shutdown,
  co_cancel: PTYPE.co_cancel,
  orphaned: PTYPE.orphaned,
  rts: PTYPE.rts,
};

/** True when drep[0] says little-endian integers. */
export function isLittleEndian(drep: Drep | Uint8Array): boolean {
  return ((drep[0] as number) & DREP_LE) !== 0;
}

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

// ---------------------------------------------------------------------------------------------
// Encoding

function writeSyntax(w: NdrWriter, s: SyntaxId): void {
  w.align(4);
  w.bytes(guidToBytes(s.uuid, w.le));
  w.u32(s.version);
}

function checkRange(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new PduError('ENCODE', `${name} ${v} out of range 0..${max}`);
}

function writeBody(w: NdrWriter, p: PduInit): void {
  switch (p.kind) {
    case 'request':
      w.u32(p.allocHint);
      w.u16(p.contextId);
      w.u16(p.opnum);
      if (p.object !== undefined) w.bytes(guidToBytes(p.object, w.le));
      w.bytes(p.stubAndVerifier);
      return;
    case 'response':
      w.u32(p.allocHint);
      w.u16(p.contextId);
      w.u8(p.cancelCount);
      w.u8(p.reserved);
      w.bytes(p.stubAndVerifier);
      return;
    case 'fault':
      w.u32(p.allocHint);
      w.u16(p.contextId);
      w.u8(p.cancelCount);
      w.u8(p.flags);
      w.u32(p.status);
      w.u32(p.reserved);
      w.bytes(p.errorAndVerifier);
      return;
    case 'bind':
    case 'alter_context':
      w.u16(p.maxXmitFrag);
      w.u16(p.maxRecvFrag);
      w.u32(p.assocGroupId);
      checkRange('n_context_elem', p.contexts.length, 255);
      w.u8(p.contexts.length);
      for (const c of p.contexts) {
        w.align(4);
        w.u16(c.contextId);
        checkRange('n_transfer_syn', c.transferSyntaxes.length, 255);
        w.u8(c.transferSyntaxes.length);
        writeSyntax(w, c.abstractSyntax);
        for (const t of c.transferSyntaxes) writeSyntax(w, t);
      }
      w.bytes(p.authInfo);
      return;
    case 'bind_ack':
    case 'alter_context_resp': {
      w.u16(p.maxXmitFrag);
      w.u16(p.maxRecvFrag);
      w.u32(p.assocGroupId);
      if (!/^[\x01-\x7f]*$/.test(p.secondaryAddress)) {
        throw new PduError('ENCODE', 'secondary address must be ASCII without NUL');
      }
      const sec = p.secondaryAddress.length === 0 ? new Uint8Array(0) : Buffer.from(`${p.secondaryAddress}\0`, 'latin1');
      w.u16(sec.length);
      w.bytes(sec);
      w.align(4);
      checkRange('n_results', p.results.length, 255);
      w.u8(p.results.length);
      for (const res of p.results) {
        w.align(4);
        w.u16(res.result);
        w.u16(res.reason);
        writeSyntax(w, res.transferSyntax);
      }
      w.bytes(p.authInfo);
      return;
    }
    case 'bind_nak':
      w.u16(p.rejectReason);
      checkRange('n_protocols', p.versions.length, 255);
      w.u8(p.versions.length);
      for (const v of p.versions) {
        w.u8(v.major);
        w.u8(v.minor);
      }
      w.bytes(p.pad);
      return;
    case 'auth3':
      w.u32(p.pad);
      w.bytes(p.authInfo);
      return;
    case 'co_cancel':
    case 'orphaned':
      w.bytes(p.authInfo);
      return;
    default:
      w.bytes(p.body);
  }
}

/**
 * Encodes a PDU. frag_length is computed unless the header sets it; replies of this server use the
 * defaults (version 5.0, little-endian drep `10 00 00 00`).
 */
export function encodePdu(p: PduInit): Uint8Array {
  const h = p.header ?? {};
  const drep: Drep = h.drep ?? [DREP_LE, 0, 0, 0];
  const w = new NdrWriter({ littleEndian: isLittleEndian(drep), initialSize: 128 });
  try {
    w.u8(h.rpcVers ?? 5);
    w.u8(h.rpcVersMinor ?? 0);
    w.u8(h.ptype ?? KIND_PTYPE[p.kind]);
    const objectFlag = p.kind === 'request' && p.object !== undefined ? PFC.OBJECT_UUID : 0;
    w.u8(h.pfcFlags ?? PFC_FIRST_LAST | objectFlag);
    for (const b of drep) w.u8(b);
    w.u16(0); // frag_length, patched below
    w.u16(h.authLength ?? 0);
    w.u32(h.callId ?? 0);
    writeBody(w, p);
  } catch (e) {
    if (e instanceof PduError) throw e;
    throw new PduError('ENCODE', String(e instanceof Error ? e.message : e), w.pos);
  }
  const out = w.finish();
  const fragLength = h.fragLength ?? out.length;
  if (out.length > 0xffff && h.fragLength === undefined) {
    throw new PduError('ENCODE', `PDU of ${out.length} bytes exceeds frag_length 65535`);
  }
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint16(8, fragLength & 0xffff, isLittleEndian(drep));
  return out;
}
