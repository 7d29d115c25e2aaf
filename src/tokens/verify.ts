import { errors, jwtVerify, type JWTPayload } from 'jose';
import { ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS } from '../config/schema.js';
import type { KeyProvider } from '../keys/store.js';
import type { VerificationKey } from '../keys/key-set.js';
import { toVerifiedToken } from './claims.js';
import { decodeJsonObject, splitCompact } from './compact.js';
import { TokenError, type TokenErrorCode } from './errors.js';
import { checkProtectedHeader } from './header.js';
import type { VerifiedToken } from './types.js';

export interface JwtVerifierOptions {
  /** `issuers[].name`, or "service"; becomes VerifiedToken.issuerName. */
  readonly issuerName: string;
  /** Required `iss`; undefined accepts any (service tokens without a configured issuer: the key set is what is trusted). */
  readonly issuer: string | undefined;
  /** A token is accepted when any of its `aud` values is one of these. */
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockSkewSeconds: number;
  readonly maxTokenBytes: number;
  /** Required `typ` (e.g. "at+jwt"). */
  readonly typ?: string | undefined;
  readonly keys: KeyProvider;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
}

export interface JwtVerifier {
  readonly issuerName: string;
  /** Resolves the verified token, or rejects with a TokenError (never anything else). */
  verify(token: string): Promise<VerifiedToken>;
}

const KNOWN_ALGORITHMS = new Set<string>([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS]);

/**
 * One verifier per issuer (and one for service tokens). The order is deliberate: size cap,
 * structure, header (forbidden members, alg allow-list, crit, typ) and payload shape, all
 * before any key lookup; then key selection from the issuer's current set only; then jose
 * (signature, iss, aud, exp, nbf, typ); then the claim checks jose does not make.
 * Misconfiguration throws TypeError here; bad input rejects with TokenError.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const { issuerName, issuer, clockSkewSeconds, maxTokenBytes, typ, keys } = options;
  const algorithms = [...options.algorithms];
  const audiences = [...options.audiences];
  if (algorithms.length === 0 || algorithms.some((alg) => !KNOWN_ALGORITHMS.has(alg)))
    throw new TypeError(`verifier "${issuerName}": algorithms must be a non-empty list of ${[...KNOWN_ALGORITHMS].join(', ')}`);
  if (audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud === '')) throw new TypeError(`verifier "${issuerName}": audiences must be non-empty strings`);
  if (issuer !== undefined && issuer === '') throw new TypeError(`verifier "${issuerName}": issuer must not be empty`);
  if (!Number.isInteger(clockSkewSeconds) || clockSkewSeconds < 0) throw new TypeError(`verifier "${issuerName}": clockSkewSeconds must be a non-negative integer`);
  if (!Number.isInteger(maxTokenBytes) || maxTokenBytes <= 0) throw new TypeError(`verifier "${issuerName}": maxTokenBytes must be a positive integer`);
  const allowed: ReadonlySet<string> = new Set(algorithms);
  const now = options.now ?? Date.now;

  async function verify(token: string): Promise<VerifiedToken> {
    const [headerSegment, payloadSegment] = splitCompact(token, maxTokenBytes);
    const header = checkProtectedHeader(decodeJsonObject(headerSegment, 'token_header_invalid', 'header'), allowed, typ);
    decodeJsonObject(payloadSegment, 'token_claims_invalid', 'payload');
    const key = await selectKey(keys, header.alg, header.kid, issuerName);
    const at = now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        issuer,
        audience: audiences,
        algorithms,
        clockTolerance: clockSkewSeconds,
        currentDate: new Date(at),
        typ,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw fromJoseError(error);
    }
    return toVerifiedToken(issuerName, payload as Record<string, unknown>, Math.floor(at / 1000), clockSkewSeconds);
  }

  return Object.freeze({ issuerName, verify });
}

/** From the current set; an unknown kid may make a remote set refetch once (cooldown-bound), then we look again. */
async function selectKey(keys: KeyProvider, alg: string, kid: string | undefined, issuerName: string): Promise<VerificationKey> {
  const found = keys.current()?.select(alg, kid);
  if (found !== undefined) return found;
  if (await keys.reloadOnUnknownKey()) {
    const again = keys.current()?.select(alg, kid);
    if (again !== undefined) return again;
  }
  if (!keys.available()) throw new TokenError('keys_unavailable', 'the issuer\'s keys are unavailable (none loaded, or its JWKS cannot be fetched)', { issuerName });
  throw new TokenError('token_key_unknown', kid === undefined ? 'no single key of the issuer matches the token algorithm' : 'no key of the issuer matches the token kid and algorithm');
}

/**
 * jose's errors by code. The jose error is not kept as `cause`: JWTClaimValidationFailed
 * carries the whole payload, which must not reach a log through an error serializer.
 * Anything unexpected is a refusal (fail closed).
 */
function fromJoseError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  const code: TokenErrorCode = error instanceof errors.JOSEError ? codeFor(error) : 'token_signature_invalid';
  return new TokenError(code, MESSAGES[code] ?? 'token refused');
}

function codeFor(error: errors.JOSEError): TokenErrorCode {
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'token_expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token_signature_invalid';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'token_algorithm_not_allowed';
    case 'ERR_JOSE_NOT_SUPPORTED':
      // Unrecognised `crit` extension or algorithm; both are refused by the header check first.
      return 'token_crit_unsupported';
    case 'ERR_JWS_INVALID':
      return 'token_malformed';
    case 'ERR_JWT_INVALID':
      return 'token_claims_invalid';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const { claim, reason } = error as errors.JWTClaimValidationFailed;
      if (claim === 'iss') return 'token_issuer_invalid';
      if (claim === 'aud') return 'token_audience_invalid';
      if (claim === 'typ') return 'token_type_invalid';
      if (claim === 'nbf' && reason === 'check_failed') return 'token_not_yet_valid';
      if (claim === 'iat' && reason === 'check_failed') return 'token_issued_in_future';
      return 'token_claims_invalid';
    }
    default:
      return 'token_signature_invalid';
  }
}

const MESSAGES: Partial<Record<TokenErrorCode, string>> = {
  token_expired: 'token has expired',
  token_signature_invalid: 'token signature is not valid',
  token_algorithm_not_allowed: 'token algorithm is not allowed for this issuer',
  token_crit_unsupported: 'token uses an unsupported extension',
  token_malformed: 'token is not a valid JWS',
  token_claims_invalid: 'token claims are not valid',
  token_issuer_invalid: 'token issuer is not accepted',
  token_audience_invalid: 'token audience is not accepted',
  token_type_invalid: 'token "typ" is not the required type',
  token_not_yet_valid: 'token is not valid yet',
  token_issued_in_future: 'token "iat" is in the future',
};
