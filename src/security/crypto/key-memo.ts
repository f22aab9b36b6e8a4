/**
 * Something made from a key, kept with that key object (a WeakMap: it goes with the key) and
 * used only while the key's bytes are still the ones it was made from, so a key changed in place
 * gets a fresh one. Sessions use one key for every message; what is expensive to make from it
 * (long-lived ciphers, CMAC subkeys, derived usage keys) is made once.
 */
import { bytesEqual } from './bytes.js';

export interface KeyMemo<T> {
  /** What `make` made from `key`'s current bytes (made now when there is none). */
  get(key: Uint8Array): T;
  /** Drops what was made from `key` (its state is no longer trusted). */
  forget(key: Uint8Array): void;
}

export function keyMemo<T>(make: (key: Uint8Array) => T): KeyMemo<T> {
  const made = new WeakMap<Uint8Array, { readonly base: Uint8Array; readonly value: T }>();
  return {
    get(key) {
      const hit = made.get(key);
      if (hit !== undefined && bytesEqual(hit.base, key)) return hit.value;
      const value = make(key);
      made.set(key, { base: Uint8Array.from(key), value });
      return value;
    },
    forget(key) {
      made.delete(key);
    },
  };
}
