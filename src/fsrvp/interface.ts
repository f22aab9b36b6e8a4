/**
 * The FileServerVssAgent interface for the DCE/RPC runtime: the 13 operations of idl.ts bound
 * to an FsrvpService, in opnum order.
 */
import { bind, type RpcInterface } from '../dcerpc/interface.js';
import { FSRVP_UUID, FSRVP_VERSION } from './codes.js';
import {
  AbortShadowCopySet, AddToShadowCopySet, CommitShadowCopySet, DeleteShareMapping, ExposeShadowCopySet,
  GetShareMapping, GetSupportedVersion, IsPathShadowCopied, IsPathSupported, PrepareShadowCopySet,
  RecoveryCompleteShadowCopySet, SetContext, StartShadowCopySet,
} from './idl.js';
import type { FsrvpService } from './service.js';

export function fsrvpInterface(service: FsrvpService): RpcInterface {
  return {
    name: 'FileServerVssAgent',
    uuid: FSRVP_UUID,
    version: { major: FSRVP_VERSION.major, minor: FSRVP_VERSION.minor },
    operations: [
      bind(GetSupportedVersion, (req, ctx) => service.getSupportedVersion(req, ctx)),
      bind(SetContext, (req, ctx) => service.setContext(req, ctx)),
      bind(StartShadowCopySet, (req, ctx) => service.startShadowCopySet(req, ctx)),
      bind(AddToShadowCopySet, (req, ctx) => service.addToShadowCopySet(req, ctx)),
      bind(CommitShadowCopySet, (req, ctx) => service.commitShadowCopySet(req, ctx)),
      bind(ExposeShadowCopySet, (req, ctx) => service.exposeShadowCopySet(req, ctx)),
      bind(RecoveryCompleteShadowCopySet, (req, ctx) => service.recoveryCompleteShadowCopySet(req, ctx)),
      bind(AbortShadowCopySet, (req, ctx) => service.abortShadowCopySet(req, ctx)),
      bind(IsPathSupported, (req, ctx) => service.isPathSupported(req, ctx)),
      bind(IsPathShadowCopied, (req, ctx) => service.isPathShadowCopied(req, ctx)),
      bind(GetShareMapping, (req, ctx) => service.getShareMapping(req, ctx)),
      bind(DeleteShareMapping, (req, ctx) => service.deleteShareMapping(req, ctx)),
      bind(PrepareShadowCopySet, (req, ctx) => service.prepareShadowCopySet(req, ctx)),
    ],
  };
}
