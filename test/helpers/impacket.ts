/**
 * Runs impacket (Debian's python3-impacket, an independent SPNEGO implementation) for interop
 * tests: it builds tokens for us to decode and parses tokens we built. Installs the package when
 * missing (as root); fails saying so otherwise. The Python below only drives impacket's API.
 */
import { run } from '../../src/sys/exec.js';
import { aptInstall } from '../../tools/lib/apt.js';
import { runCmd } from '../../tools/lib/run-cmd.js';

const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import sys, json
from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp, TypesMech
req = json.load(sys.stdin)
H = bytes.fromhex
ntlm = TypesMech['NTLMSSP - Microsoft NTLM Security Support Provider']
mskrb = TypesMech['MS KRB5 - Microsoft Kerberos 5']
krb = TypesMech['KRB5 - Kerberos 5']
out = {'made': {}, 'parsedInit': [], 'parsedResp': []}
t = SPNEGO_NegTokenInit()
t['MechTypes'] = [mskrb, krb, ntlm]
t['MechToken'] = H(req['mechToken'])
out['made']['init'] = t.getData().hex()
r = SPNEGO_NegTokenResp()
r['NegState'] = b'\\x01'
r['SupportedMech'] = ntlm
r['ResponseToken'] = H(req['responseToken'])
out['made']['serverResp'] = r.getData().hex()
r = SPNEGO_NegTokenResp()
r['ResponseToken'] = H(req['responseToken'])
out['made']['clientResp'] = r.getData().hex()
r = SPNEGO_NegTokenResp()
r['NegState'] = b'\\x00'
out['made']['completed'] = r.getData().hex()
for x in req['parseInit']:
    t = SPNEGO_NegTokenInit()
    t.fromString(H(x))
    out['parsedInit'].append({'oid': t['OID'].hex(), 'mechTypes': [m.hex() for m in t['MechTypes']], 'mechToken': t.fields.get('MechToken', b'').hex()})
for x in req['parseResp']:
    r = SPNEGO_NegTokenResp()
    r.fromString(H(x))
    out['parsedResp'].append({k: r.fields[k].hex() for k in ('NegState', 'SupportedMech', 'ResponseToken') if k in r.fields})
json.dump(out, sys.stdout)
`;

export interface ImpacketRequest {
  readonly mechToken: string;
  readonly responseToken: string;
  readonly parseInit: readonly string[];
  readonly parseResp: readonly string[];
}

export interface ImpacketResult {
  readonly made: { init: string; serverResp: string; clientResp: string; completed: string };
  readonly parsedInit: Array<{ oid: string; mechTypes: string[]; mechToken: string }>;
  readonly parsedResp: Array<Partial<Record<'NegState' | 'SupportedMech' | 'ResponseToken', string>>>;
}

async function haveImpacket(): Promise<boolean> {
  try {
    await run(PYTHON, ['-c', 'import impacket.spnego'], { timeoutMs: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export async function ensureImpacket(): Promise<void> {
  if (await haveImpacket()) return;
  if (process.getuid?.() === 0) await aptInstall(['python3-impacket']);
  if (!(await haveImpacket())) {
    throw new Error(`python3-impacket is missing${process.env.CI === 'true' ? ' (CI=true)' : ''}: apt-get install python3-impacket`);
  }
}

export async function impacket(req: ImpacketRequest): Promise<ImpacketResult> {
  const r = await run(PYTHON, ['-c', SCRIPT], { input: JSON.stringify(req), timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as ImpacketResult;
}

/** impacket's DCE/RPC client driven by impacket-dcerpc.py (its request keys are listed there). */
export const IMPACKET_DCERPC = new URL('./impacket-dcerpc.py', import.meta.url).pathname;

/** The calls impacket-dcerpc.py's `cycle` makes, in order (DcerpcCycle.steps of a full cycle). */
export const IMPACKET_CYCLE_STEPS: readonly string[] = [
  'SetContext', 'StartShadowCopySet', 'AddToShadowCopySet', 'PrepareShadowCopySet', 'CommitShadowCopySet',
  'ExposeShadowCopySet', 'GetShareMapping', 'RecoveryCompleteShadowCopySet', 'DeleteShareMapping',
];

export interface DcerpcCycle {
  steps: string[];
  setId: string;
  copyId: string;
  shareNameUNC: string;
  shadowCopyShareName: string;
}

export interface DcerpcOutcome {
  ok: boolean;
  error?: string;
  version?: number[];
  setContext?: number[];
  big?: number;
  cycle?: DcerpcCycle;
  /** The PDU type answering the replayed bind (12 bind_ack, 13 bind_nak), or 'closed'. */
  replay?: number | 'closed';
  /** The Python traceback when ok is false. */
  trace?: string;
  /** Every PDU impacket sent (hex), with dumpSent. */
  sent?: string[];
}

/** Runs impacket-dcerpc.py with `req` (environment `env`, default ours without KRB5CCNAME). */
export async function impacketDcerpc(req: Record<string, unknown>, env?: NodeJS.ProcessEnv): Promise<DcerpcOutcome> {
  const { KRB5CCNAME: _cc, ...base } = process.env;
  const r = await runCmd(PYTHON, [IMPACKET_DCERPC], { input: JSON.stringify(req), timeoutMs: 120_000, env: env ?? base });
  if (r.code !== 0) throw new Error(`impacket-dcerpc.py failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as DcerpcOutcome;
}
