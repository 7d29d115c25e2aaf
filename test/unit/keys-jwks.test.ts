import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createSecretKeySet, KeySetError, parseJwks, type KeySetErrorCode } from '../../src/keys/index.js';
import { nodeKeyPair } from '../helpers/key-pair.js';

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
    const set = await parseJwks(jwks(await publicJwk('RS256', { kid: 'r' }), await publicJwk('ES256', { kid: 'e', use: 'sig' }), await publicJwk('EdDSA', { kid: 'o', key_ops: ['verify'] })));
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

describe('createSecretKeySet', () => {
  it('requires 32 bytes, and the hash size of the only algorithms allowed', () => {
    assert.throws(() => createSecretKeySet(Buffer.alloc(31, 1), ['HS256']), (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short');
    assert.throws(() => createSecretKeySet(Buffer.alloc(47, 1), ['HS384']), (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short');
    assert.throws(() => createSecretKeySet(Buffer.alloc(63, 1), ['HS512']), (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short');
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
