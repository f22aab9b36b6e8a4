/**
 * Packet capture of the SMB traffic on loopback (dumpcap) and DCE/RPC service response times
 * per FSRVP operation from it (`tshark -z dcerpc,srt,<uuid>,1.0`): the time between the SMB
 * message carrying a request and the one carrying its response, i.e. smbd plus the FSRVP server
 * behind it, without the client.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { FSRVP_UUID } from '../../src/fsrvp/codes.js';
import { FSRVP_OPERATIONS } from '../../src/fsrvp/idl.js';

const DUMPCAP = '/usr/bin/dumpcap';
const TSHARK = '/usr/bin/tshark';

export interface CaptureSummary {
  readonly received: number;
  readonly dropped: number;
}

/** dumpcap on `lo` with capture filter `tcp port 445`, writing `file`. */
export class Capture {
  private stderr = '';
  private exited = false;
  private readonly closed: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderr += s;
    });
    child.on('exit', () => {
      this.exited = true;
    });
  }

  /** Starts capturing; resolves once dumpcap reports its output file (then waits 200 ms more). */
  static async start(file: string): Promise<Capture> {
    const child = spawn(DUMPCAP, ['-i', 'lo', '-f', 'tcp port 445', '-B', '64', '-q', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const c = new Capture(child);
    const deadline = Date.now() + 10_000;
    while (!/^File: /m.test(c.stderr)) {
      if (c.exited) throw new Error(`dumpcap exited: ${c.stderr.trim()}`);
      if (Date.now() > deadline) {
        c.kill();
        throw new Error(`dumpcap did not start: ${c.stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    return c;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Stops dumpcap and returns its packet counts. Waits 1 s first: libpcap hands packets over in
   * blocks, and a block still filling when dumpcap gets SIGINT is lost (measured: the last
   * ~0.2 s of a capture went missing without the wait). SIGKILL after 10 s.
   */
  async stop(): Promise<CaptureSummary> {
    if (!this.exited) {
      await new Promise((r) => setTimeout(r, 1000));
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.closed;
      clearTimeout(timer);
    }
    await this.closed;
    const m = /received\/dropped on interface '.*?':\s*(\d+)\/(\d+)/.exec(this.stderr);
    return { received: Number(m?.[1] ?? NaN), dropped: Number(m?.[2] ?? NaN) };
  }

  /** Synchronous last-resort kill (for signal handlers). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

export interface ServerTime {
  readonly opnum: number;
  readonly name: string;
  readonly calls: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly avgMs: number;
}

const OP_NAMES = new Map<number, string>(FSRVP_OPERATIONS.map((op) => [op.opnum, op.name]));

/** `tshark -z dcerpc,srt,<FSRVP uuid>,1.0` on a capture file: server time per operation. */
export async function serverTimes(file: string): Promise<{ times: ServerTime[]; raw: string }> {
  const raw = await new Promise<string>((resolve, reject) => {
    execFile(TSHARK, ['-n', '-r', file, '-q', '-z', `dcerpc,srt,${FSRVP_UUID},1.0`], { maxBuffer: 16 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tshark -r ${file}: ${err.message}: ${String(stderr).trim()}`));
      else resolve(String(stdout));
    });
  });
  return { times: parseSrt(raw), raw };
}

/**
 * Parses tshark 4.0's SRT table: rows `<index = opnum> <procedure> <calls> <min> <max> <avg> <sum>`
 * with times in seconds.
 */
export function parseSrt(text: string): ServerTime[] {
  const out: ServerTime[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+\d+\.\d+\s*$/.exec(line);
    if (!m) continue;
    const opnum = Number(m[1]);
    out.push({
      opnum,
      name: OP_NAMES.get(opnum) ?? (m[2] as string),
      calls: Number(m[3]),
      minMs: Number(m[4]) * 1000,
      maxMs: Number(m[5]) * 1000,
      avgMs: Number(m[6]) * 1000,
    });
  }
  return out;
}
