/**
 * GetSupportedVersion round trips per second over TCP, on one connection and on 16 concurrent
 * connections, against a real agent in this process. Reference measured in the same run: a raw
 * TCP echo of the same 24-byte request over the same loopback (the transport's floor).
 */
import { createServer, type Server } from 'node:net';
import { RpcClient } from '../../src/dcerpc/client.js';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { benchSeed, rate, report, type Rate } from './measure.js';
import { startTempAgent } from '../lib/temp-agent.js';

const REQUEST = Uint8Array.from(Buffer.from('050000031000000018000000020000000000000000000000', 'hex'));

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

/** Round trips per second with `n` connections, each doing one call at a time. */
async function concurrent(label: string, n: number, seconds: number, makeCall: () => Promise<() => Promise<unknown>>): Promise<Rate> {
  const calls = await Promise.all(Array.from({ length: n }, makeCall));
  const perConn = await Promise.all(calls.map((call) => rate(label, call, seconds, 20)));
  const ops = perConn.reduce((a, r) => a + r.ops, 0);
  const secs = Math.max(...perConn.map((r) => r.seconds));
  return { label, ops, seconds: secs, perSecond: ops / secs };
}

export async function benchTcp(seconds: number): Promise<void> {
  console.log('-- TCP (GetSupportedVersion round trips)');
  const agent = await startTempAgent({ prefix: 'fsrvp-bench-', seed: benchSeed });
  const echo = await echoServer();
  const clients: { close(): Promise<void> }[] = [];
  try {
    const echoCall = async () => {
      const c = await RpcClient.connect({ port: echo.port });
      clients.push(c);
      return async () => {
        c.sendRaw(REQUEST);
        await c.readPdu();
      };
    };
    const fsrvpCall = async () => {
      const c = await FsrvpClient.connect({ port: agent.port });
      clients.push(c);
      return () => c.getSupportedVersion();
    };
    for (const n of [1, 16]) {
      const ref = await concurrent(`raw TCP echo of the request, ${n} connection(s) (reference)`, n, seconds, echoCall);
      const ours = await concurrent(`GetSupportedVersion, ${n} connection(s)`, n, seconds, fsrvpCall);
      report(ref);
      report(ours, ref);
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await new Promise<void>((r) => echo.server.close(() => r()));
    await agent.stop();
  }
}
