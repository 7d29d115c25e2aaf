import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JWK } from 'jose';
import { generateJwkPair, parseKeyAlgorithm, publicPathFor, timestamp } from '../../src/cli/commands/keygen.js';
import { addKey, currentKeys, nextSteps, removeKey } from '../../src/cli/commands/rotate.js';
import type { ControlDocument } from '../../src/control/types.js';
import { parseJwks } from '../../src/keys/index.js';

const key = (kid: string): JWK => ({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid });
const kids = (keys: readonly JWK[]) => keys.map((k) => k.kid);

describe('addKey', () => {
  it('appends the new key last and keeps at most N, dropping the oldest', () => {
    assert.deepEqual(kids(addKey([], key('a'), 2).keys), ['a']);
    assert.deepEqual(addKey([key('a')], key('b'), 2), { keys: [key('a'), key('b')], dropped: [] });
    const rotated = addKey([key('a'), key('b')], key('c'), 2);
    assert.deepEqual(kids(rotated.keys), ['b', 'c']);
    assert.deepEqual(rotated.dropped, ['a']);
    assert.deepEqual(kids(addKey([key('a'), key('b'), key('c')], key('d'), 3).keys), ['b', 'c', 'd']);
    assert.deepEqual(addKey([key('a'), { kty: 'EC' }], key('c'), 1).dropped, ['a', '#1']);
  });

  it('refuses a duplicate kid and a keep below 1', () => {
    assert.throws(() => addKey([key('a')], key('a'), 2), /--kid: the set already has a key with kid "a"/);
    assert.throws(() => addKey([key('a')], key('b'), 0), /--keep: must be a whole number of at least 1/);
  });
});

describe('removeKey', () => {
  it('removes the kid and keeps the order', () => {
    assert.deepEqual(kids(removeKey([key('a'), key('b'), key('c')], 'b')), ['a', 'c']);
  });

  it('refuses an unknown kid and removing the last key', () => {
    assert.throws(() => removeKey([key('a'), key('b')], 'z'), /--retire: no key with kid "z" in the set \(kids: a, b\)/);
    assert.throws(() => removeKey([key('a')], 'a'), /"a" is the last key of the set/);
  });
});

describe('currentKeys', () => {
  const doc = (body: unknown): ControlDocument => ({ kind: 'keys', target: 'issuer/idp', revision: 1, issuedAt: 0, body });
  it('reads the keys of the current set, none when there is no document', () => {
    assert.deepEqual(currentKeys(null), []);
    assert.deepEqual(kids(currentKeys(doc({ keys: [key('a')] }))), ['a']);
    assert.throws(() => currentKeys(doc({ nope: 1 })), /issuer\/idp document's body is not a JWKS/);
    assert.throws(() => currentKeys(doc({ keys: ['x'] })), /not a JWKS/);
  });
});

describe('nextSteps', () => {
  it('says to start signing with the new key and how to retire each old one', () => {
    const text = nextSteps('new.jwk.json', 'idp-2', ['idp-1'], '--issuer idp');
    assert.match(text, /Start signing tokens with new\.jwk\.json \(kid idp-2\)/);
    assert.match(text, /authzctl rotate --issuer idp --retire idp-1/);
    assert.doesNotMatch(nextSteps('n', 'k', [], '--issuer idp'), /retire/);
  });
});

describe('keygen helpers', () => {
  it('names the public file next to the private one', () => {
    assert.equal(publicPathFor('cp.jwk.json'), 'cp.pub.jwk.json');
    assert.equal(publicPathFor('/etc/authz/cp.jwk.json'), '/etc/authz/cp.pub.jwk.json');
    assert.equal(publicPathFor('keys/idp-1.private.jwk.json'), 'keys/idp-1.pub.jwk.json');
    assert.equal(publicPathFor('key'), 'key.pub');
    assert.equal(publicPathFor('dir.d/.hidden'), 'dir.d/.hidden.pub');
  });

  it('formats a UTC timestamp for default kids', () => {
    assert.equal(timestamp(new Date('2025-03-04T05:06:07.890Z')), '20250304050607');
  });

  it('generates key pairs whose public half is a valid JWKS entry and whose private half has d', async () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const { privateJwk, publicJwk } = await generateJwkPair(alg, 'k1');
      assert.equal(typeof privateJwk.d, 'string');
      assert.equal(publicJwk.d, undefined);
      assert.deepEqual([publicJwk.kid, publicJwk.alg, publicJwk.use], ['k1', alg, 'sig']);
      await parseJwks(JSON.stringify({ keys: [publicJwk] }));
    }
    await assert.rejects(generateJwkPair('ES256', 'has space'), /--kid: "has space" must be 1 to 256 printable ASCII/);
    assert.throws(() => parseKeyAlgorithm('RS256'), /--alg: "RS256" is not supported \(use EdDSA or ES256\)/);
  });
});
