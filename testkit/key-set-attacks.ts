/**
 * Hostile key sets (JWKS) for the key-set attack suite: each row is one attack, the code the
 * sidecar must refuse it with (or `accepted` with the kids it must end up holding), and
 * optionally a token signed by the refused key, which must never be allowed.
 */
import { createHmac, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { KeySetErrorCode } from '../src/keys/index.js';
import { keyPair } from './conformance-env.js';
import { nodeKeyPair } from './key-pair.js';
import { mint, AUDIENCE } from './tokens.js';

export type Via = 'file' | 'nats';

export interface KeySetAttack {
  readonly name: string;
  /** The JWKS as a value (file: JSON text of it; control plane: the document body). */
  readonly body?: unknown;
  /** File only: raw bytes, for what a signed JSON document cannot carry (syntax errors, duplicate members, non-UTF-8, > 1 MiB). */
  readonly fileBytes?: Buffer;
  readonly via: readonly Via[];
  readonly expect: { readonly refused: KeySetErrorCode } | { readonly accepted: readonly string[] };
  /** A token signed with the attacking key, for the issuer given. */
  readonly token?: (issuer: string) => Promise<string>;
}

const b64 = (value: Buffer | string) => Buffer.from(value).toString('base64url');

/** A JWT signed by hand, for keys jose refuses to sign with (RSA under 2048 bits, short HMAC secrets). */
function rawJwt(header: Record<string, unknown>, issuer: string, signer: (input: Buffer) => Buffer): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64(JSON.stringify({ typ: 'JWT', ...header }))}.${b64(JSON.stringify({ iss: issuer, aud: AUDIENCE, sub: 'mallory', iat: now, exp: now + 600 }))}`;
  return `${input}.${b64(signer(Buffer.from(input)))}`;
}

const rsaToken = (kid: string, key: KeyObject) => async (issuer: string) => rawJwt({ alg: 'RS256', kid }, issuer, (input) => sign('sha256', input, key));
const hmacToken = (kid: string, secret: Buffer) => async (issuer: string) =>
  rawJwt({ alg: 'HS256', kid }, issuer, (input) => createHmac('sha256', secret).update(input).digest());

/** An Ed25519 `x`: y little-endian, the sign of x in the top bit. */
export function ed25519X(y: bigint, sign: 0 | 1 = 0): Buffer {
  const bytes = Buffer.alloc(32);
  for (let i = 0, v = y; i < 32; i++, v >>= 8n) bytes[i] = Number(v & 0xffn);
  if (sign === 1) bytes[31] |= 0x80;
  return bytes;
}

const ED25519_P = 2n ** 255n - 19n;

/**
 * An EdDSA token forged for a small-order key without any private key: R = identity, S = 0,
 * which verifies whenever [k]A = identity (k = SHA-512(R‖A‖input) mod L). For the identity
 * that is every input; for a point of order 8 about one input in 8, so the `jti` is varied
 * until node:crypto (what the sidecar verifies with) accepts the signature.
 */
const forgedEdToken = (kid: string, x: Buffer) => async (issuer: string) => {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64(x) }, format: 'jwk' });
  const signature = Buffer.concat([ed25519X(1n), Buffer.alloc(32)]);
  const now = Math.floor(Date.now() / 1000);
  for (let jti = 0; jti < 1000; jti++) {
    const input = `${b64(JSON.stringify({ typ: 'JWT', alg: 'EdDSA', kid }))}.${b64(JSON.stringify({ iss: issuer, aud: AUDIENCE, sub: 'mallory', iat: now, exp: now + 600, jti: String(jti), roles: ['customer'] }))}`;
    if (verify(null, Buffer.from(input), key, signature)) return `${input}.${b64(signature)}`;
  }
  throw new Error(`no forgery found for ${kid}`);
};

function rsa(bits: number, kid: string): { publicJwk: JWK; privateKey: KeyObject; privateJwk: JWK } {
  const { publicKey, privateKey } = nodeKeyPair('rsa', { modulusLength: bits });
  return {
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' },
    privateKey,
    privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), kid },
  };
}

export interface AttackKeys {
  /** The legitimate key every set in force holds (kid good-1). */
  readonly good: { publicJwk: JWK; privateJwk: JWK };
  readonly attacks: KeySetAttack[];
  /** Public key with `x5u`/`jku`/`x5c` pointing at `hostileUrl`: accepted, members ignored. */
  readonly extra: { publicJwk: JWK; privateJwk: JWK };
  /** The attacker's key served at `hostileUrl` (never fetched). */
  readonly attacker: { publicJwk: JWK; privateJwk: JWK };
}

export async function buildAttacks(hostileUrl: string): Promise<AttackKeys> {
  const good = await keyPair('good-1');
  const extra = await keyPair('extra-1');
  const attacker = await keyPair('attacker-1');
  const twin = await keyPair('good-1'); // another key under the good kid
  const rsa1024 = rsa(1024, 'rsa-1024');
  const rsa2047 = rsa(2047, 'rsa-2047');
  const rsa2048 = rsa(2048, 'rsa-e1');
  const shortSecret = randomBytes(16);
  const longSecret = randomBytes(64);
  const ec = (kid: string, members: Record<string, unknown>) => ({ ...attacker.publicJwk, kid, ...members });
  const both: readonly Via[] = ['file', 'nats'];
  const fileOnly: readonly Via[] = ['file'];
  const set = (...keys: unknown[]) => ({ keys });
  const mintWith = (jwk: JWK, kid?: string) => (issuer: string) => mint({ roles: ['customer'] }, { jwk, issuer, kid });

  const attacks: KeySetAttack[] = [
    { name: 'empty "keys"', body: set(), via: both, expect: { refused: 'jwks_empty' } },
    {
      name: 'only "use: enc" keys (would drop every signature key)',
      body: set({ ...attacker.publicJwk, use: 'enc', alg: undefined }),
      via: both,
      expect: { refused: 'jwks_empty' },
      token: mintWith(attacker.privateJwk),
    },
    { name: 'oct key with an empty "k"', body: set(good.publicJwk, { kty: 'oct', kid: 'oct-0', k: '' }), via: both, expect: { refused: 'jwks_symmetric_key' } },
    {
      name: "short oct key (16 bytes) in an asymmetric issuer's set",
      body: set(good.publicJwk, { kty: 'oct', kid: 'oct-16', k: b64(shortSecret), alg: 'HS256' }),
      via: both,
      expect: { refused: 'jwks_symmetric_key' },
      token: hmacToken('oct-16', shortSecret),
    },
    {
      name: "long oct key (64 bytes) in an asymmetric issuer's set",
      body: set(good.publicJwk, { kty: 'oct', kid: 'oct-64', k: b64(longSecret) }),
      via: both,
      expect: { refused: 'jwks_symmetric_key' },
      token: hmacToken('oct-64', longSecret),
    },
    {
      name: 'RSA 1024-bit key',
      body: set(good.publicJwk, rsa1024.publicJwk),
      via: both,
      expect: { refused: 'jwks_weak_key' },
      token: rsaToken('rsa-1024', rsa1024.privateKey),
    },
    {
      name: 'RSA 2047-bit key',
      body: set(good.publicJwk, rsa2047.publicJwk),
      via: both,
      expect: { refused: 'jwks_weak_key' },
      token: rsaToken('rsa-2047', rsa2047.privateKey),
    },
    { name: 'RSA public exponent 1', body: set(good.publicJwk, { ...rsa2048.publicJwk, e: 'AQ' }), via: both, expect: { refused: 'jwks_weak_key' } },
    {
      name: 'RSA modulus over 16384 bits',
      body: set(good.publicJwk, { kty: 'RSA', kid: 'rsa-huge', n: b64(Buffer.concat([Buffer.from([0xc1]), randomBytes(2100)])), e: 'AQAB' }),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    {
      name: 'public key mixed with a private EC key ("d")',
      body: set(good.publicJwk, attacker.privateJwk),
      via: both,
      expect: { refused: 'jwks_private_key' },
      token: mintWith(attacker.privateJwk),
    },
    {
      name: 'public key mixed with a private RSA key',
      body: set(good.publicJwk, rsa2048.privateJwk),
      via: both,
      expect: { refused: 'jwks_private_key' },
      token: rsaToken('rsa-e1', rsa2048.privateKey),
    },
    {
      name: 'private member on an "enc" key (skipped keys are still checked)',
      body: set(good.publicJwk, { ...attacker.privateJwk, use: 'enc' }),
      via: both,
      expect: { refused: 'jwks_private_key' },
    },
    {
      name: 'duplicate kid (a second key under the good kid)',
      body: set(good.publicJwk, twin.publicJwk),
      via: both,
      expect: { refused: 'jwks_duplicate_kid' },
      token: mintWith(twin.privateJwk),
    },
    {
      name: '"use" other than sig/enc',
      body: set(good.publicJwk, ec('use-x', { use: 'signature' })),
      via: both,
      expect: { refused: 'jwks_bad_use' },
      token: mintWith(attacker.privateJwk, 'use-x'),
    },
    {
      name: '"key_ops" without verify',
      body: set(good.publicJwk, ec('ops-enc', { use: undefined, key_ops: ['encrypt'] })),
      via: both,
      expect: { refused: 'jwks_bad_use' },
      token: mintWith(attacker.privateJwk, 'ops-enc'),
    },
    {
      name: '"key_ops": ["sign"] (a private-key operation)',
      body: set(good.publicJwk, ec('ops-sign', { use: undefined, key_ops: ['sign'] })),
      via: both,
      expect: { refused: 'jwks_bad_use' },
    },
    {
      name: 'EC P-256 key declaring alg RS256',
      body: set(good.publicJwk, ec('alg-rs', { alg: 'RS256' })),
      via: both,
      expect: { refused: 'jwks_alg_mismatch' },
    },
    {
      name: 'EC P-256 key declaring alg HS256',
      body: set(good.publicJwk, ec('alg-hs', { alg: 'HS256' })),
      via: both,
      expect: { refused: 'jwks_alg_mismatch' },
    },
    {
      name: 'EC P-256 key declaring alg none',
      body: set(good.publicJwk, ec('alg-none', { alg: 'none' })),
      via: both,
      expect: { refused: 'jwks_alg_mismatch' },
    },
    {
      name: 'EC P-256 key declaring alg ES384',
      body: set(good.publicJwk, ec('alg-384', { alg: 'ES384' })),
      via: both,
      expect: { refused: 'jwks_alg_mismatch' },
    },
    {
      name: 'unsupported curve (secp256k1)',
      body: set(good.publicJwk, ec('k1', { crv: 'secp256k1', alg: undefined })),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    {
      name: 'EC point not on the curve',
      body: set(good.publicJwk, ec('off-curve', { x: b64(Buffer.alloc(32, 1)), y: b64(Buffer.alloc(32, 2)) })),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    // Ed25519 points node:crypto would import (test/unit/keys-ed25519.test.ts proves the orders).
    ...(
      [
        ['Ed25519 small-order key: the identity', 'ed-identity', ed25519X(1n)],
        ['Ed25519 small-order key: the identity with the sign bit set (non-canonical)', 'ed-identity-sign', ed25519X(1n, 1)],
        ['Ed25519 small-order key: the identity spelled y = p + 1 (non-canonical)', 'ed-identity-p1', ed25519X(ED25519_P + 1n)],
        ['Ed25519 small-order key: a point of order 8', 'ed-order-8', Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'hex')],
      ] as const
    ).map(([name, kid, x]): KeySetAttack => ({
      name,
      body: set(good.publicJwk, { kty: 'OKP', crv: 'Ed25519', kid, x: b64(x) }),
      via: both,
      expect: { refused: 'jwks_weak_key' },
      token: forgedEdToken(kid, x),
    })),
    {
      name: 'Ed25519 key with y ≥ p (non-canonical, not small-order)',
      body: set(good.publicJwk, { kty: 'OKP', crv: 'Ed25519', kid: 'ed-y-p2', x: b64(ed25519X(ED25519_P + 2n)) }),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    {
      name: 'Ed25519 point not on the curve',
      body: set(good.publicJwk, { kty: 'OKP', crv: 'Ed25519', kid: 'ed-off-curve', x: b64(ed25519X(2n)) }),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    {
      name: 'X25519 key as a signature key',
      body: set(good.publicJwk, { kty: 'OKP', crv: 'X25519', kid: 'x25519', x: b64(ed25519X(9n)) }),
      via: both,
      expect: { refused: 'jwks_unsupported_key' },
    },
    { name: 'unknown kty', body: set(good.publicJwk, { kty: 'EC2', kid: 'x' }), via: both, expect: { refused: 'jwks_unsupported_key' } },
    { name: 'empty kid', body: set(good.publicJwk, ec('', {})), via: both, expect: { refused: 'jwks_malformed' } },
    { name: 'kid of the wrong type', body: set(good.publicJwk, ec(5 as unknown as string, {})), via: both, expect: { refused: 'jwks_malformed' } },
    { name: '"keys" not an array', body: { keys: { 0: good.publicJwk } }, via: both, expect: { refused: 'jwks_malformed' } },
    { name: 'a string instead of a JWKS', body: 'not a key set', via: both, expect: { refused: 'jwks_malformed' } },
    {
      name: 'nested deeper than a JWKS can be',
      body: set({ ...good.publicJwk, kid: 'deep', x5c: [[[[[[[[['x']]]]]]]]] }),
      via: both,
      expect: { refused: 'jwks_malformed' },
    },
    {
      name: '101 keys',
      body: set(...Array.from({ length: 101 }, (_, i) => ({ ...good.publicJwk, kid: `k-${i}` }))),
      via: both,
      expect: { refused: 'jwks_too_many_keys' },
    },
    { name: 'not JSON', fileBytes: Buffer.from('{"keys": [ this is not json'), via: fileOnly, expect: { refused: 'jwks_malformed' } },
    {
      name: 'duplicate JSON members (two "kid"s in one key)',
      fileBytes: Buffer.from(JSON.stringify(set(good.publicJwk)).replace('"kid":"good-1"', '"kid":"good-1","kid":"attacker-1"')),
      via: fileOnly,
      expect: { refused: 'jwks_malformed' },
    },
    {
      name: 'not UTF-8',
      fileBytes: Buffer.concat([Buffer.from('{"keys":[{"kid":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]),
      via: fileOnly,
      expect: { refused: 'jwks_malformed' },
    },
    {
      name: 'over 1 MiB',
      fileBytes: Buffer.from(JSON.stringify(set({ ...good.publicJwk, pad: 'x'.repeat(1024 * 1024) }))),
      via: fileOnly,
      expect: { refused: 'jwks_malformed' },
    },
    // Handled, not refused: encryption keys are skipped; members that point elsewhere are dropped and never fetched.
    {
      name: '"use: enc" key beside signature keys is skipped',
      body: set(good.publicJwk, extra.publicJwk, { ...attacker.publicJwk, use: 'enc', alg: undefined }),
      via: both,
      expect: { accepted: ['good-1', 'extra-1'] },
      token: mintWith(attacker.privateJwk),
    },
    {
      name: 'X25519 "use: enc" key beside signature keys is skipped',
      body: set(good.publicJwk, extra.publicJwk, { kty: 'OKP', crv: 'X25519', kid: 'x25519-enc', use: 'enc', x: b64(ed25519X(9n)) }),
      via: both,
      expect: { accepted: ['good-1', 'extra-1'] },
    },
    {
      name: 'x5u / jku / x5c members are ignored, never fetched',
      body: set(good.publicJwk, {
        ...extra.publicJwk,
        x5u: hostileUrl,
        jku: hostileUrl,
        x5c: [b64(randomBytes(64)).replace(/-/g, '+').replace(/_/g, '/')],
        x5t: 'AAAA',
      }),
      via: both,
      expect: { accepted: ['good-1', 'extra-1'] },
      token: mintWith(attacker.privateJwk),
    },
  ];
  return { good, extra, attacker, attacks };
}
