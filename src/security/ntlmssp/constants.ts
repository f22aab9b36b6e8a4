/** NTLMSSP constants (MS-NLMP 2.2.2.5 NEGOTIATE flags, 2.2.2.1 AV_PAIR ids). */

export const NTLMSSP_SIGNATURE = Uint8Array.from([0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00]); // "NTLMSSP\0"

export const MESSAGE_TYPE = { negotiate: 1, challenge: 2, authenticate: 3 } as const;

/** NegotiateFlags bits (MS-NLMP 2.2.2.5). */
export const NTLM_FLAGS = {
  unicode: 0x00000001,
  oem: 0x00000002,
  requestTarget: 0x00000004,
  sign: 0x00000010,
  seal: 0x00000020,
  datagram: 0x00000040,
  lmKey: 0x00000080,
  ntlm: 0x00000200,
  anonymous: 0x00000800,
  oemDomainSupplied: 0x00001000,
  oemWorkstationSupplied: 0x00002000,
  alwaysSign: 0x00008000,
  targetTypeDomain: 0x00010000,
  targetTypeServer: 0x00020000,
  extendedSessionSecurity: 0x00080000,
  identify: 0x00100000,
  nonNtSessionKey: 0x00400000,
  targetInfo: 0x00800000,
  version: 0x02000000,
  negotiate128: 0x20000000,
  keyExch: 0x40000000,
  negotiate56: 0x80000000,
} as const;

/** AV_PAIR AvId values (MS-NLMP 2.2.2.1). */
export const AV_ID = {
  eol: 0,
  nbComputerName: 1,
  nbDomainName: 2,
  dnsComputerName: 3,
  dnsDomainName: 4,
  dnsTreeName: 5,
  flags: 6,
  timestamp: 7,
  singleHost: 8,
  targetName: 9,
  channelBindings: 10,
} as const;

/** MsvAvFlags bits. */
export const AV_FLAGS = {
  constrained: 0x1,
  /** The AUTHENTICATE message carries a MIC. */
  micPresent: 0x2,
  untrustedSpn: 0x4,
} as const;

/** Flags as an unsigned 32-bit number (bit 31 is NEGOTIATE_56). */
export const u32 = (n: number): number => n >>> 0;
export const hasFlag = (flags: number, bit: number): boolean => u32(flags & bit) === u32(bit);
