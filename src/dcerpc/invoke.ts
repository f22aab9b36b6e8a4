/**
 * Running one complete, authorized request (the second half of Samba's dcesrv_request): the
 * verification trailer is taken off the stub and checked against the call, the stub decoded
 * with the operation's declaration, the handler run, and the answer encoded. Every refusal is
 * a fault status for the connection to send; nothing here throws for any input.
 */
import createDebug from 'debug';
import { decode, encode, NdrError, joinBytes } from '../ndr/index.js';
import { FAULT, PFC, faultName } from './constants.js';
import type { IncomingCall } from './connection-types.js';
import { RpcFault, type CallerIdentity } from './interface.js';
import { isLittleEndian } from './pdu.js';
import { checkVerificationTrailer, popVerificationTrailer } from './verification-trailer.js';

const log = createDebug('fsrvp:dcerpc');

export type InvokeResult =
  | { readonly stub: Uint8Array }
  | { readonly fault: { readonly status: number; readonly flags: number; readonly why: string } };

const fault = (status: number, flags: number, why: string): InvokeResult => ({ fault: { status, flags, why } });

export async function invokeCall(
  call: IncomingCall, env: { readonly caller: CallerIdentity; readonly connectionId: number; readonly clientHeaderSigning: boolean },
): Promise<InvokeResult> {
  const { context, first } = call;
  const whole = call.chunks.length === 1 ? (call.chunks[0] as Uint8Array) : joinBytes(call.chunks);
  // The verification trailer is removed from the stub and must match the call.
  const vt = popVerificationTrailer(whole);
  const vtProblem = checkVerificationTrailer(vt.commands, {
    bitmask1: env.clientHeaderSigning ? 1 : 0,
    abstractSyntax: context.abstractSyntax,
    transferSyntax: context.transferSyntax,
    header2: {
      ptype: first.header.ptype,
      drep: first.header.drep,
      callId: first.header.callId,
      contextId: first.contextId,
      opnum: first.opnum,
    },
  });
  if (vtProblem !== undefined) return fault(FAULT.access_denied, 0, `verification trailer: ${vtProblem}`);

  const bound = context.iface.operations[first.opnum];
  if (bound === undefined) {
    return fault(FAULT.nca_s_op_rng_error, PFC.DID_NOT_EXECUTE, `opnum ${first.opnum} of ${context.iface.name}`);
  }
  let req: unknown;
  try {
    // Trailing bytes after a valid stub are accepted, as Samba does.
    const d = decode(bound.op.request, vt.stub, { littleEndian: isLittleEndian(first.header.drep) });
    if (d.consumed !== vt.stub.length) {
      log('conn %d: %s: %d extra stub bytes ignored', env.connectionId, bound.op.name, vt.stub.length - d.consumed);
    }
    req = d.value;
  } catch (e) {
    if (!(e instanceof NdrError)) throw e;
    return fault(FAULT.bad_stub_data, 0, `${bound.op.name} stub: ${e.message}`);
  }

  let res: unknown;
  try {
    res = await bound.handler(req, { caller: env.caller, connectionId: env.connectionId, callId: call.callId });
  } catch (e) {
    if (e instanceof RpcFault) return fault(e.status >>> 0, 0, `${bound.op.name} raised ${faultName(e.status)}`);
    // Any other failure of a handler: DCERPC_FAULT_CANT_PERFORM, the connection stays.
    log('conn %d: %s handler failed: %O', env.connectionId, bound.op.name, e);
    return fault(FAULT.cant_perform, 0, `${bound.op.name} handler threw`);
  }
  try {
    return { stub: encode(bound.op.response, res) };
  } catch (e) {
    log('conn %d: %s response does not encode: %O', env.connectionId, bound.op.name, e);
    return fault(FAULT.bad_stub_data, 0, `${bound.op.name} response encoding`);
  }
}
