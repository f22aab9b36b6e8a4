/**
 * The seam between any byte-stream transport and the DCE/RPC connection state machine.
 *
 * A transport (TCP here; the Samba named-pipe socket in npa*.ts after it strips its own framing)
 * calls `attachRpcStream` once per connection, feeds received bytes to `push`, and calls `end`
 * when the peer stops sending. The stream frames PDUs by frag_length, hands them one at a time,
 * in order, to an `RpcConnection` (awaiting each, so a slow handler delays only its own
 * connection), and gives every reply PDU to `send` in order — one call per PDU, so message-mode
 * transports can send each as one message. When the state machine decides to close (after a
 * bind_nak or a fatal fault) or a PDU cannot be framed/parsed (dropped without reply, as Samba
 * does), `close` is called exactly once; the transport then tears down its socket. Nothing here
 * knows about sockets.
 */
import createDebug from 'debug';
import type { AssocGroupTable } from '../dcerpc/assoc-group.js';
import type { ConnectionSecurity } from '../dcerpc/connection.js';
import { RpcConnection } from '../dcerpc/connection.js';
import { PduFramer } from '../dcerpc/framing.js';
import type { CallerIdentity, InterfaceRegistry } from '../dcerpc/interface.js';

const log = createDebug('fsrvp:stream');

/** Queued-but-unprocessed bytes above which the transport is asked to stop reading. */
const HIGH_WATER = 1 << 20;

let nextConnectionId = 1;

/** A process-wide unique connection id (for CallContext and logs). */
export function allocateConnectionId(): number {
  return nextConnectionId++;
}

/**
 * Sees every framed PDU of a connection, both directions, in order (the agent's recorder). A
 * tap must not throw; if it does, the fault is logged and the tap is dropped, the connection
 * goes on.
 */
export interface PduTap {
  pdu(dir: 'c2s' | 's2c', bytes: Uint8Array): void;
  /** The connection is over. */
  close(): void;
}

export interface RpcStreamOptions extends ConnectionSecurity {
  readonly registry: InterfaceRegistry;
  /** Identity of the peer as the transport knows it (npa token, config, anonymous). */
  readonly caller: CallerIdentity;
  /** bind_ack secondary address (`\pipe\FssagentRpc` for the pipe, the port number for TCP). */
  readonly secondaryAddress: string;
  /** Association groups of this server endpoint, shared by its connections. */
  readonly groups: AssocGroupTable;
  /** Sends one reply PDU. */
  send(pdu: Uint8Array): void;
  /** Closes the transport connection. Called at most once. */
  close(): void;
  readonly connectionId?: number;
  /** Optional flow control: true = stop reading for now, false = resume. */
  backpressure?(paused: boolean): void;
  /** Optional observer of the connection's PDUs. */
  readonly tap?: PduTap;
}

export interface RpcStream {
  /** Bytes received from the peer, in order, any chunking. */
  push(bytes: Uint8Array): void;
  /** The peer will send no more: PDUs already received are still answered, then `close` runs. */
  end(): void;
  /** Closes now (e.g. the transport died): pending PDUs are discarded. Idempotent. */
  destroy(): void;
  readonly connectionId: number;
  readonly closed: boolean;
  /** Resolves when the stream has closed (by either side). */
  readonly done: Promise<void>;
}

export function attachRpcStream(opts: RpcStreamOptions): RpcStream {
  const connectionId = opts.connectionId ?? allocateConnectionId();
  const conn = new RpcConnection({
    registry: opts.registry,
    caller: opts.caller,
    secondaryAddress: opts.secondaryAddress,
    groups: opts.groups,
    connectionId,
    authProviders: opts.authProviders,
    allowAuthLevelConnect: opts.allowAuthLevelConnect,
    minAuthLevel: opts.minAuthLevel,
    onSecurityEvent: opts.onSecurityEvent,
  });
  const framer = new PduFramer();
  let tap = opts.tap;
  const observe = (f: (t: PduTap) => void): void => {
    if (!tap) return;
    try {
      f(tap);
    } catch (e) {
      log('conn %d: PDU tap failed, dropped: %O', connectionId, e);
      tap = undefined;
    }
  };
  const queue: Uint8Array[] = [];
  let queuedBytes = 0;
  let paused = false;
  let running = false;
  let ended = false;
  let closed = false;
  let unframable = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const finish = (why: string): void => {
    if (closed) return;
    closed = true;
    queue.length = 0;
    queuedBytes = 0;
    conn.dispose();
    observe((t) => t.close());
    tap = undefined;
    log('conn %d: closed (%s)', connectionId, why);
    try {
      opts.close();
    } finally {
      resolveDone();
    }
  };

  const flow = (): void => {
    if (opts.backpressure === undefined) return;
    const want = queuedBytes > HIGH_WATER;
    if (want !== paused) {
      paused = want;
      opts.backpressure(want);
    }
  };

  const run = async (): Promise<void> => {
    running = true;
    try {
      while (!closed && queue.length > 0) {
        const pdu = queue.shift() as Uint8Array;
        queuedBytes -= pdu.length;
        flow();
        const outcome = await conn.handle(pdu);
        if (closed) return;
        for (const reply of outcome.replies) {
          observe((t) => t.pdu('s2c', reply));
          opts.send(reply);
        }
        if (outcome.after !== 'keep') {
          finish(outcome.after === 'drop' ? 'unparsable PDU' : 'protocol decision');
          return;
        }
      }
      if (unframable) finish('frag_length below 16');
      else if (ended) finish('peer finished');
    } catch (e) {
      // A bug, not a peer's doing: log it and drop only this connection.
      log('conn %d: internal error: %O', connectionId, e);
      finish('internal error');
    } finally {
      running = false;
    }
  };

  return {
    connectionId,
    get closed() {
      return closed;
    },
    done,
    push(bytes: Uint8Array): void {
      if (closed || ended || unframable) return;
      for (const pdu of framer.push(bytes)) {
        observe((t) => t.pdu('c2s', pdu));
        queue.push(pdu);
        queuedBytes += pdu.length;
      }
      if (framer.broken) unframable = true;
      flow();
      if (!running) void run();
    },
    end(): void {
      if (closed) return;
      ended = true;
      if (!running) void run();
    },
    destroy(): void {
      finish('destroyed by transport');
    },
  };
}
