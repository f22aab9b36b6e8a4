import type { NdrReader, NdrWriter } from './cursor.js';
import type { NdrType } from './type.js';

export type Charset = 'utf16' | 'utf8' | 'dos';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function encodeUnits(w: NdrWriter, v: string, charset: Charset): void {
  if (charset === 'utf16') {
    const units = v.length + 1;
    w.u32(units);
    w.u32(0);
    w.u32(units);
    if (w.le) {
      w.bytes(Buffer.from(v + '\0', 'utf16le'));
    } else {
      for (let i = 0; i < v.length; i++) w.u16(v.charCodeAt(i));
      w.u16(0);
    }
    return;
  }
  const body = Buffer.from(v + '\0', charset === 'utf8' ? 'utf8' : 'latin1');
  w.u32(body.length);
  w.u32(0);
  w.u32(body.length);
  w.bytes(body);
}

function decodeUtf16(r: NdrReader, bytes: Uint8Array, start: number): string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let s = '';
  const n = bytes.length / 2 - 1; // the terminator is checked by the caller
  let chunk: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = dv.getUint16(2 * i, r.le);
    if (u === 0) break; // Samba converts all units and the C string stops at the first NUL
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = i + 1 < n ? dv.getUint16(2 * i + 2, r.le) : 0;
      if (next < 0xdc00 || next > 0xdfff) r.fail('STRING', 'unpaired high surrogate', start + 2 * i);
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      const prev = i > 0 ? dv.getUint16(2 * i - 2, r.le) : 0;
      if (prev < 0xd800 || prev > 0xdbff) r.fail('STRING', 'unpaired low surrogate', start + 2 * i);
    }
    chunk.push(u);
    if (chunk.length === 4096) {
      s += String.fromCharCode(...chunk);
      chunk = [];
    }
  }
  return s + String.fromCharCode(...chunk);
}

/**
 * `[string]` conformant-varying, NUL-terminated: u32 max_count, u32 offset, u32 actual_count,
 * then actual_count units including the terminator. Decoding follows Samba: offset must be 0,
 * actual_count must be 1..max_count, the last unit must be NUL; text stops at the first NUL.
 */
export function cvString(charset: Charset = 'utf16'): NdrType<string> {
  const unit = charset === 'utf16' ? 2 : 1;
  return {
    name: charset === 'utf16' ? 'wstring' : `string(${charset})`,
    align: 4,
    hasBuffers: false,
    writeScalars: (w, v) => encodeUnits(w, v, charset),
    writeBuffers() {},
    readScalars(r) {
      const at = r.pos;
      const max = r.u32();
      const offset = r.u32();
      const actual = r.u32();
      if (offset !== 0) r.fail('ARRAY_SIZE', `non-zero array offset ${offset}`, at + 4);
      if (actual > max) r.fail('ARRAY_SIZE', `actual_count ${actual} exceeds max_count ${max}`, at + 8);
      if (actual === 0) r.fail('STRING', 'empty string (no terminator)', at + 8);
      r.checkCount(actual, unit);
      const start = r.pos;
      const bytes = r.bytes(actual * unit);
      const last = unit === 2 ? (r.le ? bytes[bytes.length - 2]! | (bytes[bytes.length - 1]! << 8) : bytes[bytes.length - 1]! | (bytes[bytes.length - 2]! << 8)) : bytes[bytes.length - 1];
      if (last !== 0) r.fail('STRING', 'string terminator not present', start + bytes.length - unit);
      if (charset === 'utf16') return decodeUtf16(r, bytes, start);
      const body = bytes.subarray(0, bytes.indexOf(0));
      if (charset === 'dos') return Buffer.from(body).toString('latin1');
      try {
        return utf8.decode(body);
      } catch {
        return r.fail('STRING', 'invalid UTF-8', start);
      }
    },
    readBuffers: (_r, s) => s as string,
    print: (v) => JSON.stringify(v),
    generate: (g) => (charset === 'utf16' ? g.text(40) : g.text(40, 'abcdefghijklmnopqrstuvwxyz0123456789.-_\\')),
  };
}

export const wstring = cvString('utf16');
