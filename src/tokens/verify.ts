import type { KeyProvider, VerificationKey } from '../keys/index.js';
import { checkRegisteredClaims, toVerifiedToken } from './claims.js';
import { decodeJsonObject, splitCompact } from './compact.js';
import { TokenError } from './errors.js';
import { checkProtectedHeader, type CheckedHeader } from './header.js';
import { signatureValid } from './signature.js';
import type { VerifiedToken } from './types.js';
import { JWS_ALGORITHM_NAMES } from '../shared/index.js';

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
  /**
   * The same checks, synchronous whenever the token's key is in the issuer's current set (no
   * promise, no microtask on the request path): returns the token or throws TokenError. Only
   * an unknown kid on a remote set, which may refetch, returns a promise.
   */
  check(token: string): VerifiedToken | Promise<VerifiedToken>;
}

/** Distinct protected-header texts remembered per verifier once checked. */
const HEADER_MEMO = 64;

const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set<string>(JWS_ALGORITHM_NAMES);

/**
 * One verifier per issuer (and one for service tokens). The order is deliberate: size cap,
 * structure (canonical base64url), header (forbidden members, alg allow-list, crit, typ) and
 * payload (strict JSON object), all before any key lookup; then key selection from the
 * issuer's current set only; then the signature over the exact `header.payload` text; then
 * the registered claims (iss, aud, exp, nbf) and the checks on iat, shapes and types.
 * Misconfiguration throws TypeError here; bad input rejects with TokenError.
 *
 * Keys are imported by jose (keys/jwks.ts); the signature is checked with node:crypto on
 * this thread (tokens/signature.ts says why) and the claims by claims.ts.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const { issuerName, issuer, clockSkewSeconds, maxTokenBytes, typ, keys } = options;
  const algorithms = [...options.algorithms];
  const audiences = [...options.audiences];
  if (algorithms.length === 0 || algorithms.some((alg) => !KNOWN_ALGORITHMS.has(alg)))
    throw new TypeError(`verifier "${issuerName}": algorithms must be a non-empty list of ${[...KNOWN_ALGORITHMS].join(', ')}`);
  if (audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud === ''))
    throw new TypeError(`verifier "${issuerName}": audiences must be non-empty strings`);
  if (issuer !== undefined && issuer === '') throw new TypeError(`verifier "${issuerName}": issuer must not be empty`);
  if (!Number.isInteger(clockSkewSeconds) || clockSkewSeconds < 0)
    throw new TypeError(`verifier "${issuerName}": clockSkewSeconds must be a non-negative integer`);
  if (!Number.isInteger(maxTokenBytes) || maxTokenBytes <= 0) throw new TypeError(`verifier "${issuerName}": maxTokenBytes must be a positive integer`);
  const allowed: ReadonlySet<string> = new Set(algorithms);
  const accepted: ReadonlySet<string> = new Set(audiences);
  const now = options.now ?? Date.now;

  function verifyWith(key: VerificationKey, alg: string, token: string, payload: Record<string, unknown>, signature: string): VerifiedToken {
    if (!signatureValid(alg, key, token.slice(0, token.lastIndexOf('.')), Buffer.from(signature, 'base64url')))
      throw new TokenError('token_signature_invalid', 'token signature is not valid');
    const nowSeconds = Math.floor(now() / 1000);
    checkRegisteredClaims(payload, { issuer, audiences: accepted, nowSeconds, skewSeconds: clockSkewSeconds });
    return toVerifiedToken(issuerName, payload, nowSeconds, clockSkewSeconds);
  }

  // An issuer's tokens share a few header texts (one per kid and alg): each is decoded and
  // checked once. Only headers that passed are kept, and only the first HEADER_MEMO ones, so
  // a stream of distinct headers costs what it always did and cannot grow this.
  const checkedHeaders = new Map<string, CheckedHeader>();
  function headerOf(segment: string): CheckedHeader {
    let header = checkedHeaders.get(segment);
    if (header === undefined) {
      header = checkProtectedHeader(decodeJsonObject(segment, 'token_header_invalid', 'header'), allowed, typ);
      if (checkedHeaders.size < HEADER_MEMO) checkedHeaders.set(segment, header);
    }
    return header;
  }

  function check(token: string): VerifiedToken | Promise<VerifiedToken> {
    const [headerSegment, payloadSegment, signature] = splitCompact(token, maxTokenBytes);
    const header = headerOf(headerSegment);
    const payload = decodeJsonObject(payloadSegment, 'token_claims_invalid', 'payload');
    const key = keys.current()?.select(header.alg, header.kid);
    if (key !== undefined) return verifyWith(key, header.alg, token, payload, signature);
    return selectKeyAfterReload(keys, header.alg, header.kid, issuerName).then((found) => verifyWith(found, header.alg, token, payload, signature));
  }

  return Object.freeze({ issuerName, check, verify: async (token: string) => check(token) });
}

/** Not in the current set: a remote set may refetch once (cooldown-bound), then we look again. */
async function selectKeyAfterReload(keys: KeyProvider, alg: string, kid: string | undefined, issuerName: string): Promise<VerificationKey> {
  if (await keys.reloadOnUnknownKey()) {
    const again = keys.current()?.select(alg, kid);
    if (again !== undefined) return again;
  }
  if (!keys.available())
    throw new TokenError('keys_unavailable', "the issuer's keys are unavailable (none loaded, or its JWKS cannot be fetched)", { issuerName });
  throw new TokenError(
    'token_key_unknown',
    kid === undefined ? 'no single key of the issuer matches the token algorithm' : 'no key of the issuer matches the token kid and algorithm',
  );
}
