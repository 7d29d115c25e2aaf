/**
 * The JWS algorithms the sidecar verifies (RFC 7518 §3, RFC 8037, RFC 9864), and the one
 * place they are listed. Derived from it: the names the config schema accepts
 * (`issuers[].algorithms`, `serviceTokens.algorithms`), the key shape each may be verified
 * with (keys/algorithms.ts) and how node:crypto checks the signature (tokens/signature.ts).
 * `none` is not here, so it can neither be configured nor verified.
 */

/** The key a token signed with the algorithm is verified with. */
export type JwsKeyShape =
  | { readonly kty: 'RSA' }
  | { readonly kty: 'EC'; readonly crv: 'P-256' | 'P-384' | 'P-521' }
  | { readonly kty: 'OKP'; readonly crv: 'Ed25519' }
  /** A shared secret; RFC 7518 §3.2: at least as long as the hash output. */
  | { readonly kty: 'oct'; readonly minBytes: number };

export interface JwsAlgorithm {
  readonly key: JwsKeyShape;
  /** node:crypto digest; null for EdDSA, where the curve fixes it. */
  readonly digest: 'sha256' | 'sha384' | 'sha512' | null;
  /** ECDSA: the exact length of the fixed-width R‖S signature (RFC 7518 §3.4). */
  readonly ecdsaBytes?: number;
  /** RSASSA-PSS: the salt length, as long as the digest (RFC 7518 §3.5). */
  readonly pssSalt?: number;
}

const RSA = { kty: 'RSA' } as const;
const ED25519 = { kty: 'OKP', crv: 'Ed25519' } as const;

/** In the order they are listed to operators: asymmetric first, then HMAC. */
export const JWS_ALGORITHMS = Object.freeze({
  RS256: { key: RSA, digest: 'sha256' },
  RS384: { key: RSA, digest: 'sha384' },
  RS512: { key: RSA, digest: 'sha512' },
  PS256: { key: RSA, digest: 'sha256', pssSalt: 32 },
  PS384: { key: RSA, digest: 'sha384', pssSalt: 48 },
  PS512: { key: RSA, digest: 'sha512', pssSalt: 64 },
  ES256: { key: { kty: 'EC', crv: 'P-256' }, digest: 'sha256', ecdsaBytes: 64 },
  ES384: { key: { kty: 'EC', crv: 'P-384' }, digest: 'sha384', ecdsaBytes: 96 },
  ES512: { key: { kty: 'EC', crv: 'P-521' }, digest: 'sha512', ecdsaBytes: 132 },
  /** `EdDSA` (RFC 8037) and its fully-specified name `Ed25519` (RFC 9864) verify the same keys. */
  EdDSA: { key: ED25519, digest: null },
  Ed25519: { key: ED25519, digest: null },
  HS256: { key: { kty: 'oct', minBytes: 32 }, digest: 'sha256' },
  HS384: { key: { kty: 'oct', minBytes: 48 }, digest: 'sha384' },
  HS512: { key: { kty: 'oct', minBytes: 64 }, digest: 'sha512' },
} as const satisfies Record<string, JwsAlgorithm>);

export type JwsAlgorithmName = keyof typeof JWS_ALGORITHMS;

/** Every name in the table, in its order (non-empty, as z.enum wants it). */
export const JWS_ALGORITHM_NAMES = Object.freeze(Object.keys(JWS_ALGORITHMS)) as readonly [JwsAlgorithmName, ...JwsAlgorithmName[]];

/** Verified with a public key. */
export const ASYMMETRIC_ALGORITHMS: readonly JwsAlgorithmName[] = Object.freeze(JWS_ALGORITHM_NAMES.filter((name) => JWS_ALGORITHMS[name].key.kty !== 'oct'));
/** Verified with a shared secret. */
export const HMAC_ALGORITHMS: readonly JwsAlgorithmName[] = Object.freeze(JWS_ALGORITHM_NAMES.filter((name) => JWS_ALGORITHMS[name].key.kty === 'oct'));

/** The table's entry for `name`, or undefined (also for inherited names like "constructor"). */
export function jwsAlgorithm(name: string): JwsAlgorithm | undefined {
  return Object.hasOwn(JWS_ALGORITHMS, name) ? JWS_ALGORITHMS[name as JwsAlgorithmName] : undefined;
}
