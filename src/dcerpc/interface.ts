/**
 * The interface registry: what the DCE/RPC runtime knows about the interfaces it serves.
 * An interface is its syntax identifier plus typed operations; the runtime decodes the request
 * stub with the operation's declaration, calls the handler, and encodes the response. Nothing
 * above this file sees bytes; nothing below it knows FSRVP.
 */
import type { NdrType } from '../ndr/index.js';

/** Who is calling, as the transport (or, later, RPC authentication) established it. */
export interface CallerIdentity {
  /** Where the identity came from. */
  readonly source: 'config' | 'npa' | 'rpc-auth' | 'anonymous';
  /** SIDs in the caller's token, as S-1-… strings. */
  readonly sids: readonly string[];
  /** Unix uid when known (npa unix token). */
  readonly uid?: number;
  /** Privilege mask from the token (SeBackupPrivilege = 0x200 in Samba's numbering). */
  readonly privilegeMask?: bigint;
  readonly accountName?: string;
  readonly domainName?: string;
  /** The client's address as the transport saw it (for logs). */
  readonly clientAddress?: string;
}

/** Per-call facts handed to a handler. */
export interface CallContext {
  readonly caller: CallerIdentity;
  readonly connectionId: number;
  readonly callId: number;
}

/** One RPC operation: opnum, name, and the declared parameter lists of both directions. */
export interface Operation<Req, Res> {
  readonly opnum: number;
  readonly name: string;
  readonly request: NdrType<Req>;
  readonly response: NdrType<Res>;
}

/** A handler may return the response, or ask for a DCE fault (e.g. nca_s_fault_ndr semantics). */
export type Handler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res> | Res;

export class RpcFault extends Error {
  constructor(readonly status: number, message?: string) {
    super(message ?? `DCE/RPC fault 0x${status.toString(16).padStart(8, '0')}`);
    this.name = 'RpcFault';
  }
}

/** A bound operation: the declaration and its handler, type-erased for the runtime. */
export interface BoundOperation {
  readonly op: Operation<unknown, unknown>;
  readonly handler: Handler<unknown, unknown>;
}

export interface RpcInterface {
  readonly name: string;
  /** Interface UUID, lower-case text. */
  readonly uuid: string;
  readonly version: { readonly major: number; readonly minor: number };
  /** Operations indexed by opnum; opnum >= length is nca_s_op_rng_error. */
  readonly operations: readonly BoundOperation[];
}

/** Pairs an operation with its handler, keeping the types checked at the call site. */
export function bind<Req, Res>(op: Operation<Req, Res>, handler: Handler<Req, Res>): BoundOperation {
  return { op: op as Operation<unknown, unknown>, handler: handler as Handler<unknown, unknown> };
}

/** The interfaces an endpoint offers, looked up by abstract syntax. */
export class InterfaceRegistry {
  private readonly byKey = new Map<string, RpcInterface>();

  register(iface: RpcInterface): this {
    iface.operations.forEach((b, i) => {
      if (b.op.opnum !== i) throw new Error(`${iface.name}: operation ${b.op.name} has opnum ${b.op.opnum}, listed at ${i}`);
    });
    this.byKey.set(InterfaceRegistry.key(iface.uuid, iface.version.major, iface.version.minor), iface);
    return this;
  }

  /** Exact match on UUID and the whole version, as Samba's ndr_syntax_id_equal does. */
  lookup(uuid: string, major: number, minor: number): RpcInterface | undefined {
    return this.byKey.get(InterfaceRegistry.key(uuid, major, minor));
  }

  list(): RpcInterface[] {
    return [...this.byKey.values()];
  }

  private static key(uuid: string, major: number, minor: number): string {
    return `${uuid.toLowerCase()}/${major}.${minor}`;
  }
}
