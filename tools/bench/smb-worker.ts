/**
 * One FSRVP client over our SMB client, in a worker thread of its own, for the `smb` bench.
 * The agent under test runs in the bench's main thread; a client on that same thread would share
 * its event loop and core with the agent, while rpcclient (the reference) is a process of its
 * own. A worker gives ours the same footing: client and agent on separate threads.
 *
 * The main thread sends {op, seconds, batch, warmupMs, label}; the worker answers with a Rate
 * (or {error}). `close` ends the client and the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { targetOpener } from '../../src/cli/target.js';
import { FsrvpClient } from '../../src/client/fsrvp-client.js';
import { clientAuth, type ClientLevel } from '../../src/security/client-auth.js';
import { rate } from './measure.js';

export interface SmbWorkerData {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly domain: string;
  readonly password: string;
  /** DCE/RPC protection of the bind (SPNEGO/NTLMSSP); absent = unauthenticated. */
  readonly level?: ClientLevel;
  /** The share full cycles snapshot. */
  readonly share: string;
}

export type SmbWorkerOp = 'gsv' | 'cycle';

export interface SmbWorkerRequest {
  readonly op: SmbWorkerOp | 'close';
  readonly label?: string;
  readonly seconds?: number;
  readonly batch?: number;
  readonly warmupMs?: number;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('smb-worker runs only as a worker thread');
  const d = workerData as SmbWorkerData;
  const credentials = { user: d.user, domain: d.domain, password: d.password };
  const opener = targetOpener({ kind: 'smb', host: d.host, port: d.port }, credentials);
  const auth = d.level === undefined ? undefined : clientAuth({ mechanism: 'spnego', level: d.level, credentials });
  const client = await FsrvpClient.over(await opener.open(), auth !== undefined ? { auth } : {});
  const calls: Record<SmbWorkerOp, () => Promise<void>> = {
    async gsv() {
      const r = await client.getSupportedVersion();
      if (r.result !== 0) throw new Error(`GetSupportedVersion returned ${r.result}`);
    },
    async cycle() {
      await client.cycle({ shares: [d.share], serverName: d.host });
    },
  };
  port.on('message', (m: SmbWorkerRequest) => {
    void (async () => {
      if (m.op === 'close') {
        await client.close().catch(() => undefined);
        await opener.close().catch(() => undefined);
        port.postMessage({ closed: true });
        port.close();
        return;
      }
      try {
        port.postMessage(await rate(m.label ?? m.op, calls[m.op], m.seconds ?? 1, m.batch ?? 10, m.warmupMs ?? 0));
      } catch (e) {
        port.postMessage({ error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  port.postMessage({ ready: true });
}

main().catch((e: unknown) => {
  parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) });
});
