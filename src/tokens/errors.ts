import { StacklessError } from '../shared/index.js';

/**
 * Why a request's credentials were refused (always a 401). The code is stable: it is the
 * deny body's `reason`, the metrics label and the log field, and tests assert on it.
 * Messages describe the problem, never the token, a claim value from it, or a key.
 */
export type TokenErrorCode =
  /** Not three non-empty base64url segments. */
  | 'token_malformed'
  /** Longer than the issuer's `maxTokenBytes`; refused before any decoding. */
  | 'token_too_large'
  /** Protected header not a JSON object, duplicate members, a non-string `alg`/`kid`/`typ`, or a forbidden member (`jku`, `x5u`, `x5c`, `jwk`, `b64`). */
  | 'token_header_invalid'
  /** `alg` not in the issuer's allow-list (compared case-sensitively, so `none` in any case never passes). */
  | 'token_algorithm_not_allowed'
  /** A `crit` header: no JWS extension is supported. */
  | 'token_crit_unsupported'
  /** `typ` differs from the issuer's required `typ`. */
  | 'token_type_invalid'
  /** No key of the issuer's current set matches the `kid` (or, without `kid`, no single key matches `alg`). */
  | 'token_key_unknown'
  | 'token_signature_invalid'
  | 'token_expired'
  /** `nbf` later than now + clock skew. */
  | 'token_not_yet_valid'
  /** `iat` later than now + clock skew. */
  | 'token_issued_in_future'
  /** Payload not a JSON object, duplicate members, `exp` missing or not a number, a registered claim of the wrong type, a service token `sub` that is not a SPIFFE id of the trust domain. */
  | 'token_claims_invalid'
  /** `iss` differs from the issuer's. */
  | 'token_issuer_invalid'
  /** No `aud` value is one of the accepted audiences. */
  | 'token_audience_invalid'
  /** A token in a source several issuers share, whose `iss` is none of theirs. */
  | 'token_issuer_unknown'
  /** More than one credential where one is expected: a repeated header or cookie, two tokens in one Authorization value, tokens in two sources. */
  | 'credentials_duplicated'
  /** A credential header or cookie that is present but empty, has the wrong scheme, or is not a single token. */
  | 'credentials_malformed'
  /** The token's `jti`, or its subject, is on the control plane's revocation list (for an API key: its id, or its entry's subject). */
  | 'token_revoked'
  /** The API key header's value is not `ak_<id>_<secret>`. */
  | 'api_key_malformed'
  /** No entry of the API key set has this key (an unknown id, or a known id with another secret: the same answer). */
  | 'api_key_unknown'
  /** The API key matched an entry whose `expiresAt` has passed. */
  | 'api_key_expired'
  /** An opaque token the issuer's introspection endpoint answered `active: false` for (unknown, expired, revoked at the IdP). */
  | 'token_inactive'
  /**
   * Not the caller's fault: the issuer's keys cannot be consulted (no set loaded, or the token's
   * kid is unknown while the remote JWKS cannot be fetched), or its introspection endpoint gives
   * no usable answer (down, slow, redirecting, malformed or unsigned answers). 503, or allowed
   * where fail-open is on.
   */
  | 'keys_unavailable';

export class TokenError extends StacklessError {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  /** The issuer (config name, or "service") whose verifier refused; set for `keys_unavailable`. */
  readonly issuerName: string | undefined;

  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown; issuerName?: string }) {
    super(message, options);
    this.code = code;
    this.issuerName = options?.issuerName;
  }
}
