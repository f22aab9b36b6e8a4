/**
 * In-process fuzzing of the NDR decoders of every FSRVP operation (requests and responses):
 * generate a value from the declaration, encode it, mutate the bytes, decode. The only acceptable
 * failure is an NdrError; anything else is a finding. Deterministic for a given seed.
 */
import { NdrError, Rng, decode, encode, type NdrType } from '../ndr/index.js';
import { FSRVP_OPERATIONS } from '../fsrvp/idl.js';
import { mutate, type Mutation } from './mutate.js';

export interface Finding {
  iteration: number;
  target: string;
  input: string; // hex
  mutations: Mutation[];
  error: string;
}

export interface NdrFuzzResult {
  iterations: number;
  decoded: number;
  rejected: number;
  findings: Finding[];
  byCode: Record<string, number>;
}

export function ndrTargets(): [string, NdrType<unknown>][] {
  return FSRVP_OPERATIONS.flatMap((op) => [
    [`${op.name}.in`, op.request as NdrType<unknown>] as [string, NdrType<unknown>],
    [`${op.name}.out`, op.response as NdrType<unknown>] as [string, NdrType<unknown>],
  ]);
}

/** Runs `iterations` cases; `onProgress` is called every 10,000 cases. */
export function fuzzNdr(seed: number, iterations: number, onProgress?: (done: number) => void): NdrFuzzResult {
  const g = new Rng(seed);
  const targets = ndrTargets();
  const out: NdrFuzzResult = { iterations, decoded: 0, rejected: 0, findings: [], byCode: {} };
  for (let i = 0; i < iterations; i++) {
    const [name, type] = g.pick(targets);
    const valid = encode(type, type.generate(g, 0), { littleEndian: g.chance(0.9) });
    const { bytes, mutations } = mutate(valid, g);
    try {
      decode(type, bytes);
      out.decoded++;
    } catch (e) {
      if (e instanceof NdrError) {
        out.rejected++;
        out.byCode[e.code] = (out.byCode[e.code] ?? 0) + 1;
      } else {
        out.findings.push({ iteration: i, target: name, input: Buffer.from(bytes).toString('hex'), mutations, error: String(e) });
      }
    }
    if (onProgress && (i + 1) % 10000 === 0) onProgress(i + 1);
  }
  return out;
}

/** Re-runs one recorded input against its target; returns the error text, or undefined if it now passes. */
export function replayNdrFinding(target: string, inputHex: string): string | undefined {
  const found = ndrTargets().find(([name]) => name === target);
  if (!found) return `unknown target ${target}`;
  try {
    decode(found[1], Uint8Array.from(Buffer.from(inputHex, 'hex')));
    return undefined;
  } catch (e) {
    return e instanceof NdrError ? undefined : String(e);
  }
}
