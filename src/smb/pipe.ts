/**
 * A named pipe on IPC$ as a DCE/RPC PduTransport (ncacn_np). Two ways to move PDUs:
 *  - 'transceive' (default, as Windows clients do): the PDU sent last before a receive goes out
 *    with FSCTL_PIPE_TRANSCEIVE and its answer comes back in the same round trip; earlier PDUs
 *    (first fragments, AUTH3) are written;
 *  - 'write-read': every PDU is a WRITE, every receive a READ.
 * A pipe message longer than one READ or IOCTL answers STATUS_BUFFER_OVERFLOW; the rest comes with
 * further READs, which RpcClient asks for as it frames PDUs by frag_length.
 */
import createDebug from 'debug';
import type { PduTransport } from '../dcerpc/transport.js';
import { SmbClient, type SmbClientOptions, type SmbFile, type SmbTree } from './client.js';
import { SmbConnectionError } from './errors.js';

const log = createDebug('fsrvp:smb');

export type PipeMode = 'transceive' | 'write-read';

export interface PipeOptions {
  readonly mode?: PipeMode;
  /** Bytes asked for per READ or IOCTL answer (default 65536: one credit). */
  readonly chunkSize?: number;
}

export class SmbPipe implements PduTransport {
  private held: Uint8Array | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly owned: Array<() => Promise<void>> = [];
  readonly mode: PipeMode;
  private readonly chunk: number;

  constructor(readonly file: SmbFile, opts: PipeOptions = {}) {
    this.mode = opts.mode ?? 'transceive';
    this.chunk = opts.chunkSize ?? 65536;
  }

  /** Opens `name` (e.g. FssagentRpc, without \PIPE\) on the tree (IPC$). */
  static async open(tree: SmbTree, name: string, opts: PipeOptions = {}): Promise<SmbPipe> {
    return new SmbPipe(await tree.open(name), opts);
  }

  /**
   * Connects to the server, logs on, connects IPC$ and opens the pipe; closing the pipe undoes
   * all of it.
   */
  static async connect(name: string, opts: SmbClientOptions & PipeOptions): Promise<SmbPipe> {
    const client = await SmbClient.connect(opts);
    try {
      const tree = await client.treeConnect('IPC$');
      const pipe = await SmbPipe.open(tree, name, opts);
      pipe.owned.push(() => tree.disconnect(), () => client.close());
      return pipe;
    } catch (e) {
      await client.close();
      throw e;
    }
  }

  get client(): SmbClient {
    return this.file.tree.client;
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new SmbConnectionError('the pipe is closed'));
    const copy = new Uint8Array(bytes);
    if (this.mode === 'write-read') {
      this.chain = this.chain.then(async () => {
        await this.file.write(copy);
      });
      return this.chain;
    }
    const earlier = this.held;
    this.held = copy;
    if (earlier !== undefined) {
      this.chain = this.chain.then(async () => {
        await this.file.write(earlier);
      });
    }
    return this.chain;
  }

  async receive(): Promise<Uint8Array | null> {
    await this.chain;
    if (this.closed) return null;
    const held = this.held;
    this.held = undefined;
    const c = held !== undefined ? await this.file.transceive(held, this.chunk) : await this.file.read(this.chunk);
    log('pipe %s: %d bytes%s', this.file.name, c.data.length, c.more ? ', more follow' : '');
    return c.data;
  }

  /** Closes the pipe handle, then (for SmbPipe.connect) the tree and the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.held = undefined;
    const steps = [() => this.file.close(), ...this.owned.splice(0)];
    let first: unknown;
    for (const s of steps) {
      try {
        await s();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined && !(first instanceof SmbConnectionError)) throw first;
  }
}
