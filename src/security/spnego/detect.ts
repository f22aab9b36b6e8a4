/**
 * Which mechanism a raw first token is for. DCE/RPC names it by auth_type (9 SPNEGO, 10 NTLMSSP,
 * 16 Kerberos), but a server should check the token agrees: raw NTLMSSP starts "NTLMSSP\0", raw
 * Kerberos is a GSS InitialContextToken with a krb5 OID (RFC 4121 4.1), SPNEGO one with
 * 1.3.6.1.5.5.2 (or a bare NegotiationToken).
 */
import { MECH_OID } from '../gss.js';
import { unframeInitialToken, parseSpnego, type InitToken } from './tokens.js';

export type FirstToken =
  | { readonly kind: 'ntlmssp' }
  | { readonly kind: 'kerberos'; readonly mechOid: string; readonly tokId: number | undefined }
  | { readonly kind: 'spnego'; readonly init: InitToken }
  | { readonly kind: 'unknown'; readonly reason: string };

const NTLMSSP_SIG = [0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00];

/** Classifies a first token. Total: never throws. */
export function identifyFirstToken(token: Uint8Array): FirstToken {
  if (token.length >= 8 && NTLMSSP_SIG.every((b, i) => token[i] === b)) return { kind: 'ntlmssp' };
  try {
    if (token[0] === 0x60) {
      const { mechOid, inner } = unframeInitialToken(token);
      if (mechOid === MECH_OID.kerberos || mechOid === MECH_OID.kerberosMs) {
        return { kind: 'kerberos', mechOid, tokId: inner.length >= 2 ? (inner[0]! << 8) | inner[1]! : undefined };
      }
      if (mechOid !== MECH_OID.spnego) return { kind: 'unknown', reason: `InitialContextToken for ${mechOid}` };
    }
    const t = parseSpnego(token);
    if (t.kind !== 'init') return { kind: 'unknown', reason: 'NegTokenResp as a first token' };
    return { kind: 'spnego', init: t.init };
  } catch (e) {
    return { kind: 'unknown', reason: e instanceof Error ? e.message : String(e) };
  }
}

/** The DCE/RPC auth_type a first token belongs to (9, 10, 16), or undefined. */
export function authTypeOfFirstToken(token: Uint8Array): 9 | 10 | 16 | undefined {
  const k = identifyFirstToken(token).kind;
  return k === 'spnego' ? 9 : k === 'ntlmssp' ? 10 : k === 'kerberos' ? 16 : undefined;
}
