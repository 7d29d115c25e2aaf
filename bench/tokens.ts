/**
 * ES256 access tokens shaped like the example IdP's (issuer https://idp.example.test,
 * audience orders), signed with node:crypto directly: the fresh-token and memory scenarios
 * need 10⁵ distinct tokens, and minting is never part of what is timed.
 */
import { createPrivateKey, createPublicKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EXAMPLES } from '../testkit/paths.js';

export const IDP_ISSUER = 'https://idp.example.test';
export const AUDIENCE = 'orders';
export const IDP_PRIVATE_JWK_FILE = `${EXAMPLES}/keys/idp-dev-1.private.jwk.json`;
export const IDP_JWKS_FILE = `${EXAMPLES}/keys/idp.jwks.json`;

/** Claims every bench token carries: enough for the generated policies' read-orders rule. */
export const CALLER_CLAIMS = Object.freeze({ scope: 'orders:read', roles: ['customer'], tenant: 'acme' });

export interface Minter {
  readonly kid: string;
  mint(claims?: Record<string, unknown>): string;
}

/** A minter for a private JWK (the example IdP key unless told). */
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

/** The example IdP's public key, for the floor-verify server. */
export function idpPublicKey(): KeyObject {
  const jwks = readJson(IDP_JWKS_FILE) as { keys: JsonWebKey[] };
  return createPublicKey({ key: jwks.keys[0], format: 'jwk' });
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');
