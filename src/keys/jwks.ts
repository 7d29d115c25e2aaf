import { importJWK, type JWK } from 'jose';
import { algorithmsForPublicKey } from './algorithms.js';
import { ed25519KeyProblem } from './ed25519.js';
import { KeySetError } from './errors.js';
import { keySetFromEntries, type KeyEntry, type KeySet, type VerificationKey } from './key-set.js';
import { parseStrictJson } from '../shared/index.js';

/** Larger than any real JWKS; bounds parsing work on a hostile or broken source. */
export const MAX_JWKS_BYTES = 1024 * 1024;
export const MAX_KEYS = 100;
const MIN_RSA_BITS = 2048;
/** Verifying with a huge modulus is slow; nobody issues tokens with one. */
const MAX_RSA_BITS = 16384;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** A validated public key, reduced to the members that define it. */
interface PublicJwk {
  readonly kid: string | undefined;
  readonly jwk: JWK;
  readonly algorithms: readonly string[];
}

/**
 * Parses and validates a JWKS document and imports every key now, so a bad key is refused
 * when the set is loaded rather than failing at request time. Any refusal refuses the whole
 * set (the caller keeps the previous one): a partially applied set could silently drop keys.
 */
export async function parseJwks(text: string): Promise<KeySet> {
  if (text.length > MAX_JWKS_BYTES) throw new KeySetError('jwks_malformed', `JWKS larger than ${MAX_JWKS_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = parseStrictJson(text, 8);
  } catch (error) {
    throw new KeySetError('jwks_malformed', `JWKS is not valid JSON (${(error as Error).message})`);
  }
  if (isPlainObject(doc) && !Object.hasOwn(doc, 'keys') && typeof doc.kty === 'string') throw singleJwk(doc);
  if (!isPlainObject(doc) || !Array.isArray(doc.keys)) throw new KeySetError('jwks_malformed', 'JWKS must be an object with a "keys" array');
  const raw: unknown[] = doc.keys;
  if (raw.length === 0) throw new KeySetError('jwks_empty', 'JWKS has no keys');
  if (raw.length > MAX_KEYS) throw new KeySetError('jwks_too_many_keys', `JWKS has ${raw.length} keys (at most ${MAX_KEYS})`);

  // IdPs (Keycloak, for one) publish encryption keys in the same JWKS. Such a key can never
  // verify a signature, so it is left out rather than refusing the IdP's whole set; a private
  // member is still refused, wherever it appears.
  const keys = raw.flatMap((key, index) => (isEncryptionKey(key, index) ? [] : [validateJwk(key, index)]));
  if (keys.length === 0) throw new KeySetError('jwks_empty', 'JWKS has no signature keys');
  const seen = new Set<string>();
  for (const { kid } of keys) {
    if (kid === undefined) continue;
    if (seen.has(kid)) throw new KeySetError('jwks_duplicate_kid', `kid ${quote(kid)} appears more than once`);
    seen.add(kid);
  }
  const entries = await Promise.all(keys.map((key, index) => importKey(key, index)));
  return keySetFromEntries(entries, JSON.stringify(keys));
}

/**
 * A single JWK where a key set belongs: a common first mistake, since `authzctl keygen` and
 * IdP consoles hand out single JWKs. A private one gets its own code: it must not be deployed.
 */
function singleJwk(jwk: Record<string, unknown>): KeySetError {
  const priv = PRIVATE_MEMBERS.find((member) => Object.hasOwn(jwk, member));
  if (priv !== undefined)
    return new KeySetError(
      'jwks_private_key',
      `is a single private JWK (member "${priv}"), not a key set: use the public key set, {"keys": [public JWKs]}, ` +
        'e.g. the public JWK that authzctl keygen writes next to the private one (*.pub.jwk.json) wrapped in a keys array',
    );
  return new KeySetError('jwks_malformed', 'is a single JWK, not a key set: wrap it: {"keys": [ … ]}');
}

function isEncryptionKey(value: unknown, index: number): boolean {
  if (!isPlainObject(value) || value.use !== 'enc') return false;
  const priv = PRIVATE_MEMBERS.find((member) => Object.hasOwn(value, member));
  if (priv !== undefined) throw privateKey(`key #${index}`, value, priv);
  return true;
}

function validateJwk(value: unknown, index: number): PublicJwk {
  const at = `key #${index}`;
  if (!isPlainObject(value)) throw new KeySetError('jwks_malformed', `${at} is not an object`);
  const kid = optionalString(value, 'kid', at);
  const name = kid === undefined ? at : `${at} (kid ${quote(kid)})`;
  if (kid === '') throw new KeySetError('jwks_malformed', `${at} has an empty kid`);

  const kty = value.kty;
  if (typeof kty !== 'string') throw new KeySetError('jwks_malformed', `${name} has no "kty"`);
  if (kty === 'oct') throw new KeySetError('jwks_symmetric_key', `${name} is a symmetric key; HMAC secrets come from keys.secretFile only`);
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw new KeySetError('jwks_unsupported_key', `${name} has unsupported kty ${quote(kty)}`);
  const priv = PRIVATE_MEMBERS.find((member) => Object.hasOwn(value, member));
  if (priv !== undefined) throw privateKey(name, value, priv);

  const use = optionalString(value, 'use', name);
  if (use !== undefined && use !== 'sig')
    throw new KeySetError('jwks_bad_use', `${name} has use ${quote(use)}; only "sig" (or skipped "enc") keys are accepted`);
  checkKeyOps(value.key_ops, name);

  const crv = kty === 'RSA' ? undefined : optionalString(value, 'crv', name);
  const usable = algorithmsForPublicKey(kty, crv);
  if (usable.length === 0) throw new KeySetError('jwks_unsupported_key', `${name} has unsupported crv ${quote(crv ?? '')}`);
  const alg = optionalString(value, 'alg', name);
  if (alg !== undefined && !usable.includes(alg))
    throw new KeySetError('jwks_alg_mismatch', `${name} declares alg ${quote(alg)}, which a ${crv ?? kty} key cannot verify`);

  const jwk =
    kty === 'RSA' ? rsaMembers(value, name) : kty === 'EC' ? { kty, crv, x: b64(value, 'x', name), y: b64(value, 'y', name) } : ed25519Members(value, name);
  return { kid, jwk, algorithms: alg !== undefined ? [alg] : usable };
}

/** A private member in a published set: the message names the key, never the material. */
function privateKey(name: string, value: Record<string, unknown>, member: string): KeySetError {
  const kid = typeof value.kid === 'string' && !name.includes('(kid ') ? ` (kid ${quote(value.kid)})` : '';
  return new KeySetError(
    'jwks_private_key',
    `${name}${kid} contains private key member "${member}": a private key must never be published; the set holds public keys only`,
  );
}

function rsaMembers(value: Record<string, unknown>, name: string): JWK {
  const n = b64(value, 'n', name);
  const e = b64(value, 'e', name);
  const bits = bitLength(Buffer.from(n, 'base64url'));
  if (bits < MIN_RSA_BITS) throw new KeySetError('jwks_weak_key', `${name} is a ${bits}-bit RSA key (at least ${MIN_RSA_BITS} required)`);
  if (bits > MAX_RSA_BITS) throw new KeySetError('jwks_unsupported_key', `${name} is a ${bits}-bit RSA key (at most ${MAX_RSA_BITS})`);
  // e = 1 makes every message its own signature; an even e is not a valid RSA key.
  const exponent = Buffer.from(e, 'base64url');
  const last = exponent[exponent.length - 1] ?? 0;
  if (bitLength(exponent) < 2 || (last & 1) === 0) throw new KeySetError('jwks_weak_key', `${name} has an invalid RSA public exponent`);
  return { kty: 'RSA', n, e };
}

/**
 * OKP keys reach here only as Ed25519 (X25519 has no signature algorithm in algorithms.ts and
 * is refused above, or skipped as `use: "enc"`). node:crypto would import any 32 bytes, so the
 * point is checked here, as OpenSSL checks an EC point when it imports one.
 */
function ed25519Members(value: Record<string, unknown>, name: string): JWK {
  const x = b64(value, 'x', name);
  const bytes = Buffer.from(x, 'base64url');
  switch (ed25519KeyProblem(bytes)) {
    case 'small_order':
      throw new KeySetError('jwks_weak_key', `${name} is a small-order Ed25519 point; it would verify signatures made without a private key`);
    case 'wrong_length':
      throw new KeySetError('jwks_unsupported_key', `${name} has an Ed25519 "x" of ${bytes.length} bytes (32 required)`);
    case 'non_canonical':
      throw new KeySetError('jwks_unsupported_key', `${name} has a non-canonical Ed25519 "x" (y ≥ 2^255 − 19)`);
    case 'not_on_curve':
      throw new KeySetError('jwks_unsupported_key', `${name} is not a point on Ed25519`);
    case undefined:
      return { kty: 'OKP', crv: 'Ed25519', x };
  }
}

function checkKeyOps(ops: unknown, name: string): void {
  if (ops === undefined) return;
  if (!Array.isArray(ops) || ops.some((op) => typeof op !== 'string'))
    throw new KeySetError('jwks_malformed', `${name} has a "key_ops" that is not an array of strings`);
  if (!ops.includes('verify')) throw new KeySetError('jwks_bad_use', `${name} has "key_ops" without "verify"`);
}

/** Imports the key once per algorithm it may verify (WebCrypto binds a key to one algorithm). */
async function importKey(key: PublicJwk, index: number): Promise<KeyEntry> {
  const byAlg = new Map<string, VerificationKey>();
  for (const alg of key.algorithms) {
    try {
      byAlg.set(alg, await importJWK({ ...key.jwk }, alg));
    } catch (cause) {
      const name = key.kid === undefined ? `key #${index}` : `key #${index} (kid ${quote(key.kid)})`;
      throw new KeySetError('jwks_unsupported_key', `${name} does not import as ${alg}`, { cause });
    }
  }
  return { kid: key.kid, byAlg };
}

function optionalString(value: Record<string, unknown>, member: string, name: string): string | undefined {
  const v = value[member];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new KeySetError('jwks_malformed', `${name} has a non-string "${member}"`);
  return v;
}

function b64(value: Record<string, unknown>, member: string, name: string): string {
  const v = value[member];
  if (typeof v !== 'string' || !B64URL.test(v)) throw new KeySetError('jwks_malformed', `${name} has a missing or non-base64url "${member}"`);
  return v;
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Key ids and member values are quoted and bounded so a hostile JWKS cannot flood a log line. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
