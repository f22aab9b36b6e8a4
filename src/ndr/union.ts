import type { NdrReader, NdrWriter } from './cursor.js';
import type { Infer, NdrType } from './type.js';

export type Arms = Readonly<Record<number, NdrType<unknown>>>;

/** A union value: the discriminant and, for a declared arm, that arm's value. */
export type UnionValue<A extends Arms> =
  | { [K in keyof A & number]: { tag: K; value: Infer<A[K]> } }[keyof A & number]
  | { tag: number; value?: undefined };

/**
 * A non-encapsulated union with `[switch_type(uint32)]`, used with `[switch_is(x)]`: on the wire
 * the discriminant, then the selected arm. `defaultArm` says whether other discriminants are
 * legal (an empty `[default];`) or a decode error (Samba's NDR_ERR_BAD_SWITCH).
 */
export function union<A extends Arms>(name: string, arms: A, opts: { defaultArm: boolean }): NdrType<UnionValue<A>> {
  const armOf = (tag: number): NdrType<unknown> | undefined => (arms as Record<number, NdrType<unknown>>)[tag];
  const tags = Object.keys(arms).map(Number);
  const align = Math.max(4, ...Object.values(arms).map((t) => t.align));
  return {
    name,
    align,
    hasBuffers: Object.values(arms).some((t) => t.hasBuffers),
    writeScalars(w: NdrWriter, v: UnionValue<A>): void {
      w.u32(v.tag);
      const arm = armOf(v.tag);
      if (arm) arm.writeScalars(w, v.value);
      else if (!opts.defaultArm) throw new RangeError(`${name}: no arm for ${v.tag}`);
    },
    writeBuffers(w: NdrWriter, v: UnionValue<A>): void {
      const arm = armOf(v.tag);
      if (arm?.hasBuffers) arm.writeBuffers(w, v.value);
    },
    readScalars(r: NdrReader): unknown {
      const at = r.pos;
      const tag = r.u32();
      const arm = armOf(tag);
      if (!arm) {
        if (!opts.defaultArm) r.fail('BAD_SWITCH', `${name}: no arm for discriminant ${tag}`, at);
        return { tag };
      }
      const scalars = r.within(`[${tag}]`, () => arm.readScalars(r));
      // Without deferred data the scalar pass is the whole value.
      return arm.hasBuffers ? { tag, scalars } : { tag, value: scalars };
    },
    readBuffers(r: NdrReader, s: unknown): UnionValue<A> {
      const p = s as { tag: number; scalars?: unknown; value?: unknown };
      const arm = armOf(p.tag);
      if (!arm) return { tag: p.tag };
      if (!arm.hasBuffers) return { tag: p.tag, value: p.value } as UnionValue<A>;
      const value = arm.hasBuffers ? r.within(`[${p.tag}]`, () => arm.readBuffers(r, p.scalars)) : p.scalars;
      return { tag: p.tag, value } as UnionValue<A>;
    },
    print(v: UnionValue<A>, indent: string): string {
      const arm = armOf(v.tag);
      return arm ? `[case ${v.tag}] ${arm.print(v.value, indent)}` : `[case ${v.tag}] (empty)`;
    },
    generate(g, depth): UnionValue<A> {
      if (tags.length > 0 && (!opts.defaultArm || g.chance(0.8))) {
        const tag = g.pick(tags);
        return { tag, value: (armOf(tag) as NdrType<unknown>).generate(g, depth + 1) } as UnionValue<A>;
      }
      let tag = g.u32();
      while (armOf(tag)) tag = (tag + 1) >>> 0;
      return { tag };
    },
  };
}
