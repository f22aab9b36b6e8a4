/** Looking up an enctype by number, or a checksum type's enctype. */
import { aes128CtsHmacSha196, aes256CtsHmacSha196 } from './aes.js';
import type { Enctype } from './enctype.js';
import { rc4Hmac } from './rc4-hmac.js';

const ENCTYPES: ReadonlyMap<number, Enctype> = new Map([aes128CtsHmacSha196, aes256CtsHmacSha196, rc4Hmac].map((e) => [e.etype, e]));

/** The enctype for an etype number, undefined for ones we do not implement (DES, 3DES, SHA-2 types). */
export function getEnctype(etype: number): Enctype | undefined {
  return ENCTYPES.get(etype);
}

/** The enctype whose keys compute checksum type `cksumtype` (15, 16, -138). */
export function enctypeForChecksum(cksumtype: number): Enctype | undefined {
  for (const e of ENCTYPES.values()) if (e.checksumType === cksumtype) return e;
  return undefined;
}

export const SUPPORTED_ETYPES: readonly number[] = [...ENCTYPES.keys()];
