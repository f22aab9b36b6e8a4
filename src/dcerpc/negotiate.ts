/**
 * Presentation-context negotiation for bind and alter_context (docs/DCERPC.md §6), Samba's
 * algorithm (`dcesrv_bind` pre-checks + `dcesrv_negotiate_contexts`) with NDR20 as the only
 * transfer syntax. Pure: it reads the connection's contexts and returns what to change.
 */
import type { InterfaceRegistry, RpcInterface } from './interface.js';
import { BIND_TIME_FEATURE, PROVIDER_REASON, RESULT } from './constants.js';
import type { ContextResult, PresentationContext } from './pdu-types.js';
import {
  bindTimeFeatures, NDR20, NULL_SYNTAX, syntaxEqual, syntaxId, versionMajor, versionMinor,
  type SyntaxId,
} from './syntax.js';

/** A presentation context accepted on a connection. */
export interface BoundContext {
  readonly contextId: number;
  readonly iface: RpcInterface;
  readonly abstractSyntax: SyntaxId;
  readonly transferSyntax: SyntaxId;
}

/**
 * Feature bits this server grants when asked (§6), as Samba does: security context multiplexing
 * (a connection keeps several security contexts, see security.ts) and keep-connection-on-orphan
 * (orphaned PDUs are ignored).
 */
export const GRANTABLE_FEATURES = BIND_TIME_FEATURE.securityContextMultiplexing | BIND_TIME_FEATURE.keepConnectionOnOrphan;

export type NegotiationRefusal =
  | 'no-transfer-syntaxes' // an element with n_transfer_syn = 0
  | 'two-feature-elements' // more than one bind-time feature element (bind only)
  | 'context-conflict'; // a bound p_cont_id proposed with another abstract/transfer syntax

export type Negotiation =
  | {
      readonly ok: true;
      /** One result per proposed element, in order. */
      readonly results: ContextResult[];
      /** The context created by this PDU (at most one), to add to the connection. */
      readonly created: BoundContext | undefined;
    }
  | { readonly ok: false; readonly refusal: NegotiationRefusal; readonly detail: string };

function reject(reason: number): ContextResult {
  return { result: RESULT.provider_rejection, reason, transferSyntax: NULL_SYNTAX };
}

/** The syntax id an interface is registered under. */
export function interfaceSyntax(iface: RpcInterface): SyntaxId {
  return syntaxId(iface.uuid, iface.version.major, iface.version.minor);
}

export function negotiateContexts(args: {
  readonly proposed: readonly PresentationContext[];
  /** Bind-time feature elements are recognised in bind only (alter treats them as contexts). */
  readonly isBind: boolean;
  readonly bound: ReadonlyMap<number, BoundContext>;
  readonly registry: InterfaceRegistry;
  readonly grantable?: number;
}): Negotiation {
  const { proposed, isBind, bound, registry } = args;
  const grantable = BigInt(args.grantable ?? GRANTABLE_FEATURES);
  const results: ContextResult[] = proposed.map(() => reject(PROVIDER_REASON.abstract_syntax_not_supported));

  // Pre-checks over all elements, before any is negotiated.
  let featureSeen = false;
  for (const [i, c] of proposed.entries()) {
    if (c.transferSyntaxes.length === 0) {
      return { ok: false, refusal: 'no-transfer-syntaxes', detail: `context ${c.contextId} has no transfer syntax` };
    }
    if (!isBind) continue;
    // Only the first transfer syntax makes an element a feature request.
    const requested = bindTimeFeatures(c.transferSyntaxes[0] as SyntaxId);
    if (requested === undefined) continue;
    if (featureSeen) return { ok: false, refusal: 'two-feature-elements', detail: 'second bind-time feature element' };
    featureSeen = true;
    results[i] = { result: RESULT.negotiate_ack, reason: Number(requested & grantable) & 0xffff, transferSyntax: NULL_SYNTAX };
  }

  // Accept at most one context per PDU: after the first acceptance the rest are only validated.
  let validateOnly = false;
  let created: BoundContext | undefined;
  for (const [i, c] of proposed.entries()) {
    if ((results[i] as ContextResult).result === RESULT.negotiate_ack) continue;
    const a = c.abstractSyntax;
    const iface = registry.lookup(a.uuid, versionMajor(a), versionMinor(a));
    if (iface === undefined) continue; // 2/1, abstract syntax not offered here
    results[i] = reject(PROVIDER_REASON.proposed_transfer_syntaxes_not_supported);
    if (validateOnly) continue; // 2/2, one new context per PDU
    const offersNdr20 = c.transferSyntaxes.some((t) => syntaxEqual(t, NDR20));
    const existing = bound.get(c.contextId);
    if (existing !== undefined) {
      if (!syntaxEqual(existing.abstractSyntax, a)) {
        return { ok: false, refusal: 'context-conflict', detail: `context ${c.contextId} is bound to another interface` };
      }
      if (offersNdr20) {
        if (!syntaxEqual(existing.transferSyntax, NDR20)) {
          return { ok: false, refusal: 'context-conflict', detail: `context ${c.contextId} uses another transfer syntax` };
        }
        results[i] = { result: RESULT.acceptance, reason: PROVIDER_REASON.not_specified, transferSyntax: NDR20 };
        validateOnly = true; // a re-accepted context counts as the one per PDU
      }
      continue; // without NDR20 it stays 2/2
    }
    if (!offersNdr20) continue; // 2/2: NDR64-only elements end here
    created = { contextId: c.contextId, iface, abstractSyntax: interfaceSyntax(iface), transferSyntax: NDR20 };
    results[i] = { result: RESULT.acceptance, reason: PROVIDER_REASON.not_specified, transferSyntax: NDR20 };
    validateOnly = true;
  }
  return { ok: true, results, created };
}
