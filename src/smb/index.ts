/** src/smb: an SMB2/3 client for named pipes (ncacn_np transport of our DCE/RPC client). */
export { SmbClient, SmbTree, SmbFile, type SmbClientOptions, type OpenOptions, type Chunk } from './client.js';
export { SmbPipe, type PipeMode, type PipeOptions } from './pipe.js';
export { SmbError, SmbStatusError, SmbSecurityError, SmbConnectionError, NT_STATUS, ntStatusName, type NtStatusName } from './errors.js';
export { DIALECT, ALL_DIALECTS, dialectName, type Dialect } from './header.js';
export { CIPHER, cipherName, type CipherId } from './encryption.js';
export { SIGNING_ALG, signingAlgorithmName, type SigningAlgorithm } from './signing.js';
export type { SecurityRule, NegotiateOptions } from './session.js';
