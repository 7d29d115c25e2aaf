import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

/**
 * A fresh node:crypto key pair for a test, as KeyObjects of their own. On Node 20 the
 * KeyObjects `generateKeyPairSync` returns share one lock with the generation job; when a
 * collection finalizes that job while `export({ format: 'jwk' })` holds the lock (it
 * allocates the JWK's strings), the process deadlocks. Seen once in CI (tokens-signature
 * test, main thread in ~KeyGenJob under ExportJWK) and reproduced by a loop of P-256 pairs
 * under a 1 MiB semi-space within a minute, twice; keys re-imported from their DER encoding
 * ran the same loop 106,960 times. (jose's generateKeyPair, through WebCrypto, did not hang.)
 */
export function nodeKeyPair(type: 'rsa' | 'ec' | 'ed25519' | 'x25519', options: { modulusLength?: number; namedCurve?: string } = {}): KeyPair {
  const generate = generateKeyPairSync as (type: string, options: object) => { publicKey: Buffer; privateKey: Buffer };
  const der = generate(type, { ...options, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  return {
    publicKey: createPublicKey({ key: der.publicKey, format: 'der', type: 'spki' }),
    privateKey: createPrivateKey({ key: der.privateKey, format: 'der', type: 'pkcs8' }),
  };
}
