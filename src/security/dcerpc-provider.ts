/**
 * DCE/RPC AuthProviders built from GSS mechanisms (docs/DCERPC.md §8): auth_type 10 (NTLMSSP,
 * raw), 9 (SPNEGO, negotiating NTLMSSP or Kerberos) and 16 (Kerberos, registered only when a
 * Kerberos acceptor exists on this host). One GssContext per security context; its legs become
 * bind_ack / auth3 / alter_context_resp tokens, its wrapPdu/unwrapPdu the packet protection.
 *
 * dcerpc never imports this file: the agent builds the providers and hands them to the server.
 */
import type { AuthProvider, AuthSession, AuthStart, AuthStep, PacketProtection } from '../dcerpc/auth.js';
import { AUTH_LEVEL, AUTH_TYPE } from '../dcerpc/constants.js';
import type { CallerIdentity } from '../dcerpc/interface.js';
import type { GssContext, GssFlags } from './gss.js';

/** Makes a fresh acceptor context for the flags a bind asked for; undefined when it cannot start. */
export type AcceptorFactory = (flags: GssFlags) => GssContext | undefined;

/** The flags a DCE/RPC bind at `init.authLevel` asks a mechanism for (Samba's dcesrv_auth_prepare_gensec). */
export function flagsForBind(init: Pick<AuthStart, 'authLevel' | 'headerSigning'>, dceStyle: boolean): GssFlags {
  return {
    integrity: init.authLevel >= AUTH_LEVEL.packet,
    confidentiality: init.authLevel === AUTH_LEVEL.privacy,
    headerSigning: init.headerSigning,
    dceStyle,
  };
}

/**
 * The identity calls run as once a context is established. The mechanism's identity replaces
 * the transport's, except that when smbd forwarded a token for the very same account (same user
 * SID), that token is kept: smbd built it from the same authority for that account, with what a
 * passdb or PAC lookup does not carry (privileges such as SeBackupPrivilege, the unix uid), as
 * Samba's own session_info for the account would have them.
 */
export function effectiveIdentity(authenticated: CallerIdentity, transport: CallerIdentity | undefined): CallerIdentity {
  const user = authenticated.sids[0];
  if (transport?.source === 'npa' && user !== undefined && transport.sids[0] === user) {
    return {
      ...transport,
      source: 'rpc-auth',
      ...(authenticated.accountName !== undefined ? { accountName: authenticated.accountName } : {}),
      ...(authenticated.domainName !== undefined ? { domainName: authenticated.domainName } : {}),
    };
  }
  return transport?.clientAddress !== undefined && authenticated.clientAddress === undefined
    ? { ...authenticated, clientAddress: transport.clientAddress }
    : authenticated;
}

/** One security context: a GssContext seen through dcerpc's AuthSession. */
class GssAuthSession implements AuthSession {
  constructor(
    private readonly ctx: GssContext,
    private readonly fallbackIdentity: (c: GssContext) => CallerIdentity | undefined,
    private readonly transportCaller?: CallerIdentity,
  ) {}

  async update(token: Uint8Array): Promise<AuthStep> {
    let step;
    try {
      step = await this.ctx.step(token);
    } catch (e) {
      // The contract says step never throws; a mechanism bug still must not break the connection.
      return { status: 'rejected', reason: `mechanism threw: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (step.status !== 'done') return step.status === 'continue' ? step : { status: 'rejected', reason: step.reason };
    const identity = step.identity ?? this.fallbackIdentity(this.ctx);
    // An acceptor that completes without saying who the peer is has not authenticated anyone.
    if (identity === undefined) return { status: 'rejected', reason: 'mechanism established no identity' };
    return { status: 'done', token: step.token, identity: effectiveIdentity(identity, this.transportCaller) };
  }

  signatureSize(): number {
    return this.ctx.established ? this.ctx.signatureSize() : 0;
  }

  unwrap(p: PacketProtection & { readonly signature: Uint8Array }): boolean {
    if (!this.ctx.established) return false;
    try {
      return this.ctx.unwrapPdu(p);
    } catch {
      return false; // a signature that cannot even be parsed is a bad signature
    }
  }

  wrap(p: PacketProtection): Uint8Array {
    return this.ctx.wrapPdu(p);
  }
}

export interface GssProviderOptions {
  readonly authType: number;
  readonly name: string;
  readonly acceptor: AcceptorFactory;
  /** Kerberos over DCE/RPC is DCE-style (three legs); NTLMSSP and SPNEGO-wrapped NTLM are not. */
  readonly dceStyle?: boolean;
}

/** An AuthProvider for one auth_type from a factory of acceptor contexts. */
export function gssAuthProvider(opts: GssProviderOptions): AuthProvider {
  return {
    authType: opts.authType,
    name: opts.name,
    start(init: AuthStart): AuthSession | undefined {
      let ctx: GssContext | undefined;
      try {
        ctx = opts.acceptor(flagsForBind(init, opts.dceStyle ?? false));
      } catch {
        ctx = undefined; // "failed to start": bind_nak 9
      }
      return ctx === undefined ? undefined : new GssAuthSession(ctx, () => undefined, init.transportCaller);
    },
  };
}

/** The acceptors this host can offer; each is optional (doctor says why one is missing). */
export interface HostMechanisms {
  /** NTLMSSP acceptor (raw auth_type 10, and inside SPNEGO). */
  readonly ntlm?: AcceptorFactory;
  /** Kerberos acceptor (auth_type 16, and inside SPNEGO): kerberosAcceptorFactory over the host keytab. */
  readonly kerberos?: AcceptorFactory;
  /** SPNEGO over the mechanisms above; built by the caller from createSpnegoAcceptor. */
  readonly spnego?: AcceptorFactory;
}

/** The providers to register on a server: only those whose mechanism exists here. */
export function hostAuthProviders(m: HostMechanisms): AuthProvider[] {
  const out: AuthProvider[] = [];
  if (m.spnego !== undefined) out.push(gssAuthProvider({ authType: AUTH_TYPE.spnego, name: 'spnego', acceptor: m.spnego }));
  if (m.ntlm !== undefined) out.push(gssAuthProvider({ authType: AUTH_TYPE.ntlmssp, name: 'ntlmssp', acceptor: m.ntlm }));
  if (m.kerberos !== undefined) {
    out.push(gssAuthProvider({ authType: AUTH_TYPE.krb5, name: 'kerberos', acceptor: m.kerberos, dceStyle: true }));
  }
  return out;
}
