import type { ServiceTokensConfig } from '../config/index.js';
import type { KeyProvider } from '../keys/index.js';
import { TokenError } from './errors.js';
import type { VerifiedToken } from './types.js';
import { createJwtVerifier, type JwtVerifier } from './verify.js';

export const SERVICE_ISSUER_NAME = 'service';

/** SPIFFE path segments: letters, digits, ".", "-", "_" (SPIFFE-ID spec §2.2); no "%", "?", "#". */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_SPIFFE_ID_LENGTH = 2048;

export interface ServiceTokenVerifierOptions {
  readonly config: ServiceTokensConfig;
  /** This sidecar's service: the default accepted audience. */
  readonly service: string;
  readonly keys: KeyProvider;
  readonly now?: () => number;
}

/**
 * Service-to-service tokens: a JWT verified against the trust domain's key set, whose `aud`
 * names this service (or `serviceTokens.audiences`) and whose `sub` is a SPIFFE id in the
 * trust domain.
 */
export function createServiceTokenVerifier(options: ServiceTokenVerifierOptions): JwtVerifier {
  const { config } = options;
  const base = createJwtVerifier({
    issuerName: SERVICE_ISSUER_NAME,
    issuer: config.issuer,
    audiences: serviceTokenAudiences(config, options.service),
    algorithms: config.algorithms,
    clockSkewSeconds: config.clockSkewSeconds,
    maxTokenBytes: config.maxTokenBytes,
    keys: options.keys,
    now: options.now,
  });
  const spiffe = (verified: VerifiedToken): VerifiedToken => spiffeSubject(verified, config.trustDomain);
  const check = (token: string): VerifiedToken | Promise<VerifiedToken> => {
    const verified = base.check(token);
    return verified instanceof Promise ? verified.then(spiffe) : spiffe(verified);
  };
  return Object.freeze({ issuerName: SERVICE_ISSUER_NAME, check, verify: async (token: string) => check(token) });
}

/** The audiences a service token may name: `serviceTokens.audiences`, else this sidecar's service. */
export function serviceTokenAudiences(config: ServiceTokensConfig, service: string): readonly string[] {
  return config.audiences ?? [service];
}

/** The service token, once its `sub` is known to be a SPIFFE id of the trust domain; else token_claims_invalid. */
export function spiffeSubject(token: VerifiedToken, trustDomain: string): VerifiedToken {
  if (!isSpiffeIdInTrustDomain(token.subject, trustDomain))
    throw new TokenError('token_claims_invalid', 'service token "sub" is not a SPIFFE id of the trust domain');
  return token;
}

/**
 * `spiffe://<trustDomain>/<path>`, the trust domain matched exactly, the path non-empty with
 * no empty, "." or ".." segment, no percent-encoding, query or fragment: one id, one spelling,
 * so policy `principals` compare by string equality safely.
 */
export function isSpiffeIdInTrustDomain(id: string, trustDomain: string): boolean {
  const prefix = `spiffe://${trustDomain}/`;
  if (id.length > MAX_SPIFFE_ID_LENGTH || !id.startsWith(prefix)) return false;
  const path = id.slice(prefix.length);
  if (path === '') return false;
  return path.split('/').every((segment) => SEGMENT.test(segment) && segment !== '.' && segment !== '..');
}
