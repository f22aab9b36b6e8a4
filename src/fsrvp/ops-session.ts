/**
 * The operations that manage the sequence itself: SetContext, StartShadowCopySet,
 * AbortShadowCopySet, and the message-sequence timer's expiry (FSRVP.md §6.2, §7).
 */
import createDebug from 'debug';
import type { CallerIdentity } from '../dcerpc/interface.js';
import { ZERO_GUID } from '../ndr/index.js';
import type { AbortShadowCopySet, RequestOf, ResponseOf, SetContext, StartShadowCopySet } from './idl.js';
import { ATTR, CTX, HRESULT } from './codes.js';
import { removeSets } from './cleanup.js';
import type { ServiceCore } from './core.js';
import { IN_PROGRESS, type ShadowCopySetState } from './state.js';
import type { Armed } from './timer.js';

const debug = createDebug('fsrvp:service');

const BASE_CONTEXTS: ReadonlySet<number> = new Set(Object.values(CTX));

/**
 * Samba accepts a base context optionally ORed with ATTR_AUTO_RECOVERY; SPEC also allows
 * ATTR_NO_AUTO_RECOVERY instead (never both).
 */
export function validContext(context: number, strict: boolean): boolean {
  const c = context >>> 0;
  const extras = strict ? ATTR.AUTO_RECOVERY | ATTR.NO_AUTO_RECOVERY : ATTR.AUTO_RECOVERY;
  const extra = c & extras;
  if (extra === (ATTR.AUTO_RECOVERY | ATTR.NO_AUTO_RECOVERY)) return false;
  return BASE_CONTEXTS.has((c & ~extras) >>> 0);
}

export async function setContext(
  core: ServiceCore, req: RequestOf<typeof SetContext>, caller: CallerIdentity,
): Promise<ResponseOf<typeof SetContext>> {
  const ctx = req.Context >>> 0;
  if (!validContext(ctx, core.strict)) return { result: core.cfg.policy.badContext };
  const st = core.state;
  if (core.strict) {
    // SPEC 3.1.4.2: one client at a time; the same client may restart its sequence a few times.
    const addr = caller.clientAddress ?? '';
    if (st.contextSet) {
      if (st.clientAddress !== addr) return { result: HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS };
      await removeSets(core, [...st.sets.values()].filter((s) => s.status !== 'Recovered'));
      st.contextSet = false;
      st.clientAddress = null;
      st.retryCount++;
      if (st.retryCount > core.cfg.setContextRetryLimit) {
        return { result: HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS };
      }
    } else {
      st.retryCount = 0;
    }
    st.clientAddress = addr;
  }
  st.contextSet = true;
  st.currentContext = ctx;
  // Not tied to a set (Samba); on expiry every set still in creation goes.
  core.timer.arm('short', undefined);
  return { result: HRESULT.ZERO };
}

export async function startShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof StartShadowCopySet>,
): Promise<ResponseOf<typeof StartShadowCopySet>> {
  const fail = (result: number): ResponseOf<typeof StartShadowCopySet> => ({ pShadowCopySetId: ZERO_GUID, result });
  if (core.strict && req.ClientShadowCopySetId === ZERO_GUID) return fail(HRESULT.E_INVALIDARG);
  const st = core.state;
  if (!st.contextSet) return fail(HRESULT.FSRVP_E_BAD_STATE);
  const blocking = [...st.sets.values()].find((s) => (core.strict ? s.status !== 'Recovered' : IN_PROGRESS.has(s.status)));
  if (blocking) {
    debug('Start refused: set %s is %s', blocking.id, blocking.status);
    return fail(HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  }
  core.timer.stop(undefined); // the SetContext arming; no other set is in creation here
  const set: ShadowCopySetState = {
    id: core.newGuid().toLowerCase(),
    status: 'Started',
    context: st.currentContext,
    copies: [],
    startedAt: core.now(),
  };
  await core.putSet(set);
  core.timer.arm('short', set.id);
  return { pShadowCopySetId: set.id, result: HRESULT.ZERO };
}

export async function abortShadowCopySet(
  core: ServiceCore, req: RequestOf<typeof AbortShadowCopySet>,
): Promise<ResponseOf<typeof AbortShadowCopySet>> {
  if (core.strict && req.ShadowCopySetId === ZERO_GUID) return { result: HRESULT.E_INVALIDARG };
  const set = core.lookupSet(req.ShadowCopySetId);
  if (!set) return { result: core.cfg.policy.setNotFound };
  if (set.status === 'CreationInProgress') return { result: HRESULT.FSRVP_E_BAD_STATE };
  if (!core.strict && (set.status === 'Committed' || set.status === 'Exposed' || set.status === 'Recovered')) {
    // Samba: aborting a set that already has snapshots is a successful no-op.
    return { result: HRESULT.ZERO };
  }
  await removeSets(core, [set]);
  if (core.strict) {
    core.state.contextSet = false;
    core.state.clientAddress = null;
  }
  return { result: HRESULT.ZERO };
}

/**
 * Timer expiry. Samba's rule (default): the set the timer was armed for goes unless it is
 * Exposed or Recovered (an arming not tied to a set covers every set still in creation).
 * SPEC's rule (strict): every set not Recovered goes, Exposed included. The context is reset
 * either way. Snapshots and shares of removed sets are removed too, and the removal persisted.
 */
export async function expire(core: ServiceCore, armed: Armed): Promise<string[]> {
  if (!core.timer.stillExpired(armed)) return [];
  const st = core.state;
  // The context goes only with the expiry a single timer would have had (always, in strict mode).
  if (core.strict || core.timer.isLatest(armed)) st.contextSet = false;
  if (core.strict) st.clientAddress = null;
  const all = [...st.sets.values()];
  let victims: ShadowCopySetState[];
  if (core.strict) victims = all.filter((s) => s.status !== 'Recovered');
  else if (armed.setId === undefined) victims = all.filter((s) => IN_PROGRESS.has(s.status));
  else victims = all.filter((s) => s.id === armed.setId && IN_PROGRESS.has(s.status));
  await removeSets(core, victims);
  const ids = victims.map((s) => s.id);
  if (ids.length > 0) core.emit({ kind: 'expired', setIds: ids });
  debug('sequence timer expired: removed %d set(s) %o', ids.length, ids);
  return ids;
}
