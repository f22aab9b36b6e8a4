/**
 * Captured FSRVP sessions as JSON lines, one PDU per line (the format of fixtures/samba/*.jsonl,
 * produced from tshark captures): `{conn, fid, n, dir, ptype, call_id, opnum?, op?, hex}`.
 * Each (conn, fid) pair is one pipe handle, i.e. one RPC connection.
 */
import { readFileSync } from 'node:fs';

export interface CapturedPdu {
  conn: number;
  fid: string;
  n: number;
  dir: 'c2s' | 's2c';
  ptype: string;
  call_id: number;
  opnum?: number;
  op?: string;
  hex: string;
}

export class CaptureError extends Error {}

/** Reads and checks a capture file; errors name the line. */
export function loadCapture(file: string): CapturedPdu[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: CapturedPdu[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new CaptureError(`${file}:${i + 1}: not JSON: ${(e as Error).message}`);
    }
    const r = rec as Partial<CapturedPdu>;
    if ((r.dir !== 'c2s' && r.dir !== 's2c') || typeof r.hex !== 'string' || !/^([0-9a-f]{2})+$/i.test(r.hex)) {
      throw new CaptureError(`${file}:${i + 1}: needs dir "c2s"|"s2c" and hex PDU bytes`);
    }
    out.push({
      conn: r.conn ?? 0, fid: r.fid ?? '0', n: r.n ?? out.length, dir: r.dir, ptype: r.ptype ?? '?',
      call_id: r.call_id ?? 0, opnum: r.opnum, op: r.op, hex: r.hex.toLowerCase(),
    });
  });
  return out;
}

/** The key of the RPC connection a captured PDU belongs to. */
export const connectionKey = (p: CapturedPdu): string => `${p.conn}/${p.fid}`;
