/**
 * DCE/RPC authentication for our own clients (fsrvp, fsrvp-replay, fsrvp-fuzz): a GSS initiator
 * seen through dcerpc's ClientAuth, and the initiators a user can ask for by name: raw NTLMSSP
 * (auth_type 10), raw Kerberos (16, DCE style) and SPNEGO (9) over Kerberos (preferred, when a
 * ticket is given) and/or NTLMSSP (when a password is).
 */
import type { ClientAuth, ClientAuthStep } from '../dcerpc/client-auth.js';
import type { PacketProtection } from '../dcerpc/auth.js';
import { AUTH_LEVEL, AUTH_TYPE } from '../dcerpc/constants.js';
import { MECH_OID, type GssContext } from './gss.js';
import { flagsForBind } from './dcerpc-provider.js';
import { NtlmInitiator, type NtlmCredentials } from './ntlmssp/index.js';
import { createSpnegoInitiator } from './spnego/index.js';
import type { SpnegoMechanism } from './spnego/mech.js';
import { KerberosInitiator } from './kerberos/initiator.js';
import type { ServiceTicket } from './kerberos/kdc-client.js';

export type ClientMechanism = 'ntlm' | 'spnego' | 'kerberos';
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
  /** Password credentials (NTLMSSP); needed for 'ntlm', optional for 'spnego'. */
  readonly credentials?: NtlmCredentials;
  /** Service principal for NTLM's MsvAvTargetName (e.g. host/server). */
  readonly targetName?: string;
  /** The Kerberos service ticket (or how to get it at the first leg); needed for 'kerberos', preferred by 'spnego'. */
  readonly kerberos?: ServiceTicket | (() => Promise<ServiceTicket>);
}

/** The security context `--auth MECH --level LEVEL -U DOMAIN\\user` asks for. */
export function clientAuth(o: ClientAuthOptions): ClientAuth {
  const authLevel = CLIENT_LEVELS[o.level];
  // The flags a bind at this level asks of a mechanism: the acceptor's rule, seen from our side.
  const flags = flagsForBind({ authLevel, headerSigning: true }, false);
  const creds = o.credentials;
  const ntlm = creds && ((): NtlmInitiator => new NtlmInitiator({
    credentials: creds, flags, ...(o.targetName !== undefined ? { targetName: o.targetName } : {}),
  }));
  const ticket = o.kerberos;
  const krb5 = ticket && ((): KerberosInitiator => new KerberosInitiator({ ticket, flags: { ...flags, dceStyle: true } }));
  if (o.mechanism === 'ntlm') {
    if (!ntlm) throw new TypeError('clientAuth: ntlm needs credentials');
    return gssClientAuth(ntlm(), { authType: AUTH_TYPE.ntlmssp, authLevel });
  }
  if (o.mechanism === 'kerberos') {
    if (!krb5) throw new TypeError('clientAuth: kerberos needs a ticket');
    return gssClientAuth(krb5(), { authType: AUTH_TYPE.krb5, authLevel });
  }
  const mechanisms: SpnegoMechanism[] = [];
  if (krb5) mechanisms.push({ oid: MECH_OID.kerberos, start: krb5 });
  if (ntlm) mechanisms.push({ oid: MECH_OID.ntlmssp, start: ntlm });
  if (mechanisms.length === 0) throw new TypeError('clientAuth: spnego needs a ticket or credentials');
  const spnego = createSpnegoInitiator({ mechanisms });
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
