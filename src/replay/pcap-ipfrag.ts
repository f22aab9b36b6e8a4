/**
 * IP fragment reassembly for captured traffic (IPv4 by source, destination, protocol and
 * identification; IPv6 Fragment headers by source, destination and identification). Offsets are
 * in bytes here (the headers' 8-byte units already multiplied); a datagram is complete once the
 * last fragment (MF/M clear) has set its length and the fragments cover it without a hole.
 *
 * Nothing is guessed: a fragment that overlaps another one (other than an exact duplicate, which
 * is dropped and counted), a second last fragment with another end, a fragment past the end, a
 * non-last fragment whose length is not a multiple of 8, a datagram above 65,535 bytes or a
 * fragment cut short by the capture's snap length drops the whole datagram with a typed problem
 * (RFC 5722's rule, applied to IPv4 too: overlapping bytes are ambiguous); its later fragments
 * are dropped quietly (their bytes counted) until its reassembly timeout, so one datagram is one
 * problem. Memory is bounded: at most `maxPending` datagrams and `maxBytes` of fragment data
 * wait (and as many dropped keys are remembered); beyond that the oldest datagrams are evicted,
 * and those past their timeout expire. A datagram still waiting when the capture ends is
 * 'incomplete'. Every dropped datagram is counted by reason with its bytes; never an exception.
 */

export type FragmentProblem = 'overlap' | 'inconsistent' | 'unaligned' | 'oversize' | 'truncated' | 'evicted' | 'expired' | 'incomplete';

export interface FragmentStats {
  /** Fragments seen. */
  fragments: number;
  /** Datagrams put back together. */
  reassembled: number;
  /** Exact duplicate fragments ignored. */
  duplicates: number;
  /** Datagrams dropped, by reason. */
  problems: Partial<Record<FragmentProblem, number>>;
  /** Fragment bytes dropped with them (later fragments of a dropped datagram included). */
  droppedBytes: number;
}

export interface FragmentLimits {
  /** Datagrams waiting for fragments at once (default 1024). */
  readonly maxPending?: number;
  /** Fragment bytes held at once (default 16 MiB). */
  readonly maxBytes?: number;
  /** Seconds a datagram may wait for its fragments (default 30 for IPv4, 60 for IPv6, as Linux). */
  readonly timeoutSec?: number;
}

/** One fragment as the IP layer decoded it. */
export interface IpFragment {
  readonly version: 4 | 6;
  /** Reassembly key: addresses, (IPv4) protocol and identification. */
  readonly key: string;
  readonly src: string;
  readonly dst: string;
  /** IPv4: the protocol; IPv6: the Fragment header's next header (used from the first fragment). */
  readonly next: number;
  /** Byte offset of `data` in the datagram's fragmentable part. */
  readonly offset: number;
  readonly more: boolean;
  readonly data: Uint8Array;
  /** The capture holds less than the fragment's IP length. */
  readonly truncated: boolean;
  /** Largest datagram payload the IP header allows (65,535 minus the headers before the data). */
  readonly maxPayload: number;
}

export interface Reassembled {
  readonly version: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly next: number;
  readonly payload: Uint8Array;
}

interface Part {
  readonly offset: number;
  readonly data: Uint8Array;
}

interface Pending {
  readonly started: number;
  readonly timeout: number;
  readonly parts: Part[];
  bytes: number;
  end: number | undefined;
  next: number | undefined;
}

export function newFragmentStats(): FragmentStats {
  return { fragments: 0, reassembled: 0, duplicates: 0, problems: {}, droppedBytes: 0 };
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export class FragmentReassembler {
  readonly stats: FragmentStats = newFragmentStats();
  /** Datagrams waiting, oldest first (Map order). */
  private readonly pending = new Map<string, Pending>();
  /** Keys of dropped datagrams until their timeout: their later fragments are dropped quietly. */
  private readonly dropped = new Map<string, number>();
  private held = 0;
  private readonly maxPending: number;
  private readonly maxBytes: number;

  constructor(private readonly limits: FragmentLimits = {}) {
    this.maxPending = Math.max(1, limits.maxPending ?? 1024);
    this.maxBytes = Math.max(0, limits.maxBytes ?? 16 << 20);
  }

  /** Datagrams and bytes waiting now. */
  get waiting(): { datagrams: number; bytes: number } {
    return { datagrams: this.pending.size, bytes: this.held };
  }

  private drop(key: string, p: Pending, why: FragmentProblem, extra = 0): void {
    this.stats.problems[why] = (this.stats.problems[why] ?? 0) + 1;
    this.stats.droppedBytes += p.bytes + extra;
    this.held -= p.bytes;
    this.pending.delete(key);
    if (why === 'incomplete' || why === 'expired') return;
    this.dropped.delete(key);
    this.dropped.set(key, p.started + p.timeout);
    for (const k of this.dropped.keys()) {
      if (this.dropped.size <= this.maxPending) break;
      this.dropped.delete(k);
    }
  }

  /** Drops what outlived its timeout (the oldest first), then evicts until `need` bytes and a datagram fit. */
  private makeRoom(keep: string, need: number, time: number, newDatagram: boolean): void {
    for (const [k, until] of this.dropped) {
      if (until >= time) break;
      this.dropped.delete(k);
    }
    for (const [k, p] of this.pending) {
      if (k === keep) continue;
      const fits = this.held + need <= this.maxBytes && (!newDatagram || this.pending.size < this.maxPending);
      if (time - p.started > p.timeout) this.drop(k, p, 'expired');
      else if (!fits) this.drop(k, p, 'evicted');
      else break;
    }
  }

  /** Takes one fragment; returns the datagram it completes, if any. */
  push(f: IpFragment, time: number): Reassembled | undefined {
    this.stats.fragments++;
    // An atomic IPv6 fragment (offset 0, no more) is a datagram by itself (RFC 6946).
    if (f.offset === 0 && !f.more && !f.truncated) {
      this.stats.reassembled++;
      return { version: f.version, src: f.src, dst: f.dst, next: f.next, payload: f.data };
    }
    const until = this.dropped.get(f.key);
    if (until !== undefined) {
      if (time <= until) {
        this.stats.droppedBytes += f.data.length;
        return undefined;
      }
      this.dropped.delete(f.key);
    }
    let p = this.pending.get(f.key);
    if (p !== undefined && time - p.started > p.timeout) {
      this.drop(f.key, p, 'expired');
      p = undefined;
    }
    if (p === undefined) {
      this.makeRoom(f.key, 0, time, true);
      p = { started: time, timeout: this.limits.timeoutSec ?? (f.version === 4 ? 30 : 60), parts: [], bytes: 0, end: undefined, next: undefined };
      this.pending.set(f.key, p);
    }
    const start = f.offset;
    const stop = f.offset + f.data.length;
    const problem = ((): FragmentProblem | 'duplicate' | undefined => {
      if (f.truncated) return 'truncated';
      if (stop > f.maxPayload) return 'oversize';
      if (f.more && f.data.length % 8 !== 0) return 'unaligned';
      if (!f.more) {
        if (p.end !== undefined && p.end !== stop) return 'inconsistent';
        if (p.parts.some((x) => x.offset + x.data.length > stop)) return 'inconsistent';
      } else if (p.end !== undefined && stop > p.end) return 'inconsistent';
      for (const x of p.parts) {
        const xStop = x.offset + x.data.length;
        if (x.offset === start && sameBytes(x.data, f.data)) return 'duplicate';
        if (start < xStop && x.offset < stop) return 'overlap';
      }
      return undefined;
    })();
    if (problem === 'duplicate') {
      this.stats.duplicates++;
      return undefined;
    }
    if (problem !== undefined) {
      this.drop(f.key, p, problem, f.data.length);
      return undefined;
    }
    if (this.held + f.data.length > this.maxBytes) this.makeRoom(f.key, f.data.length, time, false);
    if (this.held + f.data.length > this.maxBytes) {
      this.drop(f.key, p, 'evicted', f.data.length);
      return undefined;
    }
    if (!f.more) p.end = stop;
    if (start === 0) p.next = f.next;
    const at = p.parts.findIndex((x) => x.offset > start);
    p.parts.splice(at < 0 ? p.parts.length : at, 0, { offset: start, data: f.data });
    p.bytes += f.data.length;
    this.held += f.data.length;
    return this.complete(f, p);
  }

  private complete(f: IpFragment, p: Pending): Reassembled | undefined {
    if (p.end === undefined || p.next === undefined) return undefined;
    let pos = 0;
    for (const x of p.parts) {
      if (x.offset !== pos) return undefined;
      pos += x.data.length;
    }
    if (pos !== p.end) return undefined;
    const payload = new Uint8Array(p.end);
    for (const x of p.parts) payload.set(x.data, x.offset);
    this.held -= p.bytes;
    this.pending.delete(f.key);
    this.stats.reassembled++;
    return { version: f.version, src: f.src, dst: f.dst, next: p.next, payload };
  }

  /** The capture ended: what still waits is incomplete (a fragment never came). */
  finish(): void {
    for (const [k, p] of [...this.pending]) this.drop(k, p, 'incomplete');
    this.dropped.clear();
  }
}
