/**
 * The request PDUs of one call (docs/DCERPC.md §7): the stub cut to the fragment size, each
 * fragment signed or sealed when the security context protects packets (§8). RpcClient sends
 * them in order; replay and fuzz tools build them to send by hand.
 */
import { protectedChunk, sealFragment, unsignedVerifier, type ClientAuth } from './client-auth.js';
import { DREP_LE, OBJECT_UUID_LENGTH, PFC, REQUEST_HEADER_LENGTH } from './constants.js';
import { encodePdu } from './pdu.js';
import type { Drep } from './pdu-types.js';

export interface RequestFragmentsArgs {
  readonly contextId: number;
  readonly opnum: number;
  readonly stub: Uint8Array;
  readonly callId: number;
  /** Largest PDU to produce. */
  readonly fragmentSize: number;
  readonly objectUuid?: string;
  readonly bigEndian?: boolean;
  /** The connection's context when it protects packets (integrity, privacy); it is advanced. */
  readonly auth?: ClientAuth;
}

export function requestFragments(a: RequestFragmentsArgs): Uint8Array[] {
  const { stub, auth } = a;
  const drep: Drep = a.bigEndian === true ? [0, 0, 0, 0] : [DREP_LE, 0, 0, 0];
  const headerLength = REQUEST_HEADER_LENGTH + (a.objectUuid !== undefined ? OBJECT_UUID_LENGTH : 0);
  const sigSize = auth?.signatureSize() ?? 0;
  const chunk = auth !== undefined ? protectedChunk(a.fragmentSize, headerLength, sigSize) : a.fragmentSize - headerLength;
  if (chunk <= 0) throw new RangeError(`fragment size ${a.fragmentSize} leaves no room for stub data`);
  const out: Uint8Array[] = [];
  let off = 0;
  do {
    const len = Math.min(chunk, stub.length - off);
    let flags = a.objectUuid !== undefined ? PFC.OBJECT_UUID : 0;
    if (off === 0) flags |= PFC.FIRST_FRAG;
    if (off + len === stub.length) flags |= PFC.LAST_FRAG;
    const part = stub.subarray(off, off + len);
    const sealed = auth !== undefined ? unsignedVerifier(auth, part) : undefined;
    const pdu = encodePdu({
      kind: 'request',
      header: { callId: a.callId, pfcFlags: flags, drep, ...(sealed !== undefined ? { authLength: sigSize } : {}) },
      allocHint: stub.length - off,
      contextId: a.contextId,
      opnum: a.opnum,
      ...(a.objectUuid !== undefined ? { object: a.objectUuid } : {}),
      stubAndVerifier: sealed?.blob ?? part,
    });
    if (auth !== undefined && sealed !== undefined) sealFragment(auth, pdu, headerLength, part.length + sealed.pad);
    out.push(pdu);
    off += len;
  } while (off < stub.length);
  return out;
}
