/**
 * DCE/RPC authentication for our own clients (fsrvp, fsrvp-replay, fsrvp-fuzz): a GSS initiator
 * seen through dcerpc's ClientAuth, and the initiators a user can ask for by name: raw NTLMSSP
 * (auth_type 10) and SPNEGO (9) over NTLMSSP.
 */
import type { ClientAuth, ClientAuthStep } from '../dcerpc/client-auth.js';
import type { PacketProtection } from '../dcerpc/auth.js';
import { AUTH_LEVEL, AUTH_TYPE } from '../dcerpc/constants.js';
import { MECH_OID, type GssContext } from './gss.js';
import { flagsForBind } from './dcerpc-provider.js';
import { NtlmInitiator, type NtlmCredentials } from './ntlmssp/index.js';
import { createSpnegoInitiator } from './spnego/index.js';

export type ClientMechanism = 'ntlm' | 'spnego';
export type ClientLevel = 'connect' | 'integrity' | 'privacy';

export const CLIENT_LEVELS: Record<ClientLevel, number> = {
  connect: AUTH_LEVEL.connect,
  integrity: AUTH_LEVEL.integrity,
  privacy: AUTH_LEVEL.privacy,
};

/** A GssContext (an initiator) as the DCE/RPC client's security context. */
export function gssClientAuth(ctx: GssContext, o: { authType: number; authLevel: number; authContextId?: number; headerSigning?: boolean }): ClientAuth {
  return {
    authType: o.authType,
    authLevel: o.authLevel,
    authContextId: o.authContextId ?? 0,
    headerSigning: o.headerSigning ?? true,
    async step(token: Uint8Array): Promise<ClientAuthStep> {
      try {
        const s = await ctx.step(token);
        return s.status === 'rejected' ? { status: 'rejected', reason: s.reason } : { status: s.status, token: s.token };
      } catch (e) {
        return { status: 'rejected', reason: `mechanism threw: ${e instanceof Error ? e.message : String(e)}` };
      }
    },
    setHeaderSigning(on: boolean): void {
      ctx.setHeaderSigning?.(on);
    },
    signatureSize(): number {
      return ctx.established && o.authLevel >= AUTH_LEVEL.packet ? ctx.signatureSize() : 0;
    },
    wrap(p: PacketProtection): Uint8Array {
      return ctx.wrapPdu(p);
    },
    unwrap(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
      try {
        return ctx.unwrapPdu(p);
      } catch {
        return false;
      }
    },
  };
}

export interface ClientAuthOptions {
  readonly mechanism: ClientMechanism;
  readonly level: ClientLevel;
  readonly credentials: NtlmCredentials;
  /** Service principal for NTLM's MsvAvTargetName (e.g. host/server). */
  readonly targetName?: string;
}

/** The security context `--auth MECH --level LEVEL -U DOMAIN\\user` asks for. */
export function clientAuth(o: ClientAuthOptions): ClientAuth {
  const authLevel = CLIENT_LEVELS[o.level];
  // The flags a bind at this level asks of a mechanism: the acceptor's rule, seen from our side.
  const flags = flagsForBind({ authLevel, headerSigning: true }, false);
  const ntlm = (): NtlmInitiator => new NtlmInitiator({
    credentials: o.credentials, flags, ...(o.targetName !== undefined ? { targetName: o.targetName } : {}),
  });
  if (o.mechanism === 'ntlm') return gssClientAuth(ntlm(), { authType: AUTH_TYPE.ntlmssp, authLevel });
  const spnego = createSpnegoInitiator({ mechanisms: [{ oid: MECH_OID.ntlmssp, start: ntlm }] });
  return gssClientAuth(spnego, { authType: AUTH_TYPE.spnego, authLevel });
}

/** Parses `DOMAIN\\user`, `user@domain` or `user` (domain then `defaultDomain`). */
export function parseUserName(spec: string, defaultDomain = ''): { user: string; domain: string } {
  const bs = spec.indexOf('\\');
  if (bs >= 0) return { domain: spec.slice(0, bs), user: spec.slice(bs + 1) };
  const slash = spec.indexOf('/');
  if (slash >= 0) return { domain: spec.slice(0, slash), user: spec.slice(slash + 1) };
  const at = spec.lastIndexOf('@');
  if (at > 0) return { user: spec.slice(0, at), domain: spec.slice(at + 1) };
  return { user: spec, domain: defaultDomain };
}
