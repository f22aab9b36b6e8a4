/**
 * Our SMB client and DCE/RPC protection, measured through a private smbd (agent mode: our agent
 * behind `external_rpc_pipe:socket_dir`, NTLM checked against smbd's passdb) in one run:
 *  - GetSupportedVersion calls per second, one at a time, over our SMB client (one SMB session,
 *    one pipe) against Samba's rpcclient in one interactive session on the same smbd and server
 *    (goal ≥ 1.0×);
 *  - the same calls and full cycles with the bind sealed (SPNEGO/NTLMSSP, packet privacy) and
 *    signed (integrity) against unauthenticated, over the same SMB pipe (goal: sealed cycles
 *    ≥ 0.9× unauthenticated).
 * Each of our clients runs in a worker thread (smb-worker.ts), as rpcclient runs in a process of
 * its own: the agent keeps the main thread. The clients are measured in interleaved rounds, in
 * a rotating order, and each figure is the median of its rounds, so warm-up and bursts of outside
 * load fall on every client alike; a cycle round is one cycle (measure.ts CYCLE_ROUNDS).
 * Kerberos-sealed figures: the krb section (krb.ts), with a private AD DC as the KDC.
 */
import { Worker } from 'node:worker_threads';
import type { ClientLevel } from '../../src/security/client-auth.js';
import { SHARE, SambaHarness, startTestAgent } from '../lib/samba-harness.js';
import { CYCLE_ROUNDS, ONE_BATCH, interleaved, rate, report, type Rate } from './measure.js';
import { close, getVersion, handleSignals, open } from './samba-run.js';
import type { SmbWorkerData, SmbWorkerOp, SmbWorkerRequest } from './smb-worker.js';

/** Rounds of the call figures, each `--seconds`/5 long per client. */
const ROUNDS = 11;

type Reply = Rate | { error: string } | { ready: true } | { closed: true };

/** A client of ours in its own worker thread (smb-worker.ts). */
class ClientWorker {
  private waiting: Array<(r: Reply) => void> = [];
  private constructor(private readonly worker: Worker) {
    worker.on('message', (r: Reply) => this.waiting.shift()?.(r));
    worker.on('error', (e) => {
      for (const w of this.waiting.splice(0)) w({ error: e.message });
    });
  }

  private next(): Promise<Reply> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  static async start(data: SmbWorkerData): Promise<ClientWorker> {
    const w = new ClientWorker(new Worker(new URL('./smb-worker.js', import.meta.url), { workerData: data }));
    const first = await w.next();
    if ('error' in first) {
      await w.worker.terminate();
      throw new Error(`bench client (${data.level ?? 'unauthenticated'}) did not start: ${first.error}`);
    }
    return w;
  }

  async measure(req: SmbWorkerRequest & { op: SmbWorkerOp }): Promise<Rate> {
    const answer = this.next();
    this.worker.postMessage(req);
    const r = await answer;
    if ('error' in r) throw new Error(`${req.label ?? req.op}: ${r.error}`);
    if (!('perSecond' in r)) throw new Error(`${req.label ?? req.op}: unexpected worker answer`);
    return r;
  }

  async close(): Promise<void> {
    const answer = this.next();
    this.worker.postMessage({ op: 'close' } satisfies SmbWorkerRequest);
    await Promise.race([answer, new Promise((r) => setTimeout(r, 5000))]);
    await this.worker.terminate();
  }
}

export async function benchSmb(seconds: number): Promise<void> {
  console.log('\n== smb: our SMB client vs rpcclient, and sealed vs unauthenticated DCE/RPC (through a private smbd, agent mode) ==');
  const unhook = handleSignals();
  const h = await SambaHarness.start({ mode: 'agent', seqTimeout: 30 });
  const workers: ClientWorker[] = [];
  try {
    await startTestAgent(h, (c) => {
      c.auth.ntlm = { verifier: 'passdb', smbConf: h.conf };
    });
    const data = (level?: ClientLevel): SmbWorkerData => ({
      host: '127.0.0.1', port: 445, user: h.admin.name, domain: 'FSRVPH', password: h.admin.password, share: SHARE,
      ...(level !== undefined ? { level } : {}),
    });
    const plain = await ClientWorker.start(data());
    workers.push(plain);
    const sealed = await ClientWorker.start(data('privacy'));
    workers.push(sealed);
    const signed = await ClientWorker.start(data('integrity'));
    workers.push(signed);
    const rc = open(h);
    try {
      const slice = seconds / 5;
      const gsv = (w: ClientWorker) => (label: string) => w.measure({ op: 'gsv', label, seconds: slice, batch: 50, warmupMs: 100 });
      const [ref, ours, sealedGsv, signedGsv] = await interleaved(ROUNDS, [
        { label: 'rpcclient fss_get_sup_version (one session)', run: (label) => rate(label, () => getVersion(rc), slice, 20, 100) },
        { label: 'ours: GetSupportedVersion over our SMB client', run: gsv(plain) },
        { label: 'ours: GetSupportedVersion, sealed (spnego, privacy)', run: gsv(sealed) },
        { label: 'ours: GetSupportedVersion, signed (spnego, integrity)', run: gsv(signed) },
      ]) as [Rate, Rate, Rate, Rate];
      report(ref);
      report(ours, ref);
      report(sealedGsv, ours);
      report(signedGsv, ours);
      const cycles = (w: ClientWorker) => (label: string) => w.measure({ op: 'cycle', label, seconds: ONE_BATCH, batch: 1, warmupMs: 0 });
      const [plainCycles, sealedCycles] = await interleaved(CYCLE_ROUNDS, [
        { label: 'ours: full cycles, unauthenticated', run: cycles(plain) },
        { label: 'ours: full cycles, sealed (spnego, privacy)', run: cycles(sealed) },
      ]) as [Rate, Rate];
      report(plainCycles);
      report(sealedCycles, plainCycles);
      const r = sealedCycles.perSecond / plainCycles.perSecond;
      console.log(`sealed cycles at ${r.toFixed(2)}× unauthenticated (goal ≥ 0.9×); our SMB client at ${(ours.perSecond / ref.perSecond).toFixed(2)}× rpcclient (goal ≥ 1.0×)`);
      console.log(`(each figure: the median of interleaved rounds, ${ROUNDS} for calls and ${CYCLE_ROUNDS} single cycles for cycles; our clients in worker threads, the agent in the main thread)`);
    } finally {
      await close(rc);
    }
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await h.stop();
    unhook();
  }
}
