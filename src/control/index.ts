// The control plane without its NATS client: the document contract, signing and verifying
// documents, and the pinned signers. Cheap to import: nothing here loads `nats` (checked by
// .dependency-cruiser.cjs). What talks to NATS has entries of its own: ./start.ts, the
// sidecar's run (main.ts imports it lazily), and ./nats.ts, the bucket for authzctl.
export * from './types.js';
export { ControlError, quoteShort, type ControlErrorCode } from './errors.js';
export {
  apiKeysTarget,
  isShortName,
  isTrustDomain,
  issuerKeysTarget,
  kvKeyFor,
  parseKvKey,
  policyTarget,
  REVOCATIONS_TARGET,
  shadowTarget,
  trustDomainKeysTarget,
  type KvTarget,
} from './kv-keys.js';
export {
  decodeUnverified,
  DEFAULT_MAX_DOCUMENT_BYTES,
  isNewer,
  signDocument,
  verifyDocument,
  type DocumentLimits,
  type ExpectedDocument,
  type UnverifiedDocument,
} from './signed.js';
export { loadSigners, loadSigningKey, type ControlAlgorithm, type ControlSigningKey, type Signer, type SignerSet } from './signers.js';
