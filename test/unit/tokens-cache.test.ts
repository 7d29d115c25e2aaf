import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache, type VerifiedToken } from '../../src/tokens/index.js';
import { toVerifiedToken } from '../../src/tokens/claims.js';

const T0 = 1_700_000_000_000;

/** A token as the verifier builds it: the cache keeps its claims and rebuilds it from them. */
function verified(expiresAt: number, sub = 's'): VerifiedToken {
  return toVerifiedToken('idp', { iss: 'i', sub, aud: 'a', exp: expiresAt }, T0 / 1000, 30);
}

describe('TokenCache', () => {
  it('serves an entry until the token expires', () => {
    let now = T0;
    const cache = new TokenCache({ maxEntries: 10, now: () => now });
    const v = verified(T0 / 1000 + 60);
    cache.set('t', v, 1);
    assert.deepEqual(cache.get('t', 1), v);
    now = T0 + 59_999;
    assert.deepEqual(cache.get('t', 1), v);
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

  it('a token in the parsed tier is refused under a new key set revision too, and by a different text', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const v = verified(T0 / 1000 + 60);
    cache.set('t', v, 1);
    cache.get('t', 1);
    assert.equal(cache.get('t', 1), cache.get('t', 1), 'served parsed: the same object');
    assert.equal(cache.get('t ', 1), undefined);
    assert.equal(cache.get('T', 1), undefined);
    assert.equal(cache.get('t', 2), undefined);
    assert.equal(cache.size, 0, 'both tiers dropped it');
    assert.equal(cache.get('t', 1), undefined);
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
    assert.deepEqual(cache.get('a', 1), v);
    assert.deepEqual(cache.get('c', 1), v);
  });

  it('is disabled with maxEntries 0', () => {
    const cache = new TokenCache({ maxEntries: 0, now: () => T0 });
    cache.set('a', verified(T0 / 1000 + 60), 1);
    assert.equal(cache.get('a', 1), undefined);
    assert.equal(cache.size, 0);
    assert.throws(() => new TokenCache({ maxEntries: -1 }), TypeError);
  });

  it('counts hits and misses, from either tier', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    cache.get('a', 1);
    cache.set('a', verified(T0 / 1000 + 60), 1);
    cache.get('a', 1); // revived from the claims text
    cache.get('a', 1); // parsed tier
    cache.get('a', 2); // another key set revision
    assert.deepEqual([cache.hits, cache.misses], [2, 2]);
  });

  it('beyond the parsed (hot) tier, a hit revives the same token from its claims text', () => {
    const n = 3_000;
    const cache = new TokenCache({ maxEntries: n, now: () => T0 });
    const exp = T0 / 1000 + 600;
    const tokens = Array.from({ length: n }, (_, i) =>
      // Parsed from text as a verifier's payload is, so "__proto__" is an own member.
      toVerifiedToken('idp', JSON.parse(`{"iss":"https://idp.example.test","aud":["orders","billing"],"sub":"user-${i}","jti":"j-${i}","exp":${exp},"scope":"a b","roles":["r1"],"nested":{"deep":[${i},"x"]},"big":9007199254740994,"__proto__":{"polluted":true}}`), T0 / 1000, 30),
    );
    tokens.forEach((t, i) => cache.set(`token-${i}`, t, 7));
    assert.equal(cache.size, n);
    const revived = cache.get('token-0', 7);
    assert.ok(revived !== undefined && revived !== tokens[0], 'the oldest entry is no longer held parsed');
    assert.deepEqual(revived, tokens[0]);
    assert.ok(Object.isFrozen(revived) && Object.isFrozen(revived.claims) && Object.isFrozen((revived.claims.nested as { deep: unknown[] }).deep));
    assert.equal(Object.getPrototypeOf(revived.claims), Object.prototype, '"__proto__" stays an own member, not a prototype');
    assert.equal(cache.get('token-0', 7), revived, 'and is now in the hot tier');
    assert.equal(cache.get('token-0 ', 7), undefined, 'a different text never finds it');
    assert.equal(cache.get('token-1', 8), undefined, 'revision checked before reviving');
  });

  it('evictWhere reaches entries outside the hot tier', () => {
    const n = 2_000;
    const cache = new TokenCache({ maxEntries: n, now: () => T0 });
    const exp = T0 / 1000 + 600;
    for (let i = 0; i < n; i++) cache.set(`t${i}`, toVerifiedToken('idp', { aud: 'orders', sub: i % 2 === 0 ? 'even' : 'odd', exp }, T0 / 1000, 30), 1);
    cache.evictWhere((t) => t.subject === 'even');
    assert.equal(cache.size, n / 2);
    assert.equal(cache.get('t0', 1), undefined);
    assert.equal(cache.get('t1', 1)?.subject, 'odd');
  });
});
