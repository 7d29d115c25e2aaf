import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHmac, sign, type KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { signatureValid } from '../../src/tokens/signature.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';

const INPUT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0';

interface Pair {
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

function pair(type: 'ec' | 'rsa' | 'ed25519', namedCurve?: string): Pair {
  const { privateKey, publicKey } = nodeKeyPair(type, type === 'ec' ? { namedCurve } : type === 'rsa' ? { modulusLength: 2048 } : {});
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) };
}

const P256 = pair('ec', 'P-256');
const P384 = pair('ec', 'P-384');
const P521 = pair('ec', 'P-521');
const RSA = pair('rsa');
const ED = pair('ed25519');

/** How each algorithm signs, as an issuer would (JWS encodings: R‖S for ECDSA, digest-length PSS salt). */
const CASES = [
  { alg: 'ES256', keys: P256, sign: (d: Buffer) => sign('sha256', d, { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }) },
  { alg: 'ES384', keys: P384, sign: (d: Buffer) => sign('sha384', d, { key: P384.privateKey, dsaEncoding: 'ieee-p1363' }) },
  { alg: 'ES512', keys: P521, sign: (d: Buffer) => sign('sha512', d, { key: P521.privateKey, dsaEncoding: 'ieee-p1363' }) },
  { alg: 'RS256', keys: RSA, sign: (d: Buffer) => sign('sha256', d, RSA.privateKey) },
  { alg: 'RS384', keys: RSA, sign: (d: Buffer) => sign('sha384', d, RSA.privateKey) },
  { alg: 'RS512', keys: RSA, sign: (d: Buffer) => sign('sha512', d, RSA.privateKey) },
  { alg: 'PS256', keys: RSA, sign: (d: Buffer) => sign('sha256', d, { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
  { alg: 'PS384', keys: RSA, sign: (d: Buffer) => sign('sha384', d, { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }) },
  { alg: 'PS512', keys: RSA, sign: (d: Buffer) => sign('sha512', d, { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }) },
  { alg: 'EdDSA', keys: ED, sign: (d: Buffer) => sign(null, d, ED.privateKey) },
  { alg: 'Ed25519', keys: ED, sign: (d: Buffer) => sign(null, d, ED.privateKey) },
] as const;

describe('signatureValid', () => {
  for (const c of CASES) {
    it(`${c.alg}: accepts the signature of the exact input, refuses any other input or signature`, async () => {
      const key = await importJWK(c.keys.publicJwk, c.alg);
      const signature = c.sign(Buffer.from(INPUT));
      assert.equal(signatureValid(c.alg, key, INPUT, signature), true);
      assert.equal(signatureValid(c.alg, key, `${INPUT}x`, signature), false, 'other input');
      const flipped = Buffer.from(signature);
      flipped[flipped.length - 1] ^= 1;
      assert.equal(signatureValid(c.alg, key, INPUT, flipped), false, 'one bit flipped');
      assert.equal(signatureValid(c.alg, key, INPUT, Buffer.alloc(0)), false, 'empty');
      assert.equal(signatureValid(c.alg, key, INPUT, Buffer.concat([signature, Buffer.from([0])])), false, 'trailing byte');
      assert.equal(signatureValid(c.alg, new Uint8Array(64), INPUT, signature), false, 'secret bytes where a public key is needed');
    });
  }

  it('ECDSA: a DER-encoded signature (not the JWS R‖S form) is refused', async () => {
    const key = await importJWK(P256.publicJwk, 'ES256');
    const der = sign('sha256', Buffer.from(INPUT), { key: P256.privateKey, dsaEncoding: 'der' });
    assert.equal(signatureValid('ES256', key, INPUT, der), false);
  });

  it('RSASSA-PSS: a salt of another length than the digest is refused (RFC 7518 §3.5)', async () => {
    const key = await importJWK(RSA.publicJwk, 'PS256');
    for (const saltLength of [0, 20, 64]) {
      const signature = sign('sha256', Buffer.from(INPUT), { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      assert.equal(signatureValid('PS256', key, INPUT, signature), false, `salt ${saltLength}`);
    }
  });

  it('RS256 signature does not pass as PS256 with the same key, nor ES256 as ES384', async () => {
    const rs = sign('sha256', Buffer.from(INPUT), RSA.privateKey);
    assert.equal(signatureValid('PS256', await importJWK(RSA.publicJwk, 'PS256'), INPUT, rs), false);
    const es = sign('sha256', Buffer.from(INPUT), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' });
    assert.equal(signatureValid('ES384', await importJWK(P256.publicJwk, 'ES256'), INPUT, es), false);
  });

  it('HMAC: the exact MAC under the secret, compared in full', () => {
    const secret = Buffer.alloc(32, 7);
    for (const [alg, digest] of [
      ['HS256', 'sha256'],
      ['HS384', 'sha384'],
      ['HS512', 'sha512'],
    ] as const) {
      const mac = createHmac(digest, secret).update(INPUT).digest();
      assert.equal(signatureValid(alg, secret, INPUT, mac), true, alg);
      assert.equal(signatureValid(alg, Buffer.alloc(32, 8), INPUT, mac), false, `${alg}: other secret`);
      assert.equal(signatureValid(alg, secret, INPUT, mac.subarray(0, 16)), false, `${alg}: truncated MAC`);
    }
  });

  it('an unknown algorithm, "none" or a prototype name is never valid', async () => {
    const key = await importJWK(P256.publicJwk, 'ES256');
    for (const alg of ['none', 'ES256K', 'constructor', '__proto__', '']) assert.equal(signatureValid(alg, key, INPUT, Buffer.alloc(64)), false, alg);
  });
});
