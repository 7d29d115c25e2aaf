export { TokenError, type TokenErrorCode } from './errors.js';
export { findTokens, extractToken, TokenSources, type FoundToken } from './extract.js';
export { createJwtVerifier, type JwtVerifier, type JwtVerifierOptions } from './verify.js';
export { TokenCache, type TokenCacheOptions } from './cache.js';
export { createServiceTokenVerifier, isSpiffeIdInTrustDomain, SERVICE_ISSUER_NAME, type ServiceTokenVerifierOptions } from './service.js';
export { createAuthenticator, type Authenticator, type AuthenticatorOptions, type AuthKeyStore, type TokenCacheStats } from './authenticate.js';
export { createCredentialDecoder, type CredentialDecoder, type CredentialDecoderOptions } from './unverified.js';
export { ANONYMOUS, type AuthContext, type VerifiedToken } from './types.js';
export { ApiKeyReader, apiKeyIssuerName, type ApiKeyProvider, type ApiKeyReaderOptions } from './api-keys.js';
