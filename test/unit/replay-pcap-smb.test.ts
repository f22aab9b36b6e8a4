import { describe, expect, it } from 'vitest';
import { COMMAND } from '../../src/smb/header.js';
import { CIPHER, encryptMessage, NonceSource } from '../../src/smb/encryption.js';
import { formatRecords, importCapture, parseSmbKey } from '../../src/replay/pcap-import.js';
import { LINKTYPE } from '../../src/replay/pcap-packet.js';
import { samplePdus } from '../helpers/fixtures.js';
import {
  cat, compound, createReq, createResp, ethernet, fidHex, fileId, ioctlReq, ioctlResp, ipv4Tcp, nbt, pcapngFile, pendingResp,
  readReq, readResp, writeReq, type RawFrame,
} from '../helpers/pcap-build.js';

const hexBytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** A TCP connection client:5000 <-> server:port; `send` appends one segment per call. */
function conversation(port = 445, mss = 60_000) {
  const frames: RawFrame[] = [];
  let cseq = 1000;
  let sseq = 5000;
  let t = 100;
  const push = (fromClient: boolean, payload: Uint8Array, flags = 0x18) => {
    for (let off = 0; off < payload.length || (payload.length === 0 && off === 0); off += mss) {
      const part = payload.subarray(off, off + mss);
      const seq = fromClient ? cseq : sseq;
      frames.push({ time: (t += 0.001), data: ethernet(ipv4Tcp({ sport: fromClient ? 5000 : port, dport: fromClient ? port : 5000, seq, flags, payload: part })) });
      if (fromClient) cseq += part.length;
      else sseq += part.length;
      if (payload.length === 0) break;
    }
  };
  frames.push({ time: t, data: ethernet(ipv4Tcp({ sport: 5000, dport: port, seq: cseq - 1, flags: 0x02 })) });
  frames.push({ time: t, data: ethernet(ipv4Tcp({ sport: port, dport: 5000, seq: sseq - 1, flags: 0x12 })) });
  return {
    c: (b: Uint8Array) => push(true, b),
    s: (b: Uint8Array) => push(false, b),
    file: () => pcapngFile(LINKTYPE.ETHERNET, frames),
    frames,
  };
}

describe('SMB2 named-pipe traffic', () => {
  const pdus = samplePdus('rpcclient-session');
  const fid = fileId(0x35c631e2);
  const first = pdus.filter((p) => p.fid === pdus[0]!.fid);

  it('WRITE/READ of a pipe opened by CREATE: PDUs cut per direction with ptype, call_id, opnum and op', () => {
    const k = conversation(445, 100);
    k.c(nbt(createReq(1n, 'FssagentRpc')));
    k.s(nbt(createResp(1n, fid)));
    let mid = 2n;
    for (const p of first) {
      const b = hexBytes(p.hex);
      if (p.dir === 'c2s') k.c(nbt(writeReq(mid++, fid, b)));
      else {
        k.c(nbt(readReq(mid, fid)));
        k.s(nbt(readResp(mid++, b)));
      }
    }
    const r = importCapture(k.file());
    expect(r.records.map((x) => [x.dir, x.ptype, x.call_id, x.opnum, x.op, x.hex, x.fid, x.pipe, x.conn])).toEqual(
      first.map((p) => [p.dir, p.ptype, p.call_id, p.opnum, p.op, p.hex, fidHex(fid), 'FssagentRpc', 0]));
    expect(r.records.map((x) => x.n)).toEqual(first.map((_, i) => i));
    // The output reads back as a capture.
    expect(formatRecords(r.records).trim().split('\n')).toHaveLength(first.length);
  });

  it('FSCTL_PIPE_TRANSCEIVE with STATUS_BUFFER_OVERFLOW continued by READ; interim STATUS_PENDING ignored', () => {
    const k = conversation();
    k.c(nbt(createReq(1n, '\\PIPE\\FssagentRpc')));
    k.s(nbt(createResp(1n, fid)));
    const bind = hexBytes(first[0]!.hex);
    const ack = hexBytes(first[1]!.hex);
    k.c(nbt(ioctlReq(2n, fid, bind)));
    k.s(nbt(pendingResp(COMMAND.IOCTL, 2n)));
    k.s(nbt(ioctlResp(2n, fid, ack.subarray(0, 30), 0x80000005)));
    k.c(nbt(readReq(3n, fid)));
    k.s(nbt(readResp(3n, ack.subarray(30))));
    const r = importCapture(k.file());
    expect(r.records.map((x) => x.hex)).toEqual([first[0]!.hex, first[1]!.hex]);
    expect(r.stats.smb.messages).toBe(7);
  });

  it('compound CREATE + related WRITE (FileId all ones) and several messages in one segment', () => {
    const k = conversation();
    const ff = { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn };
    const bind = hexBytes(first[0]!.hex);
    k.c(nbt(compound(createReq(1n, 'FssagentRpc'), writeReq(2n, ff, bind, true))));
    k.s(cat(nbt(compound(createResp(1n, fid), pendingResp(COMMAND.WRITE, 2n)))));
    k.c(cat(nbt(readReq(3n, fid)), nbt(readReq(4n, fid))));
    k.s(cat(nbt(readResp(3n, hexBytes(first[1]!.hex))), nbt(readResp(4n, new Uint8Array(0), 0xc0000022))));
    const r = importCapture(k.file());
    expect(r.records.map((x) => [x.dir, x.ptype])).toEqual([['c2s', 'bind'], ['s2c', 'bind_ack']]);
    expect(r.stats.smb.malformed).toBe(0);
  });

  it('NetBIOS over TCP (port 139): session request, positive response and keepalives carry no SMB', () => {
    const k = conversation(139);
    k.c(Uint8Array.from([0x81, 0, 0, 4, 1, 2, 3, 4]));
    k.s(Uint8Array.from([0x82, 0, 0, 0]));
    k.c(cat(Uint8Array.from([0x85, 0, 0, 0]), nbt(createReq(1n, 'FssagentRpc'))));
    k.s(nbt(createResp(1n, fid)));
    k.c(nbt(writeReq(2n, fid, hexBytes(first[0]!.hex))));
    const r = importCapture(k.file());
    expect(r.records.map((x) => x.ptype)).toEqual(['bind']);
    expect(r.stats.smb.malformed).toBe(0);
  });

  it('keeps only the named pipes (FssagentRpc by default; "*" keeps all)', () => {
    const k = conversation();
    const other = fileId(77);
    k.c(nbt(createReq(1n, 'lsarpc')));
    k.s(nbt(createResp(1n, other)));
    k.c(nbt(writeReq(2n, other, hexBytes(first[0]!.hex))));
    expect(importCapture(k.file()).records).toEqual([]);
    const all = importCapture(k.file(), { pipes: ['*'] }).records;
    expect(all.map((x) => [x.pipe, x.ptype, x.op])).toEqual([['lsarpc', 'bind', undefined]]);
  });

  it('encrypted messages: opened with the session keys given, else counted as skipped', () => {
    const sid = 0x1122334455667788n;
    const c2s = new Uint8Array(16).fill(1);
    const s2c = new Uint8Array(16).fill(2);
    const k = conversation();
    const seal = (key: Uint8Array, m: Uint8Array) => encryptMessage(CIPHER.AES_128_GCM, key, sid, m, new NonceSource());
    k.c(nbt(seal(c2s, createReq(1n, 'FssagentRpc'))));
    k.s(nbt(seal(s2c, createResp(1n, fid))));
    k.c(nbt(seal(c2s, writeReq(2n, fid, hexBytes(first[0]!.hex)))));
    k.c(nbt(readReq(3n, fid)));
    k.s(nbt(seal(s2c, readResp(3n, hexBytes(first[1]!.hex)))));
    const none = importCapture(k.file());
    expect(none.records).toEqual([]);
    expect(none.stats.smb.sealedSkipped).toBe(4);
    const key = parseSmbKey(`${sid.toString(16)}:${Buffer.from(c2s).toString('hex')}:${Buffer.from(s2c).toString('hex')}`);
    if (typeof key === 'string') throw new Error(key);
    const r = importCapture(k.file(), { keys: new Map([key]) });
    expect(r.records.map((x) => x.ptype)).toEqual(['bind', 'bind_ack']);
    expect(r.stats.smb.sealedDecrypted).toBe(4);
    const wrong = importCapture(k.file(), { keys: new Map([[sid, { c2s: s2c, s2c: c2s }]]) });
    expect(wrong.stats.smb.sealedFailed).toBe(4);
    expect(parseSmbKey('nonsense')).toMatch(/SESSIONID/);
  });

  it('lost bytes: SMB framing is found again after the gap', () => {
    const k = conversation();
    k.c(nbt(createReq(1n, 'FssagentRpc')));
    k.s(nbt(createResp(1n, fid)));
    k.c(nbt(writeReq(2n, fid, hexBytes(first[0]!.hex))));
    // Drop the client's last segment from the capture, then send more.
    k.frames.pop();
    k.c(nbt(writeReq(3n, fid, hexBytes(first[2]!.hex))));
    const big = new Uint8Array(5 << 20);
    k.c(nbt(writeReq(4n, fileId(9), big)));
    const r = importCapture(k.file());
    expect(r.stats.tcp.gaps).toBeGreaterThan(0);
    expect(r.stats.smb.resyncs).toBe(1);
    expect(r.records.map((x) => x.ptype)).toEqual(['request']);
  });
});

describe('ncacn_ip_tcp traffic', () => {
  it('PDUs of a flow to --tcp-port, several per segment and split across segments', () => {
    const pdus = samplePdus('smbtorture-set_ctx');
    const k = conversation(7135, 50);
    const c = pdus.filter((p) => p.dir === 'c2s').map((p) => hexBytes(p.hex));
    const s = pdus.filter((p) => p.dir === 's2c').map((p) => hexBytes(p.hex));
    k.c(c[0]!);
    k.s(s[0]!);
    k.c(cat(...c.slice(1)));
    k.s(cat(...s.slice(1)));
    const r = importCapture(k.file(), { tcpPorts: [7135] });
    const order = [c[0], s[0], ...c.slice(1), ...s.slice(1)].map((b) => Buffer.from(b!).toString('hex'));
    expect(r.records.map((x) => x.hex)).toEqual(order);
    expect(r.records.every((x) => x.fid === 'tcp' && x.conn === 0 && x.pipe === undefined)).toBe(true);
    expect(r.records.filter((x) => x.ptype === 'response').map((x) => x.op)).toEqual(pdus.filter((p) => p.ptype === 'response').map((p) => p.op));
    // Not an SMB port: nothing without --tcp-port.
    expect(importCapture(k.file()).records).toEqual([]);
  });
});
