/** The publish request for one mapping of a shadow copy (Expose, and reconciliation). */
import { join } from 'node:path';
import type { PublishRequest } from '../shares/types.js';
import { msFromFiletime, type ShadowCopyState, type ShareMappingState } from './state.js';

export function publishRequest(copy: ShadowCopyState, m: ShareMappingState, readOnly: boolean): PublishRequest {
  if (!copy.snapshot) throw new Error(`shadow copy ${copy.id} has no snapshot`);
  const taken = new Date(msFromFiletime(BigInt(copy.creationTimestamp))).toISOString();
  return {
    name: m.exposedName,
    // The share's place inside the snapshot: snapshot root + the share's path below its volume root.
    path: m.relPath === '' ? copy.snapshot.path : join(copy.snapshot.path, ...m.relPath.split('/')),
    base: m.share,
    readOnly,
    comment: `Shadow copy of ${m.share.name} taken ${taken}`,
  };
}
