import { joinBytes } from '../ndr/alloc.js';

/** Joins byte arrays into one new array (pooled memory, see ndr/alloc.ts). */
export const concatBytes = (parts: readonly Uint8Array[]): Uint8Array => joinBytes(parts);
