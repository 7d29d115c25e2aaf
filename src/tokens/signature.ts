import { KeyObject, constants, createHmac, timingSafeEqual, verify } from 'node:crypto';
import type { VerificationKey } from '../keys/index.js';
import { jwsAlgorithm } from '../shared/index.js';

/** The node:crypto form of each imported key, made on first use; keys live as long as their key set. */
const keyObjects = new WeakMap<object, KeyObject>();

function keyObjectOf(key: Exclude<VerificationKey, Uint8Array>): KeyObject {
  let object = keyObjects.get(key);
  if (object === undefined) {
    object = KeyObject.from(key);
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
 * How each algorithm is checked (digest; for ECDSA the fixed-width R‖S encoding and its exact
 * length; for RSASSA-PSS a salt as long as the digest, where OpenSSL's default would accept
 * any) comes from the algorithm table, shared/jws-algorithms.ts.
 */
export function signatureValid(alg: string, key: VerificationKey, signingInput: string, signature: Buffer): boolean {
  const scheme = jwsAlgorithm(alg);
  if (scheme === undefined) return false;
  const data = Buffer.from(signingInput, 'latin1');
  try {
    if (scheme.key.kty === 'oct') {
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
