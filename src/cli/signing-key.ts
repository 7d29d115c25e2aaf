/** Loading a private JWK for `token mint`. Errors are one line naming the file. */
import { readFileSync } from 'node:fs';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { UsageError } from './command.js';

export interface SigningKey {
  readonly key: CryptoKey | Uint8Array;
  readonly alg: string;
  readonly kid: string | undefined;
}

/** The algorithm a key implies when it does not name one (`alg` member absent). */
function defaultAlg(jwk: JWK): string {
  if (jwk.kty === 'EC') return { 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''] ?? 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'oct') return 'HS256';
  return 'ES256';
}

export function readJwk(file: string): JWK {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${file}: not JSON (expected a private JWK)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${file}: expected a JWK object`);
  if ('keys' in value) throw new UsageError(`${file}: this is a key set (JWKS); pass one private JWK file`);
  const jwk = value as JWK;
  if (typeof jwk.kty !== 'string') throw new UsageError(`${file}: not a JWK (no "kty")`);
  return jwk;
}

/**
 * Imports a private (or symmetric) JWK. A public key is refused with a clear message:
 * minting needs the private half, and jose's own error for it is not obvious.
 */
export async function loadSigningKey(file: string, options: { alg?: string; kid?: string } = {}): Promise<SigningKey> {
  const jwk = readJwk(file);
  const isPrivate = jwk.kty === 'oct' ? typeof jwk.k === 'string' : typeof jwk.d === 'string';
  if (!isPrivate) {
    throw new UsageError(`${file}: this is a public key (no "d"); token mint needs the private JWK, e.g. deploy/examples/keys/idp-dev-1.private.jwk.json`);
  }
  const alg = options.alg ?? jwk.alg ?? defaultAlg(jwk);
  if (alg === 'none') throw new UsageError('--alg: "none" is never accepted by the sidecar');
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK(jwk, alg);
  } catch (error) {
    throw new UsageError(`${file}: cannot use this key with ${alg}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { key, alg, kid: options.kid ?? jwk.kid };
}
