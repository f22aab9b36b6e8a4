import type { NdrReader, NdrWriter } from './cursor.js';
import type { Infer, NdrType } from './type.js';
import type { Rng } from './rng.js';

export type Fields = Readonly<Record<string, NdrType<unknown>>>;
export type StructValue<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

function printFields<F extends Fields>(fields: F, v: StructValue<F>, indent: string): string {
  const lines: string[] = [];
  for (const [k, t] of Object.entries(fields)) {
    lines.push(`${indent}${k}: ${t.print((v as Record<string, unknown>)[k], indent + '  ')}`);
  }
  return lines.length === 0 ? '{}' : `\n${lines.join('\n')}`;
}

function generateFields<F extends Fields>(fields: F, g: Rng, depth: number): StructValue<F> {
  const out: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(fields)) out[k] = t.generate(g, depth + 1);
  return out as StructValue<F>;
}

/**
 * An NDR structure. Aligned to its largest member; a conformant last member has its max_count
 * written at the front of the structure (NDR conformance hoisting). Field order is the key order.
 */
export function struct<F extends Fields>(name: string, fields: F): NdrType<StructValue<F>> {
  const entries = Object.entries(fields);
  const align = Math.max(1, ...entries.map(([, t]) => t.align));
  const last = entries[entries.length - 1];
  const conformantLast = last !== undefined && last[1].conformant === true ? last : undefined;
  const hasBuffers = entries.some(([, t]) => t.hasBuffers);

  return {
    name,
    align,
    hasBuffers,
    writeScalars(w: NdrWriter, v: StructValue<F>): void {
      const rec = v as Record<string, unknown>;
      if (conformantLast) w.u32(conformantLast[1].conformanceOf?.(rec[conformantLast[0]]) ?? 0);
      w.align(align);
      for (const [k, t] of entries) {
        if (t === conformantLast?.[1]) w.pushConformance(0);
        t.writeScalars(w, rec[k]);
      }
    },
    writeBuffers(w: NdrWriter, v: StructValue<F>): void {
      const rec = v as Record<string, unknown>;
      for (const [k, t] of entries) if (t.hasBuffers) t.writeBuffers(w, rec[k]);
    },
    readScalars(r: NdrReader): unknown {
      return r.within(name, () => {
        const maxCount = conformantLast ? r.u32() : 0;
        r.align(align);
        const out: unknown[] = [];
        for (const [k, t] of entries) {
          if (t === conformantLast?.[1]) r.pushConformance(maxCount);
          out.push(r.within(k, () => t.readScalars(r)));
        }
        // Without deferred data the scalar pass is the whole value.
        return hasBuffers ? out : Object.fromEntries(entries.map(([k], i) => [k, out[i]]));
      });
    },
    readBuffers(r: NdrReader, scalars: unknown): StructValue<F> {
      const parts = scalars as unknown[];
      const out: Record<string, unknown> = {};
      r.within(name, () => {
        entries.forEach(([k, t], i) => {
          out[k] = t.hasBuffers ? r.within(k, () => t.readBuffers(r, parts[i])) : parts[i];
        });
      });
      return out as StructValue<F>;
    },
    print: (v, indent) => printFields(fields, v, indent),
    generate: (g, depth) => generateFields(fields, g, depth),
  };
}

/**
 * The parameter list of one direction of an RPC call. Unlike a struct, each top-level parameter
 * is complete on its own: its deferred pointees follow it before the next parameter starts,
 * and each parameter aligns by itself.
 */
export function params<F extends Fields>(name: string, fields: F): NdrType<StructValue<F>> {
  const entries = Object.entries(fields);
  return {
    name,
    align: Math.max(1, ...entries.map(([, t]) => t.align)),
    hasBuffers: false,
    writeScalars(w: NdrWriter, v: StructValue<F>): void {
      const rec = v as Record<string, unknown>;
      for (const [k, t] of entries) {
        t.writeScalars(w, rec[k]);
        if (t.hasBuffers) t.writeBuffers(w, rec[k]);
      }
    },
    writeBuffers(): void {},
    readScalars(r: NdrReader): unknown {
      const out: Record<string, unknown> = {};
      for (const [k, t] of entries) {
        out[k] = r.within(k, () => {
          const s = t.readScalars(r);
          return t.hasBuffers ? t.readBuffers(r, s) : s;
        });
      }
      return out;
    },
    readBuffers: (_r, s) => s as StructValue<F>,
    print: (v, indent) => printFields(fields, v, indent),
    generate: (g, depth) => generateFields(fields, g, depth),
  };
}
