/**
 * Fuzzing a running agent over TCP: each case opens a connection, sends a valid bind and request
 * (either may be mutated; frag_length is usually patched to stay consistent so mutations reach
 * the body), then a canary GetSupportedVersion, and half-closes. The server must answer the
 * canary or close the connection within the timeout (no hang), and a bystander connection opened
 * at the start must keep working throughout (a bad PDU never disturbs another connection).
 */
import { connect } from 'node:net';
import { RpcClient } from '../dcerpc/client.js';
import { PduFramer } from '../dcerpc/framing.js';
import { encodePdu } from '../dcerpc/pdu.js';
import { NDR20, bindTimeFeatureSyntax, syntaxId } from '../dcerpc/syntax.js';
import { Rng, encode } from '../ndr/index.js';
import { FSRVP_OPERATIONS, GetSupportedVersion } from '../fsrvp/idl.js';
import { FSRVP_UUID } from '../fsrvp/codes.js';
import { mutate } from './mutate.js';

export interface ServerFinding {
  iteration: number;
  kind: 'hang' | 'bystander-broken' | 'connect-failed';
  pdus: string[]; // hex of what was sent
  detail: string;
}

export interface ServerFuzzOptions {
  host: string;
  port: number;
  seed: number;
  iterations: number;
  timeoutMs?: number;
  /** Opnums whose requests may be sent (default: the read-only ones: 0, 8, 9, 10). */
  opnums?: readonly number[];
  onProgress?: (done: number) => void;
}

export interface ServerFuzzResult {
  summary: string;
  findings: ServerFinding[];
  replies: Record<string, number>;
}

const FSRVP = syntaxId(FSRVP_UUID, 1, 0);

function bindPdu(g: Rng, callId: number): Uint8Array {
  const contexts = [{ contextId: 0, abstractSyntax: FSRVP, transferSyntaxes: [NDR20] }];
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

/**
 * Sends the PDUs and a canary request on a fresh connection, then half-closes it: from then on
 * the server cannot be waiting for more bytes, so it must answer the canary or close within the
 * timeout. Anything else is a hang.
 */
function sendAndObserve(host: string, port: number, pdus: Uint8Array[], timeoutMs: number): Promise<'answered' | 'closed' | 'hang' | Error> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const framer = new PduFramer();
    let settled = false;
    const done = (v: 'answered' | 'closed' | 'hang' | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('hang'), timeoutMs);
    socket.on('connect', () => {
      for (const p of pdus) socket.write(p);
      socket.end(requestPdu(new Rng(0), CANARY_CALL_ID, [0]));
    });
    socket.on('data', (chunk: Buffer) => {
      for (const pdu of framer.push(chunk)) {
        if (pdu.length >= 16 && new DataView(pdu.buffer, pdu.byteOffset).getUint32(12, true) === CANARY_CALL_ID) done('answered');
      }
    });
    socket.on('close', () => done('closed'));
    socket.on('error', (e) => done(e.message.includes('ECONNREFUSED') ? e : 'closed'));
  });
}

const CANARY_CALL_ID = 0x7ffffff0;

export async function fuzzServer(o: ServerFuzzOptions): Promise<ServerFuzzResult> {
  const g = new Rng(o.seed);
  const timeoutMs = o.timeoutMs ?? 3000;
  const opnums = o.opnums ?? [0, 8, 9, 10];
  const findings: ServerFinding[] = [];
  const replies: Record<string, number> = {};
  const bystander = await RpcClient.connect({ host: o.host, port: o.port });
  const bystanderOk = async (): Promise<string | undefined> => {
    try {
      const r = await bystander.call(0, 0, new Uint8Array(0), { timeoutMs });
      return r.fault ? `fault 0x${r.fault.status.toString(16)}` : undefined;
    } catch (e) {
      return String(e);
    }
  };
  await bystander.bind({ contexts: [{ contextId: 0, abstractSyntax: FSRVP, transferSyntaxes: [NDR20] }] });
  try {
    for (let i = 0; i < o.iterations; i++) {
      let pdus = [bindPdu(g, 1), requestPdu(g, 2, opnums)];
      const target = g.below(pdus.length);
      const mutated = mutate(pdus[target] as Uint8Array, g, 3).bytes;
      pdus[target] = g.chance(0.8) ? fixLength(mutated) : mutated;
      if (g.chance(0.1)) pdus = [pdus[target] as Uint8Array];
      const outcome = await sendAndObserve(o.host, o.port, pdus, timeoutMs);
      const sent = pdus.map((p) => Buffer.from(p).toString('hex'));
      if (outcome instanceof Error) {
        findings.push({ iteration: i, kind: 'connect-failed', pdus: sent, detail: outcome.message });
        break;
      }
      replies[outcome] = (replies[outcome] ?? 0) + 1;
      if (outcome === 'hang') {
        findings.push({ iteration: i, kind: 'hang', pdus: sent, detail: `half-closed, yet no answer and no close within ${timeoutMs} ms` });
      }
      if (i % 50 === 49 || i === o.iterations - 1) {
        const broken = await bystanderOk();
        if (broken) {
          findings.push({ iteration: i, kind: 'bystander-broken', pdus: pdus.map((p) => Buffer.from(p).toString('hex')), detail: broken });
          break;
        }
      }
      if (o.onProgress && (i + 1) % 100 === 0) o.onProgress(i + 1);
    }
  } finally {
    await bystander.close();
  }
  const summary = `${o.iterations} cases: ${Object.entries(replies).map(([k, v]) => `${k} ${v}`).join(', ')}; ${findings.length} findings`;
  return { summary, findings, replies };
}
