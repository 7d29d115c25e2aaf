import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createSecretKeySet, KeySetError, parseJwks, type KeySetErrorCode } from '../../src/keys/index.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';
import { SMALL_ORDER_POINTS } from '../../src/keys/ed25519.js';
import { signatureValid } from '../../src/tokens/signature.js';

async function publicJwk(alg: 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'EdDSA', extra: Record<string, unknown> = {}): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(publicKey)), ...extra };
}

async function privateJwk(alg: 'ES256' | 'RS256', extra: Record<string, unknown> = {}): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), ...extra };
}

const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });

async function refused(text: string, code: KeySetErrorCode): Promise<KeySetError> {
  let caught: unknown;
  await assert.rejects(parseJwks(text), (error: unknown) => {
    caught = error;
    return error instanceof KeySetError && error.code === code;
  });
  return caught as KeySetError;
}

describe('parseJwks: accepted sets', () => {
  it('imports RSA, EC and OKP keys and selects by kid and alg', async () => {
    const set = await parseJwks(
      jwks(
        await publicJwk('RS256', { kid: 'r' }),
        await publicJwk('ES256', { kid: 'e', use: 'sig' }),
        await publicJwk('EdDSA', { kid: 'o', key_ops: ['verify'] }),
      ),
    );
    assert.deepEqual(set.kids, ['r', 'e', 'o']);
    assert.equal(set.size, 3);
    assert.equal(set.revision, 0);
    assert.ok(set.select('RS256', 'r'));
    assert.ok(set.select('PS256', 'r'), 'an RSA key without alg verifies every RSA algorithm');
    assert.ok(set.select('ES256', 'e'));
    assert.ok(set.select('EdDSA', 'o'));
    assert.ok(set.select('Ed25519', 'o'));
    assert.equal(set.select('ES256', 'r'), undefined, 'an RSA key never serves ES256');
    assert.equal(set.select('HS256', 'r'), undefined, 'nor HMAC');
    assert.equal(set.select('ES384', 'e'), undefined, 'a P-256 key never serves ES384');
    assert.equal(set.select('ES256', 'missing'), undefined);
    assert.ok(Object.isFrozen(set) && Object.isFrozen(set.kids));
  });

  it('honours the JWK alg', async () => {
    const set = await parseJwks(jwks(await publicJwk('RS256', { kid: 'r', alg: 'RS256' })));
    assert.ok(set.select('RS256', 'r'));
    assert.equal(set.select('PS256', 'r'), undefined);
    assert.equal(set.select('RS512', 'r'), undefined);
  });

  it('without kid, selects only when exactly one key can verify alg', async () => {
    const set = await parseJwks(jwks(await publicJwk('ES256', { kid: 'a' }), await publicJwk('ES256', { kid: 'b' }), await publicJwk('RS256', { kid: 'c' })));
    assert.equal(set.select('ES256', undefined), undefined, 'two ES256 candidates: ambiguous');
    assert.ok(set.select('RS256', undefined), 'one RSA candidate');
    assert.equal(set.select('EdDSA', undefined), undefined);
  });

  it('accepts keys without kid and compares material with sameKeysAs', async () => {
    const key = await publicJwk('ES256');
    const a = await parseJwks(jwks(key));
    const b = await parseJwks(`  ${jwks({ ...key })}\n`);
    const c = await parseJwks(jwks(await publicJwk('ES256')));
    assert.deepEqual(a.kids, []);
    assert.ok(a.sameKeysAs(b));
    assert.ok(!a.sameKeysAs(c));
    const stamped = a.withRevision(7);
    assert.equal(stamped.revision, 7);
    assert.ok(stamped.sameKeysAs(a));
    assert.ok(stamped.select('ES256', undefined));
  });
});

describe('parseJwks: refused sets', () => {
  it('refuses documents that are not a JWKS', async () => {
    await refused('not json', 'jwks_malformed');
    await refused('[]', 'jwks_malformed');
    await refused('{"keys":{}}', 'jwks_malformed');
    await refused(jwks('a string'), 'jwks_malformed');
    await refused('{"keys":[],"keys":[]}', 'jwks_malformed');
    await refused(' '.repeat(1024 * 1024 + 1), 'jwks_malformed');
  });

  it('refuses an empty set and an oversized one', async () => {
    await refused(jwks(), 'jwks_empty');
    const key = await publicJwk('ES256');
    await refused(jwks(...Array.from({ length: 101 }, (_, i) => ({ ...key, kid: `k${i}` }))), 'jwks_too_many_keys');
  });

  it('refuses symmetric keys', async () => {
    await refused(jwks({ kty: 'oct', kid: 'h', k: Buffer.alloc(32, 1).toString('base64url') }), 'jwks_symmetric_key');
  });

  it('refuses private keys, naming the member but never the material', async () => {
    const ec = await privateJwk('ES256', { kid: 'e' });
    const error = await refused(jwks(ec), 'jwks_private_key');
    assert.match(error.message, /"d"/);
    assert.ok(!error.message.includes(ec.d!), 'no key material in the message');
    await refused(jwks(await privateJwk('RS256')), 'jwks_private_key');
    for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) await refused(jwks(await publicJwk('RS256', { [member]: 'AQAB' })), 'jwks_private_key');
  });

  it('says a private key in a set is never published, naming its kid, also for a skipped "enc" key', async () => {
    const error = await refused(jwks(await privateJwk('ES256', { kid: 'idp-1' })), 'jwks_private_key');
    assert.equal(error.message, 'key #0 (kid "idp-1") contains private key member "d": a private key must never be published; the set holds public keys only');
    const enc = await refused(jwks(await publicJwk('ES256', { kid: 'sig' }), await privateJwk('ES256', { kid: 'enc-1', use: 'enc' })), 'jwks_private_key');
    assert.match(enc.message, /^key #1 \(kid "enc-1"\) contains private key member "d": a private key must never be published/);
  });

  it('refuses a single JWK where a key set belongs, saying what to use instead', async () => {
    const ec = await privateJwk('ES256', { kid: 'idp-dev-1' });
    const error = await refused(JSON.stringify(ec), 'jwks_private_key');
    assert.equal(
      error.message,
      'is a single private JWK (member "d"), not a key set: use the public key set, {"keys": [public JWKs]}, ' +
        'e.g. the public JWK that authzctl keygen writes next to the private one (*.pub.jwk.json) wrapped in a keys array',
    );
    assert.ok(!error.message.includes(ec.d!), 'no key material in the message');
    const single = await refused(JSON.stringify(await publicJwk('EdDSA', { kid: 'cp' })), 'jwks_malformed');
    assert.equal(single.message, 'is a single JWK, not a key set: wrap it: {"keys": [ … ]}');
    // Not a JWK either (no kty): the general message.
    assert.equal((await refused('{"kys": []}', 'jwks_malformed')).message, 'JWKS must be an object with a "keys" array');
  });

  it('refuses weak RSA keys', async () => {
    const weak = nodeKeyPair('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    await refused(jwks({ ...weak, kid: 'w' }), 'jwks_weak_key');
    await refused(jwks(await publicJwk('RS256', { e: 'AQ' })), 'jwks_weak_key');
    await refused(jwks(await publicJwk('RS256', { e: 'Ag' })), 'jwks_weak_key');
  });

  it('refuses unsupported key types and curves', async () => {
    await refused(jwks({ kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' }), 'jwks_unsupported_key');
    const x25519 = nodeKeyPair('x25519').publicKey.export({ format: 'jwk' });
    await refused(jwks(x25519), 'jwks_unsupported_key');
    await refused(jwks({ kty: 'PQ', x: 'AA' }), 'jwks_unsupported_key');
    const ec = await publicJwk('ES256');
    await refused(jwks({ ...ec, x: ec.y, y: ec.x }), 'jwks_unsupported_key');
  });

  it('refuses duplicate kids', async () => {
    await refused(jwks(await publicJwk('ES256', { kid: 'same' }), await publicJwk('RS256', { kid: 'same' })), 'jwks_duplicate_kid');
  });

  it('skips "enc" keys (as IdPs such as Keycloak publish them) but refuses a set of only those', async () => {
    const sig = await publicJwk('ES256', { kid: 'sig-1', use: 'sig' });
    const set = await parseJwks(jwks(await publicJwk('RS256', { kid: 'enc-1', use: 'enc', alg: 'RSA-OAEP' }), sig));
    assert.deepEqual([...set.kids], ['sig-1']);
    await refused(jwks(await publicJwk('RS256', { use: 'enc' })), 'jwks_empty');
    const { privateKey } = nodeKeyPair('rsa', { modulusLength: 2048 });
    await refused(jwks({ ...privateKey.export({ format: 'jwk' }), use: 'enc' }, sig), 'jwks_private_key');
  });

  it('refuses keys not meant for signatures', async () => {
    await refused(jwks(await publicJwk('RS256', { use: 'wrap' })), 'jwks_bad_use');
    await refused(jwks(await publicJwk('RS256', { key_ops: ['encrypt'] })), 'jwks_bad_use');
    await refused(jwks(await publicJwk('RS256', { key_ops: 'verify' })), 'jwks_malformed');
  });

  it('refuses a JWK alg its key cannot verify', async () => {
    await refused(jwks(await publicJwk('RS256', { alg: 'HS256' })), 'jwks_alg_mismatch');
    await refused(jwks(await publicJwk('ES256', { alg: 'ES384' })), 'jwks_alg_mismatch');
    await refused(jwks(await publicJwk('ES256', { alg: 'none' })), 'jwks_alg_mismatch');
    await refused(jwks(await publicJwk('RS256', { alg: 'RSA-OAEP' })), 'jwks_alg_mismatch');
  });

  it('refuses members of the wrong type', async () => {
    await refused(jwks(await publicJwk('ES256', { kid: 5 })), 'jwks_malformed');
    await refused(jwks(await publicJwk('ES256', { kid: '' })), 'jwks_malformed');
    await refused(jwks(await publicJwk('ES256', { x: 'not+base64' })), 'jwks_malformed');
    await refused(jwks({ kty: 'RSA', e: 'AQAB' }), 'jwks_malformed');
  });
});

describe('parseJwks: Ed25519 points', () => {
  const P = 2n ** 255n - 19n;
  /** 32 little-endian bytes of y, with the sign bit of x on top. */
  const encode = (y: bigint, sign: 0 | 1 = 0): Buffer => {
    const bytes = Buffer.alloc(32);
    for (let i = 0, v = y; i < 32; i++, v >>= 8n) bytes[i] = Number(v & 0xffn);
    if (sign === 1) bytes[31] |= 0x80;
    return bytes;
  };
  const okp = (x: Buffer, kid = 'ed') => ({ kty: 'OKP', crv: 'Ed25519', kid, x: x.toString('base64url') });
  const identity = encode(1n);
  /** R = identity, S = 0: no private key was involved. */
  const forged = Buffer.concat([identity, Buffer.alloc(32)]);

  it('node:crypto alone verifies a signature forged for the identity key (why the set must refuse it)', () => {
    const key = createPublicKey({ key: okp(identity), format: 'jwk' });
    assert.equal(verify(null, Buffer.from('any message'), key, forged), true);
    // Non-canonical spellings of the same point are imported and verify the forgery too.
    for (const x of [encode(1n, 1), encode(P + 1n), encode(P + 1n, 1)])
      assert.equal(verify(null, Buffer.from('m'), createPublicKey({ key: okp(x), format: 'jwk' }), forged), true);
  });

  it('refuses the identity key, so the forged token has no key to verify against', async () => {
    let set: Awaited<ReturnType<typeof parseJwks>> | undefined;
    try {
      set = await parseJwks(jwks(okp(identity)));
    } catch {
      // refused, as it should be
    }
    if (set !== undefined)
      assert.equal(
        signatureValid('EdDSA', set.select('EdDSA', 'ed')!, 'header.payload', forged),
        false,
        'an identity key in force verifies a forged signature',
      );
    const error = await refused(jwks(okp(identity)), 'jwks_weak_key');
    assert.match(error.message, /key #0 \(kid "ed"\) is a small-order Ed25519 point/);
  });

  it('refuses every small-order point, in any encoding, as jwks_weak_key', async () => {
    for (const hex of SMALL_ORDER_POINTS) {
      const x = Buffer.from(hex, 'hex');
      await refused(jwks(okp(x)), 'jwks_weak_key');
      x[31] ^= 0x80;
      await refused(jwks(okp(x)), 'jwks_weak_key');
    }
    for (const x of [encode(P), encode(P, 1), encode(P + 1n), encode(P + 1n, 1)]) await refused(jwks(okp(x)), 'jwks_weak_key');
  });

  it('refuses non-canonical, off-curve and wrong-length keys as jwks_unsupported_key', async () => {
    assert.match((await refused(jwks(okp(encode(P + 2n))), 'jwks_unsupported_key')).message, /non-canonical Ed25519 "x"/);
    assert.match((await refused(jwks(okp(encode(2n))), 'jwks_unsupported_key')).message, /is not a point on Ed25519/);
    assert.match((await refused(jwks(okp(Buffer.alloc(31, 3))), 'jwks_unsupported_key')).message, /"x" of 31 bytes/);
  });

  it('refuses a whole set for one small-order key among good ones', async () => {
    const good = await publicJwk('EdDSA', { kid: 'good' });
    assert.deepEqual((await parseJwks(jwks(good))).kids, ['good']);
    await refused(jwks(good, await publicJwk('ES256', { kid: 'ec' }), okp(identity, 'bad')), 'jwks_weak_key');
  });

  it('never takes an X25519 key as a signature key: refused, or skipped with use "enc"', async () => {
    // The small-order check is not applied to X25519: such a key never reaches a verifier.
    const good = await publicJwk('EdDSA', { kid: 'good' });
    assert.match(
      (await refused(jwks({ kty: 'OKP', crv: 'X25519', kid: 'x', x: Buffer.alloc(32).toString('base64url') }), 'jwks_unsupported_key')).message,
      /unsupported crv "X25519"/,
    );
    await refused(jwks(good, { kty: 'OKP', crv: 'X25519', kid: 'x', x: encode(9n).toString('base64url'), alg: 'EdDSA' }), 'jwks_unsupported_key');
    const set = await parseJwks(jwks(good, { kty: 'OKP', crv: 'X25519', kid: 'x', use: 'enc', x: Buffer.alloc(32).toString('base64url') }));
    assert.deepEqual(set.kids, ['good']);
    assert.equal(set.select('EdDSA', 'x'), undefined);
  });
});

describe('createSecretKeySet', () => {
  it('requires 32 bytes, and the hash size of the only algorithms allowed', () => {
    assert.throws(
      () => createSecretKeySet(Buffer.alloc(31, 1), ['HS256']),
      (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short',
    );
    assert.throws(
      () => createSecretKeySet(Buffer.alloc(47, 1), ['HS384']),
      (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short',
    );
    assert.throws(
      () => createSecretKeySet(Buffer.alloc(63, 1), ['HS512']),
      (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short',
    );
    assert.ok(createSecretKeySet(Buffer.alloc(64, 1), ['HS512']).select('HS512', undefined));
  });

  it('serves only the algorithms the secret is long enough for', () => {
    const set = createSecretKeySet(Buffer.alloc(48, 1), ['HS256', 'HS384', 'HS512']);
    assert.ok(set.select('HS256', undefined));
    assert.ok(set.select('HS384', undefined));
    assert.equal(set.select('HS512', undefined), undefined);
    assert.equal(set.select('RS256', undefined), undefined);
    assert.equal(set.select('HS256', 'some-kid'), undefined, 'the secret has no kid');
  });

  it('copies the secret and refuses asymmetric algorithms', () => {
    const bytes = Buffer.alloc(32, 1);
    const set = createSecretKeySet(bytes, ['HS256']);
    bytes.fill(0);
    assert.deepEqual(Buffer.from(set.select('HS256', undefined) as Uint8Array), Buffer.alloc(32, 1));
    assert.throws(() => createSecretKeySet(Buffer.alloc(32), ['HS256', 'RS256']), TypeError);
    assert.ok(createSecretKeySet(Buffer.alloc(32, 2), ['HS256']).sameKeysAs(createSecretKeySet(Buffer.alloc(32, 2), ['HS256'])));
  });
});
