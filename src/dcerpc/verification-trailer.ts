/**
 * The MS-RPCE verification trailer (2.2.2.13; docs/DCERPC.md §8) that clients append to request
 * stubs when the header is not integrity-protected. Behaviour follows Samba's
 * `ndr_pop_dcerpc_sec_verification_trailer` + `dcerpc_sec_verification_trailer_check`:
 * scan the last 1 KiB of the stub, 4-byte steps backwards, for the magic; a trailer that does not
 * parse (or leaves more than 16 bytes) is treated as stub data; a parsed one is removed from the
 * stub and checked against the real call.
 */
import { guidFromBytes } from '../ndr/index.js';
import type { Drep } from './pdu-types.js';
import { syntaxEqual, type SyntaxId } from './syntax.js';

export const VT_MAGIC = Uint8Array.from([0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71]);
const VT_MAX_SCAN = 1024;

export const VT_COMMAND = {
  bitmask1: 0x0001,
  pcontext: 0x0002,
  header2: 0x0003,
  enumMask: 0x3fff,
  end: 0x4000,
  mustProcess: 0x8000,
} as const;

export interface VtHeader2 {
  readonly ptype: number;
  readonly drep: Drep;
  readonly callId: number;
  readonly contextId: number;
  readonly opnum: number;
}

export type VtCommand =
  | { readonly command: number; readonly kind: 'bitmask1'; readonly bitmask: number }
  | { readonly command: number; readonly kind: 'pcontext'; readonly abstractSyntax: SyntaxId; readonly transferSyntax: SyntaxId }
  | { readonly command: number; readonly kind: 'header2'; readonly header2: VtHeader2 }
  | { readonly command: number; readonly kind: 'unknown'; readonly data: Uint8Array };

export interface PoppedTrailer {
  /** The stub with the trailer removed (the input itself when none was found). */
  readonly stub: Uint8Array;
  /** Commands of the trailer found; empty when there was none. */
  readonly commands: readonly VtCommand[];
}

/** Parses a trailer starting at the magic. Returns undefined where Samba's parser fails. */
function parseTrailer(t: Uint8Array): VtCommand[] | undefined {
  const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
  let pos = VT_MAGIC.length;
  const u16 = (): number | undefined => {
    pos += pos & 1;
    if (pos + 2 > t.length) return undefined;
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const commands: VtCommand[] = [];
  for (;;) {
    const command = u16();
    const length = u16();
    if (command === undefined || length === undefined || pos + length > t.length) return undefined;
    const body = t.subarray(pos, pos + length);
    pos += length;
    const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    switch (command & VT_COMMAND.enumMask) {
      case VT_COMMAND.bitmask1:
        if (length !== 4) return undefined;
        commands.push({ command, kind: 'bitmask1', bitmask: bv.getUint32(0, true) });
        break;
      case VT_COMMAND.pcontext:
        if (length !== 40) return undefined;
        commands.push({
          command,
          kind: 'pcontext',
          abstractSyntax: { uuid: guidFromBytes(body.subarray(0, 16)), version: bv.getUint32(16, true) },
          transferSyntax: { uuid: guidFromBytes(body.subarray(20, 36)), version: bv.getUint32(36, true) },
        });
        break;
      case VT_COMMAND.header2:
        if (length !== 16) return undefined;
        commands.push({
          command,
          kind: 'header2',
          header2: {
            ptype: body[0] as number,
            drep: [body[4] as number, body[5] as number, body[6] as number, body[7] as number],
            callId: bv.getUint32(8, true),
            contextId: bv.getUint16(12, true),
            opnum: bv.getUint16(14, true),
          },
        });
        break;
      default:
        commands.push({ command, kind: 'unknown', data: body });
    }
    if (command & VT_COMMAND.end) break;
  }
  if (t.length - pos > 16) return undefined;
  return commands;
}

/** Finds, parses and strips a verification trailer. Never throws. */
export function popVerificationTrailer(stub: Uint8Array): PoppedTrailer {
  if (stub.length < VT_MAGIC.length) return { stub, commands: [] };
  let ofs = (stub.length - VT_MAGIC.length) & ~3;
  const minOfs = ofs > VT_MAX_SCAN ? ofs - VT_MAX_SCAN : 0;
  for (;;) {
    if (VT_MAGIC.every((b, i) => stub[ofs + i] === b)) {
      const commands = parseTrailer(stub.subarray(ofs));
      if (commands === undefined) return { stub, commands: [] };
      return { stub: stub.subarray(0, ofs), commands };
    }
    if (ofs <= minOfs) return { stub, commands: [] };
    ofs -= 4;
  }
}

/** What the server knows about the call, to compare the trailer with. */
export interface VtExpectation {
  /** 1 when the client announced header signing (PFC_SUPPORT_HEADER_SIGN) in bind/alter, else 0. */
  readonly bitmask1: number;
  readonly abstractSyntax: SyntaxId;
  readonly transferSyntax: SyntaxId;
  readonly header2: VtHeader2;
}

/** Why the trailer does not match the call (Samba answers fault 5), or undefined. */
export function checkVerificationTrailer(commands: readonly VtCommand[], want: VtExpectation): string | undefined {
  if (commands.length === 0) return undefined;
  const seen = new Set<number>();
  for (const c of commands) {
    const cmd = c.command & VT_COMMAND.enumMask;
    if (seen.has(cmd)) return `command ${cmd} appears twice`;
    seen.add(cmd);
    if (c.kind === 'unknown' && c.data.length % 4 !== 0) return `command ${cmd} length not a multiple of 4`;
  }
  for (const c of commands) {
    switch (c.kind) {
      case 'bitmask1':
        if ((c.bitmask & 1) && !(want.bitmask1 & 1)) return 'BITMASK1 claims header signing the bind did not announce';
        break;
      case 'pcontext':
        if (!syntaxEqual(c.abstractSyntax, want.abstractSyntax)) return 'PCONTEXT abstract syntax differs';
        if (!syntaxEqual(c.transferSyntax, want.transferSyntax)) return 'PCONTEXT transfer syntax differs';
        break;
      case 'header2': {
        const a = c.header2;
        const b = want.header2;
        if (a.ptype !== b.ptype || a.callId !== b.callId || a.contextId !== b.contextId || a.opnum !== b.opnum
          || a.drep.some((x, i) => x !== b.drep[i])) {
          return 'HEADER2 differs from the PDU header';
        }
        break;
      }
      default:
        if (c.command & VT_COMMAND.mustProcess) return `unknown must-process command ${c.command & VT_COMMAND.enumMask}`;
    }
  }
  return undefined;
}

/** Builds a verification trailer (for clients and tests); `commands` in wire order. */
export function buildVerificationTrailer(commands: readonly { command: number; body: Uint8Array }[]): Uint8Array {
  const parts: number[] = [...VT_MAGIC];
  commands.forEach((c, i) => {
    const cmd = i === commands.length - 1 ? c.command | VT_COMMAND.end : c.command;
    parts.push(cmd & 0xff, cmd >> 8, c.body.length & 0xff, c.body.length >> 8, ...c.body);
  });
  return Uint8Array.from(parts);
}
