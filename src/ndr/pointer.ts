import type { NdrType } from './type.js';

type Pending = { id: number; scalars?: unknown; alias?: boolean };

/**
 * An embedded pointer: a 4-byte referent id inline (0 = NULL), the pointee deferred to the
 * buffers pass. `unique` may be NULL; `ref` must not; `full` repeats the referent id of an
 * object already sent and sends its data once.
 */
function pointer<T>(kind: 'unique' | 'ref' | 'full', target: NdrType<T>): NdrType<T | null> {
  return {
    name: `${kind} ${target.name}*`,
    align: 4,
    hasBuffers: true,
    writeScalars(w, v) {
      if (v === null || v === undefined) {
        if (kind === 'ref') throw new RangeError(`NULL for a ref pointer to ${target.name}`);
        w.u32(0);
        return;
      }
      if (kind === 'full') {
        const ids = w.fullReferents;
        const known = ids.get(v);
        if (known !== undefined) {
          w.u32(known.id);
          return;
        }
        const id = w.referent();
        ids.set(v, { id, sent: false });
        w.u32(id);
        return;
      }
      w.u32(w.referent());
    },
    writeBuffers(w, v) {
      if (v === null || v === undefined) return;
      if (kind === 'full') {
        const entry = w.fullReferents.get(v);
        if (entry === undefined || entry.sent) return;
        entry.sent = true;
      }
      target.writeScalars(w, v);
      if (target.hasBuffers) target.writeBuffers(w, v);
    },
    readScalars(r): Pending {
      const id = r.u32();
      if (id === 0 && kind === 'ref') r.fail('RANGE', `NULL ref pointer to ${target.name}`, r.pos - 4);
      return { id };
    },
    readBuffers(r, s) {
      const p = s as Pending;
      if (p.id === 0) return null;
      if (kind === 'full') {
        const seen = r.fullReferents;
        if (seen.has(p.id)) return seen.get(p.id) as T;
        const v = r.within('*', () => {
          const sc = target.readScalars(r);
          return target.hasBuffers ? target.readBuffers(r, sc) : (sc as T);
        });
        seen.set(p.id, v);
        return v;
      }
      return r.within('*', () => {
        const sc = target.readScalars(r);
        return target.hasBuffers ? target.readBuffers(r, sc) : (sc as T);
      });
    },
    print: (v, indent) => (v === null || v === undefined ? 'NULL' : target.print(v, indent)),
    generate: (g, depth) => (kind !== 'ref' && (depth > 6 || g.chance(0.2)) ? null : target.generate(g, depth + 1)),
  };
}

export const unique = <T>(target: NdrType<T>): NdrType<T | null> => pointer('unique', target);
export const full = <T>(target: NdrType<T>): NdrType<T | null> => pointer('full', target);
/** Embedded [ref] pointer; decoding a NULL referent is an error. The value type stays nullable. */
export const ref = <T>(target: NdrType<T>): NdrType<T | null> => pointer('ref', target);
