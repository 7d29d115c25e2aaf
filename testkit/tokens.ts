import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SignJWT, importJWK, type JWK, type JWTPayload } from 'jose';
import { EXAMPLES } from './paths.js';

export const IDP_ISSUER = 'https://idp.example.test';
export const AUDIENCE = 'orders';

export function readJwk(path: string): JWK {
  return JSON.parse(readFileSync(path, 'utf8')) as JWK;
}

export const IDP_PRIVATE_JWK = readJwk(`${EXAMPLES}/keys/idp-dev-1.private.jwk.json`);
export const MESH_PRIVATE_JWK = readJwk(`${EXAMPLES}/keys/mesh-dev-1.private.jwk.json`);

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
  return mint(claims, { jwk: MESH_PRIVATE_JWK, issuer: 'https://mesh.example.test', subject: spiffeId });
}
