/**
 * Response fragmentation (docs/DCERPC.md §7, Samba `dcesrv_reply`): each fragment carries at most
 * max_xmit_frag − 24 stub bytes (less sec_trailer and signature when the response is signed),
 * rounded down to a multiple of 16; alloc_hint is the number of stub bytes from this fragment on.
 */
import { AUTH_PAD_ALIGNMENT, PFC, REQUEST_HEADER_LENGTH, SEC_TRAILER_LENGTH } from './constants.js';

/** Stub bytes per response fragment for a negotiated max_xmit_frag and signature size. */
export function responseChunkSize(maxXmitFrag: number, signatureSize = 0): number {
  let chunk = maxXmitFrag - REQUEST_HEADER_LENGTH;
  if (signatureSize > 0) chunk -= SEC_TRAILER_LENGTH + signatureSize;
  return chunk - (chunk % AUTH_PAD_ALIGNMENT);
}

export interface StubFragment {
  readonly pfcFlags: number;
  readonly allocHint: number;
  readonly stub: Uint8Array;
}

/** Splits a response stub; an empty stub still gives one FIRST|LAST fragment. */
export function splitStub(stub: Uint8Array, chunkSize: number): StubFragment[] {
  if (chunkSize <= 0) throw new RangeError(`chunk size ${chunkSize}`);
  const out: StubFragment[] = [];
  let off = 0;
  do {
    const len = Math.min(chunkSize, stub.length - off);
    let flags = 0;
    if (off === 0) flags |= PFC.FIRST_FRAG;
    if (off + len === stub.length) flags |= PFC.LAST_FRAG;
    out.push({ pfcFlags: flags, allocHint: stub.length - off, stub: stub.subarray(off, off + len) });
    off += len;
  } while (off < stub.length);
  return out;
}
