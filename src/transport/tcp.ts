/**
 * ncacn_ip_tcp listener: one RPC connection per TCP connection, PDUs framed by frag_length
 * (no extra framing). Binds to 127.0.0.1 unless told otherwise. The bind_ack secondary address is
 * the port number as text, as Windows and Samba send for ncacn_ip_tcp; it can be overridden
 * (e.g. `\pipe\FssagentRpc`, to replay a named-pipe capture byte for byte).
 */
import { createServer, type Server, type Socket } from 'node:net';
import createDebug from 'debug';
import { AssocGroupTable } from '../dcerpc/assoc-group.js';
import type { ConnectionSecurity } from '../dcerpc/connection.js';
import { isValidSecondaryAddress } from '../dcerpc/connection.js';
import type { CallerIdentity, InterfaceRegistry } from '../dcerpc/interface.js';
import { allocateConnectionId, attachRpcStream, type PduTap, type RpcStream } from './stream.js';

const log = createDebug('fsrvp:tcp');

export interface TcpListenOptions extends ConnectionSecurity {
  readonly registry: InterfaceRegistry;
  /** Identity given to every caller (TCP carries none); `clientAddress` is filled per connection. */
  readonly caller: CallerIdentity;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  /** bind_ack secondary address; default the listening port as text. */
  readonly secondaryAddress?: string;
  /** Association groups; default one table for this listener. */
  readonly groups?: AssocGroupTable;
  /** Connections beyond this are closed on accept (default 1024). */
  readonly maxConnections?: number;
  /** An observer for each accepted connection's PDUs (the recorder), or none. */
  readonly tap?: (c: { connectionId: number; clientAddress: string }) => PduTap | undefined;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Open RPC connections. */
  readonly connections: number;
  /** Stops listening, closes every open connection, resolves when all sockets are gone. */
  close(): Promise<void>;
}

export async function listenTcp(opts: TcpListenOptions): Promise<TcpListener> {
  const host = opts.host ?? '127.0.0.1';
  const groups = opts.groups ?? new AssocGroupTable();
  const maxConnections = opts.maxConnections ?? 1024;
  if (opts.secondaryAddress !== undefined && !isValidSecondaryAddress(opts.secondaryAddress)) {
    throw new RangeError(`secondary address must be printable ASCII: ${JSON.stringify(opts.secondaryAddress)}`);
  }
  const sockets = new Map<Socket, RpcStream>();
  let secondaryAddress = opts.secondaryAddress ?? '';

  const server: Server = createServer((socket) => {
    if (sockets.size >= maxConnections) {
      log('refusing connection from %s: %d open', socket.remoteAddress, sockets.size);
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const clientAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const connectionId = allocateConnectionId();
    const tap = opts.tap?.({ connectionId, clientAddress });
    const stream = attachRpcStream({
      connectionId,
      ...(tap ? { tap } : {}),
      registry: opts.registry,
      caller: { ...opts.caller, clientAddress },
      secondaryAddress,
      groups,
      authProviders: opts.authProviders,
      allowAuthLevelConnect: opts.allowAuthLevelConnect,
      minAuthLevel: opts.minAuthLevel,
      onSecurityEvent: opts.onSecurityEvent,
      send: (pdu) => {
        if (!socket.destroyed) socket.write(pdu);
      },
      // Replies already written are flushed, then the socket goes away even if the peer lingers.
      close: () => {
        if (!socket.destroyed) socket.end(() => socket.destroy());
      },
      backpressure: (paused) => (paused ? socket.pause() : socket.resume()),
    });
    sockets.set(socket, stream);
    log('conn %d: accepted from %s', stream.connectionId, clientAddress);
    socket.on('data', (chunk: Buffer) => stream.push(chunk));
    socket.on('end', () => stream.end());
    socket.on('error', (e) => log('conn %d: socket error: %s', stream.connectionId, e.message));
    socket.on('close', () => {
      stream.destroy();
      sockets.delete(socket);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  if (opts.secondaryAddress === undefined) secondaryAddress = String(port);
  log('listening on %s:%d', host, port);

  return {
    host,
    port,
    get connections() {
      return sockets.size;
    },
    async close(): Promise<void> {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const [socket, stream] of sockets) {
        stream.destroy();
        socket.destroy();
      }
      await closing;
    },
  };
}
