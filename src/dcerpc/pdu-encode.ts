/**
 * Encoding of connection-oriented PDUs (docs/DCERPC.md §1–§4), the other half of pdu.ts: header
 * fields default from the PDU kind, frag_length is patched to the real length, and a value out of
 * its field's range is a PduError('ENCODE'), never a silently truncated field.
 */
import { guidToBytes, NdrWriter } from '../ndr/index.js';
import { DREP_LE, PFC, PFC_FIRST_LAST, PTYPE } from './constants.js';
import { PduError } from './errors.js';
import { isLittleEndian } from './drep.js';
import type { Drep, PduInit, PduKind } from './pdu-types.js';
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
