/** The data representation label (drep) of a PDU: byte order from drep[0] (DCERPC.md §1). */
import { DREP_LE } from './constants.js';
import type { Drep } from './pdu-types.js';

/** True when drep[0] says little-endian integers. */
export function isLittleEndian(drep: Drep | Uint8Array): boolean {
  return ((drep[0] as number) & DREP_LE) !== 0;
}
