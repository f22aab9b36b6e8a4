/**
 * The FileServerVssAgent interface (MS-FSRVP Appendix A; Samba librpc/idl/fsrvp.idl), declared
 * once with the NDR engine. Top-level [in]/[out] pointers are [ref]: their data is inline.
 * Every response ends with the method's DWORD return value.
 */
import {
  boolean32, filetime, guid, i32, named32, params, struct, u32, union, unique, wstring,
  type Infer, type NdrType,
} from '../ndr/index.js';
import type { Operation } from '../dcerpc/interface.js';
import { HRESULT } from './codes.js';

export const hresult = named32('HRESULT', HRESULT);

/** FSSAGENT_SHARE_MAPPING_1 (2.2.1.1); Samba calls the timestamp `tstamp`. */
export const ShareMapping1 = struct('FSSAGENT_SHARE_MAPPING_1', {
  ShadowCopySetId: guid,
  ShadowCopyId: guid,
  ShareNameUNC: unique(wstring),
  ShadowCopyShareName: unique(wstring),
  CreationTimestamp: filetime,
});
export type ShareMapping1 = Infer<typeof ShareMapping1>;

/** FSSAGENT_SHARE_MAPPING (2.2.3.1): [switch_type(unsigned long)], case 1 a unique pointer. */
export const ShareMapping = union('FSSAGENT_SHARE_MAPPING', { 1: unique(ShareMapping1) }, { defaultArm: true });
export type ShareMapping = Infer<typeof ShareMapping>;

const setAndTimeout = { ShadowCopySetId: guid, TimeOutInMilliseconds: u32 };
const setOnly = { ShadowCopySetId: guid };
const resultOnly = { result: hresult };

function op<Req, Res>(opnum: number, name: string, req: NdrType<Req>, res: NdrType<Res>): Operation<Req, Res> {
  return { opnum, name, request: req, response: res };
}

export const GetSupportedVersion = op(0, 'GetSupportedVersion',
  params('GetSupportedVersion.in', {}),
  params('GetSupportedVersion.out', { MinVersion: u32, MaxVersion: u32, result: hresult }));

export const SetContext = op(1, 'SetContext',
  params('SetContext.in', { Context: u32 }),
  params('SetContext.out', resultOnly));

export const StartShadowCopySet = op(2, 'StartShadowCopySet',
  params('StartShadowCopySet.in', { ClientShadowCopySetId: guid }),
  params('StartShadowCopySet.out', { pShadowCopySetId: guid, result: hresult }));

export const AddToShadowCopySet = op(3, 'AddToShadowCopySet',
  params('AddToShadowCopySet.in', { ClientShadowCopyId: guid, ShadowCopySetId: guid, ShareName: wstring }),
  params('AddToShadowCopySet.out', { pShadowCopyId: guid, result: hresult }));

export const CommitShadowCopySet = op(4, 'CommitShadowCopySet',
  params('CommitShadowCopySet.in', setAndTimeout),
  params('CommitShadowCopySet.out', resultOnly));

export const ExposeShadowCopySet = op(5, 'ExposeShadowCopySet',
  params('ExposeShadowCopySet.in', setAndTimeout),
  params('ExposeShadowCopySet.out', resultOnly));

export const RecoveryCompleteShadowCopySet = op(6, 'RecoveryCompleteShadowCopySet',
  params('RecoveryCompleteShadowCopySet.in', setOnly),
  params('RecoveryCompleteShadowCopySet.out', resultOnly));

export const AbortShadowCopySet = op(7, 'AbortShadowCopySet',
  params('AbortShadowCopySet.in', setOnly),
  params('AbortShadowCopySet.out', resultOnly));

export const IsPathSupported = op(8, 'IsPathSupported',
  params('IsPathSupported.in', { ShareName: wstring }),
  params('IsPathSupported.out', { SupportedByThisProvider: boolean32, OwnerMachineName: unique(wstring), result: hresult }));

export const IsPathShadowCopied = op(9, 'IsPathShadowCopied',
  params('IsPathShadowCopied.in', { ShareName: wstring }),
  params('IsPathShadowCopied.out', { ShadowCopyPresent: boolean32, ShadowCopyCompatibility: i32, result: hresult }));

export const GetShareMapping = op(10, 'GetShareMapping',
  params('GetShareMapping.in', { ShadowCopyId: guid, ShadowCopySetId: guid, ShareName: wstring, Level: u32 }),
  params('GetShareMapping.out', { ShareMapping, result: hresult }));

export const DeleteShareMapping = op(11, 'DeleteShareMapping',
  params('DeleteShareMapping.in', { ShadowCopySetId: guid, ShadowCopyId: guid, ShareName: wstring }),
  params('DeleteShareMapping.out', resultOnly));

export const PrepareShadowCopySet = op(12, 'PrepareShadowCopySet',
  params('PrepareShadowCopySet.in', setAndTimeout),
  params('PrepareShadowCopySet.out', resultOnly));

/** All operations, indexed by opnum. */
export const FSRVP_OPERATIONS = [
  GetSupportedVersion, SetContext, StartShadowCopySet, AddToShadowCopySet, CommitShadowCopySet,
  ExposeShadowCopySet, RecoveryCompleteShadowCopySet, AbortShadowCopySet, IsPathSupported,
  IsPathShadowCopied, GetShareMapping, DeleteShareMapping, PrepareShadowCopySet,
] as const;

export type RequestOf<O> = O extends Operation<infer Req, unknown> ? Req : never;
export type ResponseOf<O> = O extends Operation<unknown, infer Res> ? Res : never;
