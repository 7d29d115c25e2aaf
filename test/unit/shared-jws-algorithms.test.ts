import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, type KeyObject } from 'node:crypto';
import { CompactSign, type JWK } from 'jose';
import { issuerSchema, serviceTokensSchema } from '../../src/config/index.js';
import { createSecretKeySet, parseJwks, type KeySet } from '../../src/keys/index.js';
import { algorithmsForPublicKey, HMAC_MIN_SECRET_BYTES } from '../../src/keys/algorithms.js';
import { createJwtVerifier } from '../../src/tokens/index.js';
import { signatureValid } from '../../src/tokens/signature.js';
import { ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, JWS_ALGORITHMS, JWS_ALGORITHM_NAMES, type JwsKeyShape } from '../../src/shared/index.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';

// The three consumers of the algorithm table (the config schema, the key checks and the
// verifier) must accept exactly its names: no fewer (an algorithm an operator can configure
// but no token can pass), no more (a verifier path the config cannot name).

const NOT_IN_TABLE = ['none', 'NONE', 'HS1', 'ES256K', 'RSA-OAEP', 'rs256', 'EdDSA ', 'constructor', '__proto__', ''];

const issuer = (algorithms: unknown) => ({ name: 'idp', issuer: 'https://idp.example', audiences: ['api'], algorithms, keys: { file: 'jwks.json' } });
const noKeys = { current: () => undefined, reloadOnUnknownKey: async () => false, available: () => false };
const verifier = (algorithms: string[]) =>
  createJwtVerifier({
    issuerName: 'idp',
    issuer: 'https://idp.example',
    audiences: ['api'],
    algorithms,
    clockSkewSeconds: 0,
    maxTokenBytes: 8192,
    keys: noKeys,
  });

describe('the JWS algorithm table', () => {
  it('splits into asymmetric and HMAC names, each once', () => {
    assert.deepEqual([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS], [...JWS_ALGORITHM_NAMES]);
    assert.equal(new Set(JWS_ALGORITHM_NAMES).size, JWS_ALGORITHM_NAMES.length);
    assert.ok(Object.isFrozen(JWS_ALGORITHMS));
  });

  it('config: the schema accepts exactly the table names', () => {
    for (const name of JWS_ALGORITHM_NAMES) {
      assert.deepEqual(issuerSchema.parse(issuer([name])).algorithms, [name]);
      assert.equal(serviceTokensSchema.safeParse({ trustDomain: 'cluster.local', keys: { nats: true }, algorithms: [name] }).success, true, name);
    }
    for (const name of NOT_IN_TABLE) {
      const result = issuerSchema.safeParse(issuer([name]));
      assert.equal(result.success, false, JSON.stringify(name));
      assert.match(result.error.issues[0].message, new RegExp(`\\(allowed: ${JWS_ALGORITHM_NAMES.join(', ')}\\)$`));
    }
  });

  it('verifier: createJwtVerifier takes exactly the table names', () => {
    for (const name of JWS_ALGORITHM_NAMES) assert.doesNotThrow(() => verifier([name]), name);
    for (const name of NOT_IN_TABLE) assert.throws(() => verifier([name]), TypeError, JSON.stringify(name));
  });

  it('keys: every asymmetric name has a key shape, and the shapes offer no other name', () => {
    const offered = new Set<string>();
    for (const name of ASYMMETRIC_ALGORITHMS) {
      const key = JWS_ALGORITHMS[name].key as Exclude<JwsKeyShape, { kty: 'oct' }>;
      const algorithms = algorithmsForPublicKey(key.kty, 'crv' in key ? key.crv : undefined);
      assert.ok(algorithms.includes(name), name);
      for (const alg of algorithms) offered.add(alg);
    }
    assert.deepEqual([...offered].sort(), [...ASYMMETRIC_ALGORITHMS].sort());
    assert.deepEqual(Object.keys(HMAC_MIN_SECRET_BYTES).sort(), [...HMAC_ALGORITHMS].sort());
    for (const name of NOT_IN_TABLE) assert.equal(signatureValid(name, new Uint8Array(64), 'a.b', Buffer.alloc(32)), false);
  });

  describe('each name, signed by jose, is offered a key by keys/ and verified by tokens/', () => {
    const pairs = new Map<string, { privateKey: KeyObject; publicJwk: JWK }>();
    /** One key pair per shape (one RSA pair serves RS* and PS*). */
    function pairFor(key: Exclude<JwsKeyShape, { kty: 'oct' }>) {
      const shape = key.kty === 'RSA' ? 'RSA' : key.crv;
      let pair = pairs.get(shape);
      if (pair === undefined) {
        const { privateKey, publicKey } =
          key.kty === 'RSA'
            ? nodeKeyPair('rsa', { modulusLength: 2048 })
            : key.kty === 'EC'
              ? nodeKeyPair('ec', { namedCurve: key.crv })
              : nodeKeyPair('ed25519');
        pair = { privateKey, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: shape } };
        pairs.set(shape, pair);
      }
      return pair;
    }

    for (const name of JWS_ALGORITHM_NAMES) {
      it(name, async () => {
        const { key } = JWS_ALGORITHMS[name];
        let signingKey: KeyObject | Uint8Array;
        let keys: KeySet;
        if (key.kty === 'oct') {
          signingKey = randomBytes(key.minBytes);
          keys = createSecretKeySet(signingKey, [name]);
        } else {
          const pair = pairFor(key);
          signingKey = pair.privateKey;
          keys = await parseJwks(JSON.stringify({ keys: [pair.publicJwk] }));
        }
        const jws = await new CompactSign(new TextEncoder().encode('{"sub":"u"}')).setProtectedHeader({ alg: name }).sign(signingKey);
        const [header, payload, signature] = jws.split('.');
        const verificationKey = keys.select(name, undefined);
        assert.ok(verificationKey !== undefined, `keys/ offers no key for ${name}`);
        assert.equal(signatureValid(name, verificationKey, `${header}.${payload}`, Buffer.from(signature, 'base64url')), true);
      });
    }
  });
});
