/**
 * Which JWS algorithm a key of a given shape may verify. A key is only ever offered to a
 * token whose `alg` is in this table for the key's kty/crv, so an RSA key can never be fed
 * to an ECDSA or HMAC verifier (algorithm-confusion attacks), whatever the token claims.
 */

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

const EC_ALGORITHMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'P-256': ['ES256'],
  'P-384': ['ES384'],
  'P-521': ['ES512'],
});

/** `EdDSA` (RFC 8037) and its fully-specified name `Ed25519` (RFC 9864) verify the same keys. */
const OKP_ALGORITHMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  Ed25519: ['EdDSA', 'Ed25519'],
});

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const HMAC_MIN_SECRET_BYTES: Readonly<Record<string, number>> = Object.freeze({
  HS256: 32,
  HS384: 48,
  HS512: 64,
});

/** Algorithms a public JWK of this kty/crv can verify; empty when the shape is unsupported. */
export function algorithmsForPublicKey(kty: string, crv: string | undefined): readonly string[] {
  if (kty === 'RSA') return RSA_ALGORITHMS;
  if (kty === 'EC' && crv !== undefined && Object.hasOwn(EC_ALGORITHMS, crv)) return EC_ALGORITHMS[crv]!;
  if (kty === 'OKP' && crv !== undefined && Object.hasOwn(OKP_ALGORITHMS, crv)) return OKP_ALGORITHMS[crv]!;
  return [];
}

export function isHmacAlgorithm(alg: string): boolean {
  return Object.hasOwn(HMAC_MIN_SECRET_BYTES, alg);
}
