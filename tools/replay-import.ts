/**
 * `fsrvp-replay import`: turns a pcap/pcapng capture of SMB2 named-pipe or ncacn_ip_tcp traffic
 * into a replayable capture (JSON lines, one DCE/RPC PDU each).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PcapError } from '../src/replay/pcap.js';
import { formatRecords, importCapture, parseSmbKey } from '../src/replay/pcap-import.js';
import type { SmbSessionKeys } from '../src/replay/pcap-smb.js';

export const IMPORT_HELP = `usage: fsrvp-replay import CAPTURE.pcap[ng] [-o OUT.jsonl] [options]

Extracts the DCE/RPC PDUs of a packet capture (pcap or pcapng; Ethernet, Linux cooked, raw IP,
loopback) into the replay format: TCP is reassembled, SMB2 named-pipe traffic (WRITE/READ and
FSCTL_PIPE_TRANSCEIVE, compound requests included) and ncacn_ip_tcp flows are cut into PDUs by
frag_length per pipe handle.

Options:
  -o, --output FILE        write the records there (default: standard output)
  --port P[,P...]          TCP ports carrying SMB (default 445,139)
  --tcp-port P[,P...]      TCP ports of ncacn_ip_tcp servers (FSRVP agents on TCP)
  --pipe NAME              keep this pipe (repeatable; default FssagentRpc; "*" = every pipe)
  --smb-key SID:C2S[:S2C]  SMB3 decryption keys of a session (hex session id and 16/32-byte
                           keys, client-to-server then server-to-client; repeatable)
  --quiet                  no summary on standard error
`;

function ports(v: string, what: string): number[] {
  const list = v.split(',').map((p) => Number(p.trim()));
  if (list.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new UsageError(`${what} takes ports 1..65535, comma-separated`);
  return list;
}

export class UsageError extends Error {}

/** Runs the subcommand; returns the exit status (2 for bad usage or an unreadable capture). */
export function runImport(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(IMPORT_HELP);
    return 0;
  }
  let input: string | undefined;
  let output: string | undefined;
  let smbPorts: number[] | undefined;
  let tcpPorts: number[] | undefined;
  let quiet = false;
  const pipes: string[] = [];
  const keys = new Map<bigint, SmbSessionKeys>();
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      const value = (): string => {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        return v;
      };
      if (a === '-o' || a === '--output') output = value();
      else if (a === '--port') smbPorts = ports(value(), a);
      else if (a === '--tcp-port') tcpPorts = ports(value(), a);
      else if (a === '--pipe') pipes.push(value());
      else if (a === '--smb-key') {
        const k = parseSmbKey(value());
        if (typeof k === 'string') throw new UsageError(`--smb-key ${k}`);
        keys.set(k[0], k[1]);
      } else if (a === '--quiet') quiet = true;
      else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
      else if (input === undefined) input = a;
      else throw new UsageError(`one capture at a time (${input}, ${a})`);
    }
    if (input === undefined) throw new UsageError('which capture? (see import --help)');
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`fsrvp-replay import: ${e.message}`);
      return 2;
    }
    throw e;
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(input));
  } catch (e) {
    console.error(`fsrvp-replay import: ${input}: ${(e as Error).message}`);
    return 2;
  }
  let result;
  try {
    result = importCapture(bytes, {
      ...(smbPorts ? { smbPorts } : {}), ...(tcpPorts ? { tcpPorts } : {}), ...(pipes.length > 0 ? { pipes } : {}), keys,
    });
  } catch (e) {
    if (e instanceof PcapError) {
      console.error(`fsrvp-replay import: ${input}: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const text = formatRecords(result.records);
  if (output === undefined) process.stdout.write(text);
  else writeFileSync(output, text);
  if (!quiet) {
    const s = result.stats;
    const conns = new Set(result.records.map((r) => `${r.conn}/${r.fid}`)).size;
    console.error(`fsrvp-replay import: ${s.frames} frames (${s.format}), ${s.flows} TCP flow(s), ${s.pdus} PDUs on ${conns} pipe handle(s)/connection(s)`);
    const fr = s.ipFragments;
    if (fr.fragments > 0) {
      const dropped = Object.entries(fr.problems).map(([k, v]) => `${k} ${v}`).join(', ');
      console.error(`fsrvp-replay import: ${fr.fragments} IP fragment(s): ${fr.reassembled} datagram(s) reassembled, ${fr.duplicates} duplicate(s) ignored` +
        (dropped ? `; datagrams dropped: ${dropped} (${fr.droppedBytes} bytes)` : ''));
    }
    const sm = s.smb;
    if (sm.sealedSkipped > 0) console.error(`fsrvp-replay import: ${sm.sealedSkipped} encrypted SMB3 message(s) skipped: no key for their session (--smb-key)`);
    if (sm.sealedFailed > 0) console.error(`fsrvp-replay import: ${sm.sealedFailed} encrypted SMB3 message(s) did not decrypt with the key given`);
    if (sm.sealedDecrypted > 0) console.error(`fsrvp-replay import: ${sm.sealedDecrypted} encrypted SMB3 message(s) decrypted`);
    if (sm.compressedSkipped > 0) console.error(`fsrvp-replay import: ${sm.compressedSkipped} compressed SMB3 message(s) skipped`);
    if (sm.malformed > 0) console.error(`fsrvp-replay import: ${sm.malformed} malformed SMB2 message(s) skipped`);
    if (s.tcp.gaps > 0 || sm.resyncs > 0) console.error(`fsrvp-replay import: ${s.tcp.gaps} byte(s) missing from the capture; SMB framing resynchronised ${sm.resyncs} time(s)`);
    if (s.unframable > 0) console.error(`fsrvp-replay import: ${s.unframable} stream(s) stopped at a frag_length below 16`);
    if (s.partialBytes > 0) console.error(`fsrvp-replay import: ${s.partialBytes} byte(s) at stream ends did not make a whole PDU`);
  }
  return 0;
}
