/**
 * Tokens of the example issuers (deploy/examples/keys), for tests, benchmarks and scripts:
 * `mint()` signs the way a real issuer would (jose, every option), `minterFor()` signs ES256
 * access tokens with node:crypto directly, fast enough for the 10⁵ distinct tokens of the
 * bench's fresh-token and memory scenarios (minting is never part of what is timed).
 *
 * jose is loaded by the first `mint()`, not by importing this module: the bench's comparison
 * servers import `idpPublicKey()` from here and load nothing they do not use.
 */
import { createPrivateKey, createPublicKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK, JWTPayload } from 'jose';
import { EXAMPLES } from './paths.js';

export const IDP_ISSUER = 'https://idp.example.test';
export const MESH_ISSUER = 'https://mesh.example.test';
export const AUDIENCE = 'orders';
export const IDP_PRIVATE_JWK_FILE = `${EXAMPLES}/keys/idp-dev-1.private.jwk.json`;
export const IDP_JWKS_FILE = `${EXAMPLES}/keys/idp.jwks.json`;
export const MESH_PRIVATE_JWK_FILE = `${EXAMPLES}/keys/mesh-dev-1.private.jwk.json`;

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function readJwk(path: string): JWK {
  return readJson(path) as JWK;
}

export const IDP_PRIVATE_JWK = readJwk(IDP_PRIVATE_JWK_FILE);
export const MESH_PRIVATE_JWK = readJwk(MESH_PRIVATE_JWK_FILE);

export interface MintOptions {
  jwk?: JWK;
  kid?: string;
  alg?: string;
  typ?: string;
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  ttlSeconds?: number;
  secret?: Uint8Array;
}

/** Signs a token the way a real issuer would; claims override the defaults. */
export async function mint(claims: JWTPayload = {}, options: MintOptions = {}): Promise<string> {
  const { SignJWT, importJWK } = await import('jose');
  const jwk = options.jwk ?? IDP_PRIVATE_JWK;
  const alg = options.alg ?? (options.secret ? 'HS256' : (jwk.alg ?? 'ES256'));
  const key = options.secret ?? (await importJWK(jwk, alg));
  const now = Math.floor(Date.now() / 1000);
  const header: Record<string, unknown> = { alg, kid: options.kid ?? jwk.kid };
  if (options.typ) header.typ = options.typ;
  if (options.secret && options.kid === undefined) delete header.kid;
  return new SignJWT({ jti: randomUUID(), ...claims })
    .setProtectedHeader(header as { alg: string })
    .setIssuer(options.issuer ?? IDP_ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(options.subject ?? 'alice')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 600))
    .sign(key);
}

export function mintService(spiffeId: string, claims: JWTPayload = {}): Promise<string> {
  return mint(claims, { jwk: MESH_PRIVATE_JWK, issuer: MESH_ISSUER, subject: spiffeId });
}

/** Claims every bench token carries: enough for the generated policies' read-orders rule. */
export const CALLER_CLAIMS = Object.freeze({ scope: 'orders:read', roles: ['customer'], tenant: 'acme' });

/** Mints synchronously, with node:crypto: tokens shaped like `mint()`'s defaults, plus CALLER_CLAIMS. */
export interface Minter {
  readonly kid: string;
  mint(claims?: Record<string, unknown>): string;
}

/**
 * A fast ES256 minter for a private JWK (the example IdP key unless told): the header is
 * encoded once and each token costs one JSON encoding and one node:crypto signature.
 */
export function minterFor(jwk: JsonWebKey & { kid?: string } = readJson(IDP_PRIVATE_JWK_FILE), ttlSeconds = 3600): Minter {
  const key: KeyObject = createPrivateKey({ key: jwk, format: 'jwk' });
  const kid = jwk.kid ?? '';
  const header = b64(JSON.stringify({ alg: 'ES256', kid }));
  return {
    kid,
    mint(claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = { jti: randomUUID(), ...CALLER_CLAIMS, ...claims, iss: IDP_ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + ttlSeconds };
      const input = `${header}.${b64(JSON.stringify(payload))}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    },
  };
}

/** The example IdP's public key, for the bench's floor-verify server. */
export function idpPublicKey(): KeyObject {
  const jwks = readJson(IDP_JWKS_FILE) as { keys: JsonWebKey[] };
  return createPublicKey({ key: jwks.keys[0], format: 'jwk' });
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');
