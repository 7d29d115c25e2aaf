import { JWS_ALGORITHMS, JWS_ALGORITHM_NAMES, type JwsAlgorithmName, type JwsKeyShape } from '../shared/index.js';

/**
 * Which JWS algorithm a key of a given shape may verify, from the algorithm table
 * (shared/jws-algorithms.ts). A key is only ever offered to a token whose `alg` is listed
 * here for the key's kty/crv, so an RSA key can never be fed to an ECDSA or HMAC verifier
 * (algorithm-confusion attacks), whatever the token claims.
 */

/** "RSA", or "kty/crv" for keys whose curve decides the algorithm. */
function shapeName(key: Exclude<JwsKeyShape, { kty: 'oct' }>): string {
  return key.kty === 'RSA' ? 'RSA' : `${key.kty}/${key.crv}`;
}

const BY_SHAPE: ReadonlyMap<string, readonly JwsAlgorithmName[]> = (() => {
  const shapes = new Map<string, JwsAlgorithmName[]>();
  for (const name of JWS_ALGORITHM_NAMES) {
    const { key } = JWS_ALGORITHMS[name];
    if (key.kty === 'oct') continue;
    const shape = shapeName(key);
    shapes.set(shape, [...(shapes.get(shape) ?? []), name]);
  }
  for (const list of shapes.values()) Object.freeze(list);
  return shapes;
})();

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const HMAC_MIN_SECRET_BYTES: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(
    JWS_ALGORITHM_NAMES.flatMap((name) => {
      const { key } = JWS_ALGORITHMS[name];
      return key.kty === 'oct' ? [[name, key.minBytes] as const] : [];
    }),
  ),
);

/** Algorithms a public JWK of this kty/crv can verify; empty when the shape is unsupported. */
export function algorithmsForPublicKey(kty: string, crv: string | undefined): readonly string[] {
  const shape = kty === 'RSA' ? 'RSA' : kty === 'EC' || kty === 'OKP' ? (crv === undefined ? undefined : `${kty}/${crv}`) : undefined;
  return (shape !== undefined ? BY_SHAPE.get(shape) : undefined) ?? [];
}

export function isHmacAlgorithm(alg: string): boolean {
  return Object.hasOwn(HMAC_MIN_SECRET_BYTES, alg);
}
