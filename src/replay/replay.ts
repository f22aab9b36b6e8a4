/**
 * Replays the client side of a captured FSRVP session against a live server and checks every
 * server PDU against the captured one. One connection (TCP connection, SMB pipe handle, external
 * pipe socket) per captured pipe handle; later requests carry the live server's GUIDs in place of
 * the captured ones. With `auth`, binds and calls run authenticated (src/replay/links.ts).
 */
import { RpcClient } from '../dcerpc/client.js';
import type { ClientAuth } from '../dcerpc/client-auth.js';
import { authenticatedLink, rawLink, type ReplayLink } from './links.js';
import { decodePdu, encodePdu } from '../dcerpc/pdu.js';
import type { Pdu } from '../dcerpc/pdu-types.js';
import { decode, encode, type NdrType } from '../ndr/index.js';
import { FSRVP_OPERATIONS } from '../fsrvp/idl.js';
import { connectionKey, type CapturedPdu } from './capture.js';
import { compareValues, learnGuids, rewriteValue, type Difference, type Rewriter } from './rewrite.js';

export interface ReplayOptions {
  /** Opens one RPC connection (default: TCP to host:port). */
  open?: () => Promise<RpcClient>;
  host?: string;
  port?: number;
  /** A fresh security context per connection: binds and calls run authenticated. */
  auth?: () => ClientAuth;
  /** Captured share name -> share name on the live server. */
  shareMap?: Record<string, string>;
  /** Host part for UNC names in rewritten requests (default: as captured). */
  serverName?: string;
  timeoutMs?: number;
  onVerdict?: (v: PduVerdict) => void;
}

export type Verdict = 'identical' | 'equivalent' | 'different' | 'missing';

export interface PduVerdict {
  index: number;
  connection: string;
  ptype: string;
  op?: string;
  callId: number;
  verdict: Verdict;
  /** Field differences; `volatile` ones (GUIDs chosen by the server, times, names) are expected. */
  differences: Difference[];
}

export interface ReplayReport {
  verdicts: PduVerdict[];
  counts: Record<Verdict, number>;
  sent: number;
}

const FIRST_LAST = 0x03;

function opOf(opnum: number | undefined): (typeof FSRVP_OPERATIONS)[number] | undefined {
  return opnum === undefined ? undefined : FSRVP_OPERATIONS[opnum];
}

/** Rewrites a complete single-fragment request: decode, map GUIDs/shares, re-encode. */
function rewriteRequest(bytes: Uint8Array, rw: Rewriter): Uint8Array {
  const pdu = decodePdu(bytes);
  if (pdu.kind !== 'request' || (pdu.header.pfcFlags & FIRST_LAST) !== FIRST_LAST || pdu.header.authLength !== 0) return bytes;
  const op = opOf(pdu.opnum);
  if (!op) return bytes;
  const le = (pdu.header.drep[0] & 0x10) !== 0;
  const type = op.request as NdrType<unknown>;
  const d = decode(type, pdu.stubAndVerifier, { littleEndian: le });
  const trailing = pdu.stubAndVerifier.subarray(d.consumed);
  const stub = encode(type, rewriteValue(d.value, rw), { littleEndian: le });
  const body = new Uint8Array(stub.length + trailing.length);
  body.set(stub);
  body.set(trailing, stub.length);
  return encodePdu({
    kind: 'request',
    header: { pfcFlags: pdu.header.pfcFlags, drep: pdu.header.drep, callId: pdu.header.callId },
    allocHint: body.length, contextId: pdu.contextId, opnum: pdu.opnum, object: pdu.object, stubAndVerifier: body,
  });
}

function comparePdus(captured: Pdu, live: Pdu, op: ReturnType<typeof opOf>, rw: Rewriter, authenticated: boolean): Difference[] {
  if (captured.kind !== live.kind) return [{ path: 'ptype', captured: captured.kind, live: live.kind, volatile: false }];
  if ((captured.kind === 'bind_ack' || captured.kind === 'alter_context_resp') && live.kind === captured.kind) {
    const strip = (p: typeof captured) => ({ ...p, header: { ...p.header, fragLength: 0 } });
    return compareValues(strip(captured), strip(live)).map((d) => ({
      ...d,
      volatile: d.volatile || d.path === 'assocGroupId' || d.path === 'secondaryAddress' || d.path === 'header.fragLength' ||
        // Our own bind asks for header signing; the answer's flag follows.
        (authenticated && d.path === 'header.pfcFlags'),
    }));
  }
  if (captured.kind === 'response' && live.kind === 'response' && op) {
    const type = op.response as NdrType<unknown>;
    const c = decode(type, captured.stubAndVerifier).value;
    const l = decode(type, live.stubAndVerifier).value;
    learnGuids(c, l, rw);
    const mapped = rewriteValue(c, rw);
    const diffs = compareValues(mapped, l, 'stub');
    // GUIDs the live server chose in this very response are volatile too.
    return diffs.map((d) => ({ ...d, volatile: d.volatile || (/^"[0-9a-f-]{36}"$/.test(d.captured) && /^"[0-9a-f-]{36}"$/.test(d.live)) }));
  }
  return compareValues({ ...captured, header: { ...captured.header } }, { ...live, header: { ...live.header } });
}

/** Replays `records` and returns a verdict for every server PDU of the capture. */
export async function replay(records: readonly CapturedPdu[], opts: ReplayOptions): Promise<ReplayReport> {
  const rw: Rewriter = {
    guids: new Map(),
    shares: new Map(Object.entries(opts.shareMap ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    serverName: opts.serverName,
  };
  const clients = new Map<string, ReplayLink>();
  const open = opts.open ?? (() => RpcClient.connect({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 7135, timeoutMs }));
  const lastOp = new Map<string, ReturnType<typeof opOf>>();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const report: ReplayReport = { verdicts: [], counts: { identical: 0, equivalent: 0, different: 0, missing: 0 }, sent: 0 };
  try {
    for (const [index, rec] of records.entries()) {
      const key = connectionKey(rec);
      const bytes = Uint8Array.from(Buffer.from(rec.hex, 'hex'));
      if (rec.dir === 'c2s') {
        let c = clients.get(key);
        if (!c) {
          const rpc = await open();
          c = opts.auth !== undefined ? authenticatedLink(rpc, opts.auth, Math.max(timeoutMs, 60_000)) : rawLink(rpc);
          clients.set(key, c);
        }
        await c.send(rec.ptype === 'request' ? rewriteRequest(bytes, rw) : bytes);
        if (rec.ptype === 'request') lastOp.set(key, opOf(rec.opnum));
        report.sent++;
        continue;
      }
      const c = clients.get(key);
      const liveBytes = c ? await c.next(timeoutMs).catch(() => null) : null;
      const base = { index, connection: key, ptype: rec.ptype, op: rec.op, callId: rec.call_id };
      let v: PduVerdict;
      if (liveBytes === null) v = { ...base, verdict: 'missing', differences: [] };
      else if (Buffer.compare(Buffer.from(liveBytes), Buffer.from(bytes)) === 0) v = { ...base, verdict: 'identical', differences: [] };
      else {
        let differences: Difference[];
        try {
          differences = comparePdus(decodePdu(bytes), decodePdu(liveBytes), lastOp.get(key), rw, opts.auth !== undefined);
        } catch (e) {
          differences = [{ path: 'pdu', captured: rec.hex, live: Buffer.from(liveBytes).toString('hex'), volatile: false }];
          differences.push({ path: 'decode', captured: '', live: String(e), volatile: false });
        }
        v = { ...base, verdict: differences.every((d) => d.volatile) ? 'equivalent' : 'different', differences };
      }
      report.counts[v.verdict]++;
      report.verdicts.push(v);
      opts.onVerdict?.(v);
    }
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close()));
  }
  return report;
}
