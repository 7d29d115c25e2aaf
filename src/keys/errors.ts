/**
 * Why a key set (JWKS, shared secret, API keys) was refused. The code is stable: it is the
 * `keys-rejected` event's `code`, the metrics label and the log field, and tests assert on it.
 * Messages name the key by position and `kid`, never its material.
 */
export type KeySetErrorCode =
  /** Not JSON, not an object with a `keys` array, a key that is not an object, a member of the wrong type, duplicate JSON members. */
  | 'jwks_malformed'
  /** `keys` is empty: accepting it would silently drop every key. */
  | 'jwks_empty'
  /** More keys than a set may hold. */
  | 'jwks_too_many_keys'
  /** A key carries a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`, `oth`). */
  | 'jwks_private_key'
  /** `kty: oct`: HMAC secrets only come from `secretFile`, never from a JWKS. */
  | 'jwks_symmetric_key'
  /** RSA modulus under 2048 bits or an invalid exponent; a small-order Ed25519 point (verifies signatures made without a private key). */
  | 'jwks_weak_key'
  /** Two keys share a `kid`. */
  | 'jwks_duplicate_kid'
  /** `use` other than `sig`, or `key_ops` without `verify`. */
  | 'jwks_bad_use'
  /** The key's `alg` is not a signature algorithm usable with its `kty`/`crv`. */
  | 'jwks_alg_mismatch'
  /** Unsupported `kty` or `crv` (X25519 included), or the key material is not a valid key (EC or Ed25519 point off the curve, non-canonical Ed25519 encoding). */
  | 'jwks_unsupported_key'
  /** Shared secret shorter than the hash size of the algorithms allowed (RFC 7518 §3.2). */
  | 'secret_too_short'
  /** A key file or secret file could not be read. */
  | 'keys_read_failed'
  /** Remote JWKS: network error, timeout, non-200 status, or body too large. */
  | 'jwks_fetch_failed'
  /** An API key set (keys/api-keys.ts) that is not strict JSON, or an entry with an unknown or wrong field, or an id or hash twice. */
  | 'api_keys_malformed'
  /**
   * OIDC discovery (`keys.discovery`): the provider metadata could not be fetched (network,
   * timeout, status, redirect, size), is not a JSON object, names another `issuer`, or has no
   * usable `jwks_uri` (missing, or plain http off loopback).
   */
  | 'discovery_failed';

export class KeySetError extends Error {
  override readonly name = 'KeySetError';
  readonly code: KeySetErrorCode;

  constructor(code: KeySetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
