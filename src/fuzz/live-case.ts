/**
 * One case of stateful live fuzzing: a shadow copy life cycle (SetContext, Start, Add, Prepare,
 * Commit, Expose, GetShareMapping, RecoveryComplete, Delete) on a real server, where the ids the
 * server hands out (set id from Start, copy ids from Add) are patched into later requests, and one
 * or two steps are mutated: a field replaced by a generated value, the stub's bytes mutated, an
 * unknown opnum or context id, a step repeated or left out. Mutations stay inside well-framed PDUs
 * (complete single-fragment requests), so every request must get an answer or a close.
 *
 * A case is data (`CaseStep[]`): it re-runs the same way, which is what minimization needs.
 */
import { randomUUID } from 'node:crypto';
import type { CallResult, RpcClient } from '../dcerpc/client.js';
import { encodePdu } from '../dcerpc/pdu.js';
import { plainHeader } from '../replay/links.js';
import { PFC_FIRST_LAST } from '../dcerpc/constants.js';
import { ATTR, CTX, hresultName } from '../fsrvp/codes.js';
import { FSRVP_OPERATIONS } from '../fsrvp/idl.js';
import { Rng, decode, encode, type NdrType } from '../ndr/index.js';
import type { CapturedPdu } from '../replay/capture.js';
import { mutate } from './mutate.js';

export interface CaseStep {
  /** The operation whose request is built. */
  readonly opnum: number;
  /**
   * Request fields; these string values are resolved when the step runs: $fresh (a new GUID),
   * $set and $copy (the ids the server returned), $shareN (the UNC of share N), $exposed.
   */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Send this opnum instead (an unknown one). */
  readonly wireOpnum?: number;
  readonly contextId?: number;
  /** Mutate the encoded stub with this seed. */
  readonly mutationSeed?: number;
  /**
   * Send the request PDU as two transport messages, cut at this fraction of its length (two SMB
   * writes on a pipe, two messages on an external pipe socket, two segments on TCP).
   */
  readonly splitAt?: number;
}

/** What a case learnt and left: the janitor undoes it. */
export interface CaseState {
  setIds: Set<string>;
  /** [set, copy, share UNC] of every copy Add returned. */
  copies: Array<[string, string, string]>;
}

export interface StepOutcome {
  /** Coverage key part: op and result (hresult name, fault status, closed, unanswered). */
  readonly op: string;
  readonly result: string;
}

const OP = Object.fromEntries(FSRVP_OPERATIONS.map((o) => [o.name, o.opnum])) as Record<string, number>;
const CONTEXTS = [CTX.BACKUP, CTX.FILE_SHARE_BACKUP, CTX.NAS_ROLLBACK, CTX.APP_ROLLBACK, CTX.BACKUP | ATTR.AUTO_RECOVERY];

/** The well-formed life cycle for `shares` (UNC names). */
function lifeCycle(g: Rng, shareCount: number): CaseStep[] {
  const steps: CaseStep[] = [
    { opnum: OP.SetContext as number, fields: { Context: g.pick(CONTEXTS) } },
    { opnum: OP.StartShadowCopySet as number, fields: { ClientShadowCopySetId: '$fresh' } },
  ];
  const adds = 1 + g.below(Math.max(1, shareCount));
  for (let i = 0; i < adds; i++) steps.push({ opnum: OP.AddToShadowCopySet as number, fields: { ClientShadowCopyId: '$fresh', ShadowCopySetId: '$set', ShareName: `$share${i}` } });
  steps.push(
    { opnum: OP.PrepareShadowCopySet as number, fields: { ShadowCopySetId: '$set', TimeOutInMilliseconds: 30_000 } },
    { opnum: OP.CommitShadowCopySet as number, fields: { ShadowCopySetId: '$set', TimeOutInMilliseconds: 30_000 } },
    { opnum: OP.ExposeShadowCopySet as number, fields: { ShadowCopySetId: '$set', TimeOutInMilliseconds: 30_000 } },
    { opnum: OP.GetShareMapping as number, fields: { ShadowCopyId: '$copy', ShadowCopySetId: '$set', ShareName: '$share0', Level: 1 } },
    { opnum: OP.IsPathShadowCopied as number, fields: { ShareName: '$share0' } },
    { opnum: OP.RecoveryCompleteShadowCopySet as number, fields: { ShadowCopySetId: '$set' } },
    { opnum: OP.DeleteShareMapping as number, fields: { ShadowCopySetId: '$set', ShadowCopyId: '$copy', ShareName: '$share0' } },
  );
  return steps;
}

/** A case: the life cycle cut at a random length, with one or two mutated steps. */
export function generateCase(g: Rng, shareCount: number): CaseStep[] {
  const full = lifeCycle(g, shareCount);
  const steps = full.slice(0, 2 + g.below(full.length - 1));
  const mutations = 1 + (g.chance(0.3) ? 1 : 0);
  for (let m = 0; m < mutations; m++) {
    const at = g.below(steps.length);
    const s = steps[at] as CaseStep;
    const op = FSRVP_OPERATIONS[s.opnum];
    if (!op) continue;
    switch (g.below(8)) {
      case 0: case 1: {
        // One field replaced by a generated value of its type (or another slot).
        const generated = op.request.generate(g, 0) as Record<string, unknown>;
        const keys = Object.keys(s.fields);
        const k = keys.length ? g.pick(keys) : undefined;
        if (k !== undefined) steps[at] = { ...s, fields: { ...s.fields, [k]: g.chance(0.3) ? g.pick(['$set', '$copy', '$share0', '$exposed']) : generated[k] } };
        break;
      }
      case 2: case 3:
        steps[at] = { ...s, mutationSeed: g.below(0x7fffffff) };
        break;
      case 4:
        steps[at] = g.chance(0.5) ? { ...s, wireOpnum: 13 + g.below(8) } : { ...s, contextId: 1 + g.below(3) };
        break;
      case 5:
        steps.splice(at, 0, s);
        break;
      case 6:
        steps[at] = { ...s, splitAt: 0.05 + g.below(90) / 100 };
        break;
      default:
        if (steps.length > 1) steps.splice(at, 1);
    }
  }
  return steps;
}

export interface RunContext {
  readonly rpc: RpcClient;
  readonly shares: readonly string[];
  readonly serverName: string;
  readonly timeoutMs: number;
  readonly state: CaseState;
  /** The PDUs of the case, plain, in the capture format (a replayable fixture). */
  readonly record: CapturedPdu[];
  readonly conn: number;
}

function resolve(v: unknown, c: RunContext, learnt: { set?: string; copy?: string; exposed?: string }): unknown {
  if (typeof v !== 'string') return v;
  if (v === '$fresh') return randomUUID();
  if (v === '$set') return learnt.set ?? randomUUID();
  if (v === '$copy') return learnt.copy ?? randomUUID();
  if (v === '$exposed') return learnt.exposed ?? `\\\\${c.serverName}\\none@{${randomUUID()}}`;
  const m = /^\$share(\d+)$/.exec(v);
  if (m) return `\\\\${c.serverName}\\${c.shares[Number(m[1]) % c.shares.length]}\\`;
  return v;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Runs the steps on an open, bound connection; returns one outcome per step sent. */
export async function runCase(steps: readonly CaseStep[], c: RunContext): Promise<StepOutcome[]> {
  const out: StepOutcome[] = [];
  const learnt: { set?: string; copy?: string; exposed?: string } = {};
  for (const s of steps) {
    const op = FSRVP_OPERATIONS[s.opnum];
    if (!op) continue;
    const value = Object.fromEntries(Object.entries(s.fields).map(([k, v]) => [k, resolve(v, c, learnt)]));
    let stub: Uint8Array;
    try {
      stub = encode(op.request as NdrType<unknown>, value);
    } catch {
      // A generated value the encoder refuses (a field swapped for another type's value): send it raw-mutated instead.
      stub = encode(op.request as NdrType<unknown>, op.request.generate(new Rng(s.opnum), 0));
    }
    if (s.mutationSeed !== undefined) stub = mutate(stub, new Rng(s.mutationSeed), 3).bytes;
    const callId = c.rpc.allocateCallId();
    const opnum = s.wireOpnum ?? s.opnum;
    const name = `${s.wireOpnum !== undefined ? `opnum${s.wireOpnum}` : op.name}${s.splitAt !== undefined ? '(split)' : ''}`;
    c.record.push({
      conn: c.conn, fid: '0', n: c.record.length, dir: 'c2s', ptype: 'request', call_id: callId, opnum, op: name,
      hex: hex(encodePdu({ kind: 'request', header: { callId, pfcFlags: PFC_FIRST_LAST }, allocHint: stub.length, contextId: s.contextId ?? 0, opnum, stubAndVerifier: stub })),
    });
    let r;
    try {
      r = s.splitAt === undefined
        ? await c.rpc.call(s.contextId ?? 0, opnum, stub, { callId, timeoutMs: c.timeoutMs })
        : await splitCall(c.rpc, s.contextId ?? 0, opnum, stub, callId, s.splitAt, c.timeoutMs);
    } catch (e) {
      const closed = c.rpc.isClosed;
      out.push({ op: name, result: closed ? 'closed' : 'unanswered' });
      if (!closed) throw new UnansweredError(`${name} (call ${callId}): ${e instanceof Error ? e.message : String(e)}`);
      return out;
    }
    if (r.fault) {
      out.push({ op: name, result: `fault 0x${r.fault.status.toString(16).padStart(8, '0')}` });
      c.record.push({ conn: c.conn, fid: '0', n: c.record.length, dir: 's2c', ptype: 'fault', call_id: callId, hex: hex(encodePdu({ ...r.fault, header: plainHeader(r.fault.header), errorAndVerifier: new Uint8Array(0) })) });
      continue;
    }
    const head = r.pdus[0];
    c.record.push({
      conn: c.conn, fid: '0', n: c.record.length, dir: 's2c', ptype: 'response', call_id: callId, opnum, op: name,
      hex: hex(encodePdu({ kind: 'response', header: { callId, pfcFlags: PFC_FIRST_LAST }, allocHint: r.stub.length, contextId: head?.contextId ?? 0, cancelCount: 0, reserved: 0, stubAndVerifier: r.stub })),
    });
    const result = r.stub.length >= 4 ? new DataView(r.stub.buffer, r.stub.byteOffset + r.stub.length - 4).getUint32(0, true) : -1;
    out.push({ op: name, result: result < 0 ? 'short stub' : hresultName(result) });
    if (result !== 0 || s.wireOpnum !== undefined) continue;
    learn(op.response as NdrType<unknown>, r.stub, op.name, value, c, learnt);
  }
  return out;
}

/** A call whose (first) request PDU goes out as two transport messages. */
async function splitCall(rpc: RpcClient, contextId: number, opnum: number, stub: Uint8Array, callId: number, at: number, timeoutMs: number): Promise<CallResult> {
  const pdus = rpc.buildRequest(contextId, opnum, stub, { callId });
  for (const [i, pdu] of pdus.entries()) {
    if (i === 0) {
      const cut = Math.max(1, Math.min(pdu.length - 1, Math.floor(pdu.length * at)));
      rpc.sendRaw(pdu.subarray(0, cut));
      rpc.sendRaw(pdu.subarray(cut));
    } else rpc.sendRaw(pdu);
  }
  return rpc.readResponse(callId, timeoutMs);
}

/** Reads the ids a successful Start, Add or GetShareMapping returned. */
function learn(type: NdrType<unknown>, stub: Uint8Array, name: string, req: Record<string, unknown>, c: RunContext, learnt: { set?: string; copy?: string; exposed?: string }): void {
  let res: Record<string, unknown>;
  try {
    res = decode(type, stub).value as Record<string, unknown>;
  } catch {
    return;
  }
  if (name === 'StartShadowCopySet' && typeof res.pShadowCopySetId === 'string') {
    learnt.set = res.pShadowCopySetId;
    c.state.setIds.add(learnt.set);
  }
  if (name === 'AddToShadowCopySet' && typeof res.pShadowCopyId === 'string') {
    learnt.copy ??= res.pShadowCopyId;
    const set = typeof req.ShadowCopySetId === 'string' ? req.ShadowCopySetId : learnt.set ?? '';
    c.state.setIds.add(set);
    c.state.copies.push([set, res.pShadowCopyId, String(req.ShareName)]);
  }
  if (name === 'GetShareMapping') {
    const m = res.ShareMapping as { tag?: number; value?: { ShadowCopyShareName?: string } | null } | undefined;
    if (m?.value?.ShadowCopyShareName) learnt.exposed = m.value.ShadowCopyShareName;
  }
}

export class UnansweredError extends Error {}
