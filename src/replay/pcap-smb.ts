/**
 * Named-pipe traffic out of one SMB2/3 TCP connection's two byte streams: NetBIOS session
 * framing (direct TCP 445 and NBT 139), compound messages (NextCommand), CREATE of a pipe (the
 * file id is remembered with the pipe name), WRITE and FSCTL_PIPE_TRANSCEIVE requests (bytes to
 * the server), READ and TRANSCEIVE responses matched to their requests by MessageId (bytes to
 * the client, STATUS_BUFFER_OVERFLOW parts included). Encrypted messages (TRANSFORM_HEADER) are
 * opened with given keys, else counted as skipped. Malformed messages are counted, never thrown.
 */
import { SmbError } from '../smb/errors.js';
import { COMMAND, HDR_FLAGS, HEADER_SIZE, PROTOCOL_SMB1, PROTOCOL_SMB2, PROTOCOL_TRANSFORM, decodeHeader } from '../smb/header.js';
import { CIPHER, decodeTransformHeader, decryptMessage, type CipherId } from '../smb/encryption.js';
import { FSCTL_PIPE_TRANSCEIVE } from '../smb/messages.js';
import { Reader, fromUtf16le } from '../smb/wire.js';
import { joinBytes } from '../ndr/index.js';

/** Keys of one SMB3 session (as Wireshark asks for them): client-to-server and server-to-client. */
export interface SmbSessionKeys {
  readonly c2s: Uint8Array;
  readonly s2c: Uint8Array;
}

export interface PipeChunk {
  /** The file id (persistent then volatile, wire order) as hex. */
  readonly fid: string;
  readonly pipe: string;
  readonly fromClient: boolean;
  readonly bytes: Uint8Array;
}

export interface SmbStats {
  messages: number;
  sealedDecrypted: number;
  /** Encrypted messages of sessions without a key. */
  sealedSkipped: number;
  /** Encrypted messages no given key opened. */
  sealedFailed: number;
  compressedSkipped: number;
  malformed: number;
  /** Framing lost after a TCP gap, bytes skipped to find the next message. */
  resyncs: number;
}

export const newSmbStats = (): SmbStats => ({ messages: 0, sealedDecrypted: 0, sealedSkipped: 0, sealedFailed: 0, compressedSkipped: 0, malformed: 0, resyncs: 0 });

export interface SmbFlowOptions {
  /** Whether a pipe (name as opened, without `\PIPE\`) is kept. */
  readonly keep: (pipe: string) => boolean;
  readonly keys: ReadonlyMap<bigint, SmbSessionKeys>;
  readonly stats: SmbStats;
}

const STATUS_SUCCESS = 0;
const STATUS_PENDING = 0x00000103;
const STATUS_BUFFER_OVERFLOW = 0x80000005;
const PROTOCOL_COMPRESSED = 0x424d53fc;
/** NetBIOS session message types other than data: request, responses, retarget, keepalive. */
const NBT_MESSAGE = 0x00;
/** Requests waiting for their response, per connection. */
const MAX_PENDING = 8192;
const B = HEADER_SIZE;

type FidRef = string | { readonly create: bigint };

interface PendingRequest {
  readonly command: number;
  readonly fid?: FidRef;
  readonly name?: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ALL_FF = 'ff'.repeat(16);

/** `\PIPE\FssagentRpc`, `\\pipe\\fssagentrpc` or `FssagentRpc` -> `FssagentRpc`. */
export function pipeBaseName(name: string): string {
  return name.replace(/^[\\/]+/, '').replace(/^pipe[\\/]+/i, '');
}

function ciphersFor(key: Uint8Array): CipherId[] {
  return key.length === 32 ? [CIPHER.AES_256_GCM, CIPHER.AES_256_CCM] : [CIPHER.AES_128_GCM, CIPHER.AES_128_CCM];
}

/** The SMB side of one TCP connection. */
export class SmbFlow {
  /** Bytes received but not yet a whole message, kept as chunks until enough are there. */
  private readonly bufs: [Uint8Array[], Uint8Array[]] = [[], []];
  private readonly have: [number, number] = [0, 0];
  /** Bytes needed before framing is tried again (the current message's size, once known). */
  private readonly need: [number, number] = [4, 4];
  private readonly resync: [boolean, boolean] = [false, false];
  private readonly pipes = new Map<string, string>();
  private readonly pending = new Map<bigint, PendingRequest>();
  private readonly createdFid = new Map<bigint, string>();
  /** Request bytes to a pipe CREATEd in the same compound, waiting for the CREATE response. */
  private readonly deferred = new Map<bigint, Uint8Array[]>();

  constructor(private readonly opts: SmbFlowOptions) {}

  /** Bytes of one direction, in order; returns the pipe bytes they complete. */
  push(fromClient: boolean, bytes: Uint8Array): PipeChunk[] {
    const i = fromClient ? 0 : 1;
    this.bufs[i].push(new Uint8Array(bytes));
    this.have[i] += bytes.length;
    const out: PipeChunk[] = [];
    // A large message arriving in many segments is joined once, when complete.
    if (this.have[i] < this.need[i]) return out;
    let buf = this.bufs[i].length === 1 ? (this.bufs[i][0] as Uint8Array) : joinBytes(this.bufs[i]);
    this.need[i] = 4;
    for (;;) {
      if (this.resync[i]) {
        const at = findMessageStart(buf);
        if (at < 0) {
          buf = buf.subarray(Math.max(0, buf.length - 7));
          break;
        }
        buf = buf.subarray(at);
        this.resync[i] = false;
      }
      if (buf.length < 8) {
        this.need[i] = 8;
        break;
      }
      const len = ((buf[1] as number) << 16) | ((buf[2] as number) << 8) | (buf[3] as number);
      if (buf.length < 4 + len) {
        this.need[i] = 4 + len;
        break;
      }
      const type = buf[0] as number;
      const msg = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      // Session request/response and keepalive (port 139) carry no SMB.
      if (type === NBT_MESSAGE) this.message(fromClient, msg, out);
    }
    this.bufs[i] = buf.length > 0 ? [buf] : [];
    this.have[i] = buf.length;
    return out;
  }

  /** Bytes of a direction went missing: find the next message by its signature. */
  gap(fromClient: boolean): void {
    const i = fromClient ? 0 : 1;
    this.bufs[i] = [];
    this.have[i] = 0;
    this.need[i] = 8;
    this.resync[i] = true;
    this.opts.stats.resyncs++;
  }

  private message(fromClient: boolean, msg: Uint8Array, out: PipeChunk[]): void {
    if (msg.length < 4) return;
    const proto = new DataView(msg.buffer, msg.byteOffset, 4).getUint32(0, true);
    if (proto === PROTOCOL_SMB1) return;
    if (proto === PROTOCOL_COMPRESSED) {
      this.opts.stats.compressedSkipped++;
      return;
    }
    if (proto === PROTOCOL_TRANSFORM) {
      const plain = this.decrypt(fromClient, msg);
      if (plain) this.compound(plain, out);
      return;
    }
    if (proto === PROTOCOL_SMB2) this.compound(msg, out);
    else this.opts.stats.malformed++;
  }

  private decrypt(fromClient: boolean, msg: Uint8Array): Uint8Array | undefined {
    let sessionId: bigint;
    try {
      sessionId = decodeTransformHeader(msg).sessionId;
    } catch {
      this.opts.stats.malformed++;
      return undefined;
    }
    const keys = this.opts.keys.get(sessionId);
    if (!keys) {
      this.opts.stats.sealedSkipped++;
      return undefined;
    }
    const key = fromClient ? keys.c2s : keys.s2c;
    for (const c of ciphersFor(key)) {
      try {
        const plain = decryptMessage(c, key, msg);
        this.opts.stats.sealedDecrypted++;
        return plain;
      } catch {
        // try the next cipher of this key length
      }
    }
    this.opts.stats.sealedFailed++;
    return undefined;
  }

  private compound(msg: Uint8Array, out: PipeChunk[]): void {
    let off = 0;
    let last: FidRef | undefined;
    let lastCreate: bigint | undefined;
    // A compound chain cannot have more members than 64-byte headers fit.
    for (let guard = 0; guard <= msg.length / B; guard++) {
      const rest = msg.subarray(off);
      let next: number;
      try {
        const h = decodeHeader(rest);
        next = h.nextCommand;
        const one = next === 0 ? rest : rest.subarray(0, next);
        if (next !== 0 && (next < B || next > rest.length || next % 8 !== 0)) throw new SmbError(`NextCommand ${next}`, 20);
        this.opts.stats.messages++;
        const related = (h.flags & HDR_FLAGS.RELATED_OPERATIONS) !== 0;
        if ((h.flags & HDR_FLAGS.SERVER_TO_REDIR) === 0) {
          const fid = this.request(h.command, h.messageId, one, related ? last : undefined, related ? lastCreate : undefined, out);
          if (h.command === COMMAND.CREATE) lastCreate = h.messageId;
          last = fid ?? last;
        } else {
          this.response(h.command, h.messageId, h.status, one, out);
        }
      } catch (e) {
        if (!(e instanceof SmbError)) throw e;
        this.opts.stats.malformed++;
        return;
      }
      if (next === 0) return;
      off += next;
    }
  }

  /** The file id a request names; all-ones in a related request means the previous one's. */
  private fidAt(r: Reader, off: number, last: FidRef | undefined, lastCreate: bigint | undefined): FidRef {
    const f = hex(r.sub(off, 16, 'FileId'));
    if (f !== ALL_FF) return f;
    if (last !== undefined) return last;
    return lastCreate !== undefined ? { create: lastCreate } : f;
  }

  private request(cmd: number, mid: bigint, m: Uint8Array, last: FidRef | undefined, lastCreate: bigint | undefined, out: PipeChunk[]): FidRef | undefined {
    const r = new Reader(m);
    let fid: FidRef | undefined;
    if (cmd === COMMAND.CREATE) {
      const name = fromUtf16le(r.sub(r.u16(B + 44), r.u16(B + 46), 'CREATE name'));
      this.remember(mid, { command: cmd, name });
      return { create: mid };
    }
    if (cmd === COMMAND.WRITE) {
      fid = this.fidAt(r, B + 16, last, lastCreate);
      this.toPipe(fid, true, r.sub(r.u16(B + 2), r.u32(B + 4), 'WRITE data'), out);
    } else if (cmd === COMMAND.READ) {
      fid = this.fidAt(r, B + 16, last, lastCreate);
      this.remember(mid, { command: cmd, fid });
    } else if (cmd === COMMAND.IOCTL) {
      fid = this.fidAt(r, B + 8, last, lastCreate);
      if (r.u32(B + 4) === FSCTL_PIPE_TRANSCEIVE) {
        const count = r.u32(B + 28);
        this.toPipe(fid, true, count === 0 ? new Uint8Array(0) : r.sub(r.u32(B + 24), count, 'IOCTL input'), out);
        this.remember(mid, { command: cmd, fid });
      }
    } else if (cmd === COMMAND.CLOSE) {
      fid = this.fidAt(r, B + 8, last, lastCreate);
    }
    return fid;
  }

  private response(cmd: number, mid: bigint, status: number, m: Uint8Array, out: PipeChunk[]): void {
    const p = this.pending.get(mid);
    // An interim answer: the real one follows with the same MessageId.
    if (status === STATUS_PENDING || !p) return;
    this.pending.delete(mid);
    if (p.command !== cmd) return;
    const r = new Reader(m);
    const ok = status === STATUS_SUCCESS || (status === STATUS_BUFFER_OVERFLOW && cmd !== COMMAND.CREATE);
    if (!ok) {
      this.deferred.delete(mid);
      return;
    }
    if (cmd === COMMAND.CREATE) {
      const fid = hex(r.sub(B + 64, 16, 'CREATE FileId'));
      this.createdFid.set(mid, fid);
      if (this.createdFid.size > MAX_PENDING) this.createdFid.delete(this.createdFid.keys().next().value as bigint);
      const name = pipeBaseName(p.name ?? '');
      if (this.opts.keep(name)) this.pipes.set(fid, name);
      for (const bytes of this.deferred.get(mid) ?? []) this.toPipe(fid, true, bytes, out);
      this.deferred.delete(mid);
    } else if (cmd === COMMAND.READ && p.fid !== undefined) {
      this.toPipe(p.fid, false, r.sub(r.u8(B + 2), r.u32(B + 4), 'READ data'), out);
    } else if (cmd === COMMAND.IOCTL && p.fid !== undefined) {
      const count = r.u32(B + 36);
      this.toPipe(p.fid, false, count === 0 ? new Uint8Array(0) : r.sub(r.u32(B + 32), count, 'IOCTL output'), out);
    }
  }

  private remember(mid: bigint, p: PendingRequest): void {
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as bigint);
    this.pending.set(mid, p);
  }

  private toPipe(ref: FidRef, fromClient: boolean, bytes: Uint8Array, out: PipeChunk[]): void {
    if (bytes.length === 0) return;
    let fid: string | undefined;
    if (typeof ref === 'string') fid = ref;
    else {
      fid = this.createdFid.get(ref.create);
      if (fid === undefined) {
        // The CREATE of this compound has not been answered yet.
        if (fromClient && this.pending.has(ref.create)) {
          const list = this.deferred.get(ref.create) ?? [];
          list.push(new Uint8Array(bytes));
          this.deferred.set(ref.create, list);
        }
        return;
      }
    }
    const pipe = this.pipes.get(fid);
    if (pipe !== undefined) out.push({ fid, pipe, fromClient, bytes: new Uint8Array(bytes) });
  }
}

/** Offset of a NetBIOS session message that holds an SMB2 or transform header, or -1. */
function findMessageStart(b: Uint8Array): number {
  for (let i = 0; i + 8 <= b.length; i++) {
    if (b[i] !== 0 || b[i + 5] !== 0x53 || b[i + 6] !== 0x4d || b[i + 7] !== 0x42) continue;
    const p = b[i + 4] as number;
    if (p === 0xfe || p === 0xfd || p === 0xfc) return i;
  }
  return -1;
}

