/**
 * A typed FSRVP client over the DCE/RPC client: one method per operation, plus `cycle()`, the
 * whole shadow copy life cycle as backup applications drive it. Used by the `fsrvp` CLI, the
 * benchmarks and the tests.
 */
import { randomUUID } from 'node:crypto';
import { RpcClient } from '../dcerpc/client.js';
import { NDR20, syntaxId } from '../dcerpc/syntax.js';
import { ATTR, CTX, FSRVP_UUID, FSRVP_VERSION, HRESULT, hresultName } from '../fsrvp/codes.js';
import * as Idl from '../fsrvp/idl.js';
import type { Operation } from '../dcerpc/interface.js';
import type { ClientAuth } from '../dcerpc/client-auth.js';

export interface ConnectOptions {
  host?: string;
  port: number;
  timeoutMs?: number;
  /** DCE/RPC authentication for the bind (src/security's clientAuth); none = unauthenticated. */
  auth?: ClientAuth;
}

/** An FSRVP method answered with a non-zero return value. */
export class FsrvpCallError extends Error {
  constructor(readonly op: string, readonly result: number) {
    super(`${op} returned ${hresultName(result)}`);
    this.name = 'FsrvpCallError';
  }
}

const ok = <T extends { result: number }>(op: string, res: T): T => {
  if (res.result !== HRESULT.ZERO) throw new FsrvpCallError(op, res.result);
  return res;
};

/** MS-FSRVP 3.2.2: a client's RPC call timeout, used for every call without a timeout of its own. */
export const RPC_CALL_TIMEOUT_MS = 180_000;
/** How much longer than a call's TimeOutInMilliseconds the client waits for the answer. */
const ANSWER_MARGIN_MS = 30_000;

export class FsrvpClient {
  private constructor(readonly rpc: RpcClient) {}

  private call<Req, Res>(op: Operation<Req, Res>, req: Req, timeoutMs = RPC_CALL_TIMEOUT_MS): Promise<Res> {
    return this.rpc.callOp(op, req, { timeoutMs });
  }

  /** The wait for a call that carries TimeOutInMilliseconds (0 = no limit on the server). */
  private static waitFor(serverTimeoutMs: number): number {
    return serverTimeoutMs === 0 ? 2 ** 31 - 1 : serverTimeoutMs + ANSWER_MARGIN_MS;
  }

  /** Connects and binds the FSRVP interface with NDR20 on context 0. */
  static async connect(opts: ConnectOptions): Promise<FsrvpClient> {
    return FsrvpClient.over(await RpcClient.connect(opts), opts);
  }

  /**
   * Binds FSRVP on an RPC connection opened by other means (an SMB pipe, an external RPC pipe
   * socket); the client owns it from now on, and closes it when the bind fails.
   */
  static async over(rpc: RpcClient, opts: { timeoutMs?: number; auth?: ClientAuth } = {}): Promise<FsrvpClient> {
    try {
      const ack = await rpc.bind({
        contexts: [{ contextId: 0, abstractSyntax: syntaxId(FSRVP_UUID, FSRVP_VERSION.major, FSRVP_VERSION.minor), transferSyntaxes: [NDR20] }],
        timeoutMs: opts.timeoutMs,
        ...(opts.auth !== undefined ? { auth: opts.auth } : {}),
      });
      if (ack.kind === 'bind_nak') throw new Error(`bind refused (bind_nak reason ${ack.rejectReason})`);
      const result = ack.results[0];
      if (!result || result.result !== 0) throw new Error(`the server does not offer FileServerVssAgent 1.0 (result ${result?.result}/${result?.reason})`);
    } catch (e) {
      await rpc.close();
      throw e;
    }
    return new FsrvpClient(rpc);
  }

  close(): Promise<void> {
    return this.rpc.close();
  }

  getSupportedVersion() {
    return this.call(Idl.GetSupportedVersion, {});
  }
  setContext(Context: number) {
    return this.call(Idl.SetContext, { Context });
  }
  startShadowCopySet(ClientShadowCopySetId: string = randomUUID()) {
    return this.call(Idl.StartShadowCopySet, { ClientShadowCopySetId });
  }
  addToShadowCopySet(ShadowCopySetId: string, ShareName: string, ClientShadowCopyId: string = randomUUID()) {
    return this.call(Idl.AddToShadowCopySet, { ClientShadowCopyId, ShadowCopySetId, ShareName });
  }
  prepareShadowCopySet(ShadowCopySetId: string, TimeOutInMilliseconds = 1_800_000) {
    return this.call(Idl.PrepareShadowCopySet, { ShadowCopySetId, TimeOutInMilliseconds }, FsrvpClient.waitFor(TimeOutInMilliseconds));
  }
  commitShadowCopySet(ShadowCopySetId: string, TimeOutInMilliseconds = 60_000) {
    return this.call(Idl.CommitShadowCopySet, { ShadowCopySetId, TimeOutInMilliseconds }, FsrvpClient.waitFor(TimeOutInMilliseconds));
  }
  exposeShadowCopySet(ShadowCopySetId: string, TimeOutInMilliseconds = 1_800_000) {
    return this.call(Idl.ExposeShadowCopySet, { ShadowCopySetId, TimeOutInMilliseconds }, FsrvpClient.waitFor(TimeOutInMilliseconds));
  }
  recoveryCompleteShadowCopySet(ShadowCopySetId: string) {
    return this.call(Idl.RecoveryCompleteShadowCopySet, { ShadowCopySetId });
  }
  abortShadowCopySet(ShadowCopySetId: string) {
    return this.call(Idl.AbortShadowCopySet, { ShadowCopySetId });
  }
  isPathSupported(ShareName: string) {
    return this.call(Idl.IsPathSupported, { ShareName });
  }
  isPathShadowCopied(ShareName: string) {
    return this.call(Idl.IsPathShadowCopied, { ShareName });
  }
  getShareMapping(ShadowCopyId: string, ShadowCopySetId: string, ShareName: string, Level = 1) {
    return this.call(Idl.GetShareMapping, { ShadowCopyId, ShadowCopySetId, ShareName, Level });
  }
  deleteShareMapping(ShadowCopySetId: string, ShadowCopyId: string, ShareName: string) {
    return this.call(Idl.DeleteShareMapping, { ShadowCopySetId, ShadowCopyId, ShareName });
  }

  /**
   * Runs set context → start → add (each share) → prepare → commit → expose → get mapping →
   * [recovery complete] → [delete], reporting each step. Throws FsrvpCallError at the first
   * failing step (after aborting the set when it is still abortable).
   */
  async cycle(opts: CycleOptions): Promise<CycleResult> {
    const step = opts.onStep ?? (() => {});
    const context = (opts.context ?? CTX.BACKUP) | (opts.writable ? ATTR.AUTO_RECOVERY : 0);
    const uncs = opts.shares.map((s) => `\\\\${opts.serverName}\\${s}\\`);
    ok('SetContext', await this.setContext(context));
    step('SetContext', `context 0x${context.toString(16).padStart(8, '0')}`);
    const setId = ok('StartShadowCopySet', await this.startShadowCopySet()).pShadowCopySetId;
    step('StartShadowCopySet', `set ${setId}`);
    const copies: { share: string; unc: string; copyId: string; exposedName?: string | null; timestamp?: bigint }[] = [];
    try {
      for (const [i, unc] of uncs.entries()) {
        const copyId = ok('AddToShadowCopySet', await this.addToShadowCopySet(setId, unc)).pShadowCopyId;
        copies.push({ share: opts.shares[i] as string, unc, copyId });
        step('AddToShadowCopySet', `${unc} -> shadow copy ${copyId}`);
      }
      ok('PrepareShadowCopySet', await this.prepareShadowCopySet(setId));
      step('PrepareShadowCopySet', 'prepared');
      ok('CommitShadowCopySet', await this.commitShadowCopySet(setId));
      step('CommitShadowCopySet', 'snapshots taken');
    } catch (e) {
      await this.abortShadowCopySet(setId).catch(() => undefined);
      throw e;
    }
    ok('ExposeShadowCopySet', await this.exposeShadowCopySet(setId));
    step('ExposeShadowCopySet', 'exposed');
    for (const c of copies) {
      const m = ok('GetShareMapping', await this.getShareMapping(c.copyId, setId, c.unc));
      const v = m.ShareMapping.tag === 1 ? m.ShareMapping.value : null;
      c.exposedName = v?.ShadowCopyShareName ?? null;
      c.timestamp = v?.CreationTimestamp;
      step('GetShareMapping', `${v?.ShareNameUNC ?? c.unc} -> ${c.exposedName ?? '(not exposed)'}`);
    }
    if (opts.recoveryComplete ?? true) {
      ok('RecoveryCompleteShadowCopySet', await this.recoveryCompleteShadowCopySet(setId));
      step('RecoveryCompleteShadowCopySet', opts.writable ? 'recovered; copies are read-only now' : 'recovered');
    }
    if (opts.delete ?? true) {
      for (const c of copies) {
        ok('DeleteShareMapping', await this.deleteShareMapping(setId, c.copyId, c.unc));
        step('DeleteShareMapping', `${c.exposedName ?? c.unc} removed`);
      }
    }
    return { setId, copies };
  }
}

export interface CycleOptions {
  /** Share names (not UNCs). */
  shares: string[];
  /** Host part of the UNC names the client sends (never contacted by the server). */
  serverName: string;
  context?: number;
  /** ATTR_AUTO_RECOVERY: writable copies until RecoveryComplete. */
  writable?: boolean;
  recoveryComplete?: boolean;
  delete?: boolean;
  onStep?: (op: string, detail: string) => void;
}

export interface CycleResult {
  setId: string;
  copies: { share: string; unc: string; copyId: string; exposedName?: string | null; timestamp?: bigint }[];
}
