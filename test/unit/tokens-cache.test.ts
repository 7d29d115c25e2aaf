import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache, type VerifiedToken } from '../../src/tokens/index.js';

const T0 = 1_700_000_000_000;

function verified(expiresAt: number): VerifiedToken {
  return Object.freeze({ issuerName: 'idp', issuer: 'i', subject: 's', audience: ['a'], jti: undefined, expiresAt, scopes: [], claims: {} });
}

describe('TokenCache', () => {
  it('serves an entry until the token expires', () => {
    let now = T0;
    const cache = new TokenCache({ maxEntries: 10, now: () => now });
    const v = verified(T0 / 1000 + 60);
    cache.set('t', v, 1);
    assert.equal(cache.get('t', 1), v);
    now = T0 + 59_999;
    assert.equal(cache.get('t', 1), v);
    now = T0 + 60_000;
    assert.equal(cache.get('t', 1), undefined, 'expiresAt is checked on every hit');
    assert.equal(cache.size, 0, 'and the stale entry is dropped');
  });

  it('does not store a token already expired', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    cache.set('t', verified(T0 / 1000 - 1), 1);
    cache.set('u', verified(T0 / 1000), 1);
    assert.equal(cache.size, 0);
  });

  it('serves only under the key set revision the token was verified with', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    cache.set('t', verified(T0 / 1000 + 60), 1);
    assert.equal(cache.get('t', 2), undefined);
    assert.equal(cache.get('t', 1), undefined, 'dropped on the mismatch');
    cache.set('t', verified(T0 / 1000 + 60), 2);
    assert.equal(cache.get('t', undefined), undefined, 'no set, no hit');
  });

  it('clear() empties it', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    cache.set('t', verified(T0 / 1000 + 60), 1);
    cache.clear();
    assert.equal(cache.get('t', 1), undefined);
  });

  it('is bounded, evicting the least recently used', () => {
    const cache = new TokenCache({ maxEntries: 2, now: () => T0 });
    const v = verified(T0 / 1000 + 60);
    cache.set('a', v, 1);
    cache.set('b', v, 1);
    cache.get('a', 1);
    cache.set('c', v, 1);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b', 1), undefined);
    assert.equal(cache.get('a', 1), v);
    assert.equal(cache.get('c', 1), v);
  });

  it('is disabled with maxEntries 0', () => {
    const cache = new TokenCache({ maxEntries: 0, now: () => T0 });
    cache.set('a', verified(T0 / 1000 + 60), 1);
    assert.equal(cache.get('a', 1), undefined);
    assert.equal(cache.size, 0);
    assert.throws(() => new TokenCache({ maxEntries: -1 }), TypeError);
  });

  it('counts hits and misses and reports each lookup', () => {
    const lookups: boolean[] = [];
    const cache = new TokenCache({ maxEntries: 10, now: () => T0, onLookup: (hit) => lookups.push(hit) });
    cache.get('a', 1);
    cache.set('a', verified(T0 / 1000 + 60), 1);
    cache.get('a', 1);
    cache.get('a', 1);
    assert.deepEqual([cache.hits, cache.misses], [2, 1]);
    assert.deepEqual(lookups, [false, true, true]);
  });
});
