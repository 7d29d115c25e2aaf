import { KeyObject, constants, createHmac, timingSafeEqual, verify } from 'node:crypto';
import type { VerificationKey } from '../keys/key-set.js';

/**
 * How node:crypto checks each JWS algorithm (RFC 7518 §3, RFC 8037): the digest, and for
 * ECDSA the fixed-width R‖S encoding and its exact length, for RSASSA-PSS a salt as long as
 * the digest (RFC 7518 §3.5; OpenSSL's default would accept any salt length).
 */
interface Scheme {
  readonly digest: 'sha256' | 'sha384' | 'sha512' | null;
  readonly hmac?: true;
  readonly ecdsaBytes?: number;
  readonly pssSalt?: number;
}

const SCHEMES: Readonly<Record<string, Scheme>> = Object.freeze({
  RS256: { digest: 'sha256' },
  RS384: { digest: 'sha384' },
  RS512: { digest: 'sha512' },
  PS256: { digest: 'sha256', pssSalt: 32 },
  PS384: { digest: 'sha384', pssSalt: 48 },
  PS512: { digest: 'sha512', pssSalt: 64 },
  ES256: { digest: 'sha256', ecdsaBytes: 64 },
  ES384: { digest: 'sha384', ecdsaBytes: 96 },
  ES512: { digest: 'sha512', ecdsaBytes: 132 },
  EdDSA: { digest: null },
  Ed25519: { digest: null },
  HS256: { digest: 'sha256', hmac: true },
  HS384: { digest: 'sha384', hmac: true },
  HS512: { digest: 'sha512', hmac: true },
});

/** The node:crypto form of each imported key, made on first use; keys live as long as their key set. */
const keyObjects = new WeakMap<object, KeyObject>();

function keyObjectOf(key: Exclude<VerificationKey, Uint8Array>): KeyObject {
  let object = keyObjects.get(key);
  if (object === undefined) {
    object = KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
    keyObjects.set(key, object);
  }
  return object;
}

/**
 * True when `signature` is a valid `alg` signature of `signingInput` (the token's
 * `header.payload` text) under `key`. Synchronous, on the calling thread: WebCrypto's
 * verify (what jose uses) dispatches every call to the libuv threadpool, and that hop cost
 * more CPU than the verification itself (measured: ~120 µs of CPU per ES256 token against
 * ~77 µs here). The key was imported and bound to `alg` by the key set (keys/jwks.ts), which
 * offers a key only for algorithms its type can verify; anything unexpected is `false`.
 */
export function signatureValid(alg: string, key: VerificationKey, signingInput: string, signature: Buffer): boolean {
  const scheme = Object.hasOwn(SCHEMES, alg) ? SCHEMES[alg]! : undefined;
  if (scheme === undefined) return false;
  const data = Buffer.from(signingInput, 'latin1');
  try {
    if (scheme.hmac === true) {
      if (!(key instanceof Uint8Array)) return false;
      const expected = createHmac(scheme.digest!, key).update(data).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    }
    if (key instanceof Uint8Array) return false;
    if (scheme.ecdsaBytes !== undefined) {
      if (signature.length !== scheme.ecdsaBytes) return false;
      return verify(scheme.digest, data, { key: keyObjectOf(key), dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (scheme.pssSalt !== undefined) {
      return verify(scheme.digest, data, { key: keyObjectOf(key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pssSalt }, signature);
    }
    return verify(scheme.digest, data, keyObjectOf(key), signature);
  } catch {
    return false;
  }
}
