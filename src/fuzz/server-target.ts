/**
 * Fuzzing a running FSRVP server's PDU handling over any transport (TCP, SMB pipe, external pipe
 * socket): each case opens a connection of its own, sends a valid bind and request (either may be
 * mutated; frag_length is usually patched to stay consistent so mutations reach the body), then a
 * canary GetSupportedVersion, as server-delivery.ts delivers them. The server must answer the
 * canary or close within the timeout (no hang). After every batch, a bystander connection opened
 * at the start must still answer, and a fresh connection must bind and answer GetSupportedVersion
 * (a bad PDU never disturbs another connection, nor later ones).
 */
import { RpcClient } from '../dcerpc/client.js';
import { encodePdu } from '../dcerpc/pdu.js';
import { NDR20, bindTimeFeatureSyntax, syntaxId } from '../dcerpc/syntax.js';
import { Rng, encode } from '../ndr/index.js';
import { FSRVP_OPERATIONS, GetSupportedVersion } from '../fsrvp/idl.js';
import { FSRVP_UUID, hresultName } from '../fsrvp/codes.js';
import { mutate } from './mutate.js';
import { CANARY_CALL_ID, deliver, observe, type ServerTransport } from './server-delivery.js';

export type { ServerTransport } from './server-delivery.js';

export type ServerFindingKind = 'hang' | 'bystander-broken' | 'canary-failed' | 'connect-failed' | 'transport-error';

export interface ServerFinding {
  iteration: number;
  kind: ServerFindingKind;
  /** Which transport the case went over, and the target's name (tcp:H:P, smb://H/IPC$/PIPE, unix:PATH). */
  transport: ServerTransport;
  address: string;
  /** Hex of the case's PDUs (before delivery). */
  pdus: string[];
  /** Hex of what went out: stream writes over TCP, messages over a pipe (canaries included). */
  sent: string[];
  detail: string;
}

export interface ServerFuzzOptions {
  /** A fresh connection (TCP connection, pipe handle, socket); default: TCP to host:port. */
  open?: (timeoutMs: number) => Promise<RpcClient>;
  /** How cases are delivered (default tcp). */
  transport?: ServerTransport;
  /** The target's name in findings (default tcp:host:port). */
  address?: string;
  host?: string;
  port?: number;
  seed: number;
  iterations: number;
  timeoutMs?: number;
  /** Health checks (bystander and a fresh canary connection) every this many cases (default 50). */
  batch?: number;
  /** Opnums whose requests may be sent (default: the read-only ones: 0, 8, 9, 10). */
  opnums?: readonly number[];
  onProgress?: (done: number) => void;
}

export interface ServerFuzzResult {
  summary: string;
  findings: ServerFinding[];
  /** Case outcomes: answered, closed, hang, error. */
  replies: Record<string, number>;
  /** Over a pipe: cases whose last frame was completed with zero bytes, and cases whose framing broke. */
  delivery: { padded: number; broken: number };
  /** Every health check held: the bystander and a fresh connection answered. */
  canaryAlive: boolean;
}

const FSRVP = syntaxId(FSRVP_UUID, 1, 0);
const FSRVP_NDR20 = [{ contextId: 0, abstractSyntax: FSRVP, transferSyntaxes: [NDR20] }];

function bindPdu(g: Rng, callId: number): Uint8Array {
  const contexts = [...FSRVP_NDR20];
  if (g.chance(0.5)) contexts.push({ contextId: 1, abstractSyntax: FSRVP, transferSyntaxes: [bindTimeFeatureSyntax(3)] });
  return encodePdu({
    kind: 'bind', header: { callId, pfcFlags: 3 }, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0, contexts, authInfo: new Uint8Array(0),
  });
}

function requestPdu(g: Rng, callId: number, opnums: readonly number[]): Uint8Array {
  const op = FSRVP_OPERATIONS[g.pick(opnums)] ?? GetSupportedVersion;
  const stub = encode(op.request, op.request.generate(g, 0) as never);
  return encodePdu({
    kind: 'request', header: { callId, pfcFlags: 3 }, allocHint: stub.length, contextId: 0, opnum: op.opnum, stubAndVerifier: stub,
  });
}

/** Patches frag_length (little-endian PDUs) to the real length, so the framing holds. */
function fixLength(pdu: Uint8Array): Uint8Array {
  if (pdu.length >= 10 && pdu.length <= 0xffff && (pdu[4] as number) & 0x10) {
    new DataView(pdu.buffer, pdu.byteOffset).setUint16(8, pdu.length, true);
  }
  return pdu;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A fresh connection binds FSRVP and answers GetSupportedVersion with S_OK; else what went wrong. */
async function freshCanary(open: (t: number) => Promise<RpcClient>, timeoutMs: number): Promise<string | undefined> {
  let rpc: RpcClient | undefined;
  try {
    rpc = await open(timeoutMs);
    const ack = await rpc.bind({ contexts: FSRVP_NDR20, timeoutMs });
    if (ack.kind === 'bind_nak') return `the bind was refused (bind_nak, reason ${ack.rejectReason})`;
    const r = await rpc.callOp(GetSupportedVersion, {}, { timeoutMs });
    return r.result === 0 ? undefined : `GetSupportedVersion returned ${hresultName(r.result)}`;
  } catch (e) {
    return message(e);
  } finally {
    await rpc?.close().catch(() => undefined);
  }
}

export async function fuzzServer(o: ServerFuzzOptions): Promise<ServerFuzzResult> {
  const g = new Rng(o.seed);
  const timeoutMs = o.timeoutMs ?? 3000;
  const batch = Math.max(1, o.batch ?? 50);
  const opnums = o.opnums ?? [0, 8, 9, 10];
  const transport = o.transport ?? 'tcp';
  const address = o.address ?? `tcp:${o.host ?? '127.0.0.1'}:${o.port ?? 7135}`;
  const open = o.open ?? ((t: number) => RpcClient.connect({ host: o.host ?? '127.0.0.1', port: o.port ?? 7135, timeoutMs: t }));
  const findings: ServerFinding[] = [];
  const replies: Record<string, number> = {};
  const delivery = { padded: 0, broken: 0 };
  let canaryAlive = true;
  const canary = requestPdu(new Rng(0), CANARY_CALL_ID, [0]);
  const finding = (iteration: number, kind: ServerFindingKind, pdus: readonly Uint8Array[], sent: readonly Uint8Array[], detail: string): void => {
    findings.push({ iteration, kind, transport, address, pdus: pdus.map(hex), sent: sent.map(hex), detail });
  };
  const bystander = await open(timeoutMs);
  const bystanderOk = async (): Promise<string | undefined> => {
    try {
      const r = await bystander.call(0, 0, new Uint8Array(0), { timeoutMs });
      return r.fault ? `fault 0x${r.fault.status.toString(16)}` : undefined;
    } catch (e) {
      return String(e);
    }
  };
  try {
    await bystander.bind({ contexts: FSRVP_NDR20, timeoutMs });
    for (let i = 0; i < o.iterations; i++) {
      let pdus = [bindPdu(g, 1), requestPdu(g, 2, opnums)];
      const target = g.below(pdus.length);
      const mutated = mutate(pdus[target] as Uint8Array, g, 3).bytes;
      pdus[target] = g.chance(0.8) ? fixLength(mutated) : mutated;
      if (g.chance(0.1)) pdus = [pdus[target] as Uint8Array];
      let rpc: RpcClient;
      try {
        rpc = await open(timeoutMs);
      } catch (e) {
        finding(i, 'connect-failed', pdus, [], message(e));
        break;
      }
      let sent: Uint8Array[] = [];
      let outcome;
      try {
        const d = deliver(rpc, transport, pdus, canary);
        sent = d.sent;
        if (d.plan?.filler) delivery.padded++;
        if (d.plan?.broken) delivery.broken++;
        outcome = await observe(rpc, Date.now() + timeoutMs);
      } finally {
        await rpc.close().catch(() => undefined);
      }
      const key = typeof outcome === 'string' ? outcome : 'error';
      replies[key] = (replies[key] ?? 0) + 1;
      if (outcome === 'hang') finding(i, 'hang', pdus, sent, `no answer to the canary and no close within ${timeoutMs} ms`);
      else if (typeof outcome !== 'string') finding(i, 'transport-error', pdus, sent, outcome.error);
      if ((i + 1) % batch === 0 || i === o.iterations - 1) {
        const broken = await bystanderOk();
        if (broken) {
          canaryAlive = false;
          finding(i, 'bystander-broken', pdus, sent, broken);
          break;
        }
        const dead = await freshCanary(open, timeoutMs);
        if (dead !== undefined) {
          canaryAlive = false;
          finding(i, 'canary-failed', pdus, sent, `a fresh connection after case ${i}: ${dead}`);
          break;
        }
      }
      if (o.onProgress && (i + 1) % 100 === 0) o.onProgress(i + 1);
    }
  } finally {
    await bystander.close().catch(() => undefined);
  }
  const total = Object.values(replies).reduce((a, b) => a + b, 0);
  const pipeNote = transport === 'tcp' ? '' : `; ${delivery.padded} last frames completed with zero bytes, ${delivery.broken} with frag_length below 16`;
  const summary = `${total} cases over ${transport}: ${Object.entries(replies).map(([k, v]) => `${k} ${v}`).join(', ')}${pipeNote}; ` +
    `canary ${canaryAlive ? 'alive' : 'DEAD'}; ${findings.length} findings`;
  return { summary, findings, replies, delivery, canaryAlive };
}
