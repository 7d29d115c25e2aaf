export { KeySetError, type KeySetErrorCode } from './errors.js';
export { parseJwks, MAX_JWKS_BYTES, MAX_KEYS } from './jwks.js';
export { createSecretKeySet, type KeySet, type VerificationKey } from './key-set.js';
export { KeyStore, type KeyStoreOptions, type KeyStoreEvent, type KeyOrigin, type KeyProvider } from './store.js';
export { ed25519KeyProblem, type Ed25519KeyProblem } from './ed25519.js';
export {
  parseRevocations,
  RevocationList,
  RevocationListError,
  RevocationStore,
  MAX_REVOCATIONS,
  type RevocationEntry,
  type RevocableToken,
} from './revocations.js';
export { API_KEY_PREFIX, ApiKeySet, apiKeyId, generateApiKey, hashApiKey, MAX_API_KEYS, parseApiKeys, type ApiKeyEntry, type ApiKeyMatch } from './api-keys.js';
export { ApiKeyStore, type ApiKeyOrigin, type ApiKeyStoreEvent, type ApiKeyStoreOptions } from './api-key-store.js';
export { discover, MAX_DISCOVERY_BYTES, type DiscoveredMetadata, type DiscoveryOptions } from './discovery.js';
export { IdpHttpError, createIdpFetch, allowedIdpUrl, type IdpFetch, type IdpFetchOptions } from './idp-fetch.js';
export {
  createIntrospectionClient,
  loadClientAuth,
  IntrospectionError,
  MAX_INTROSPECTION_BYTES,
  type IntrospectionAnswer,
  type IntrospectionClient,
  type IntrospectionClientOptions,
} from './introspection-client.js';
