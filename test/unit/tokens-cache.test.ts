import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache, TokenError, type VerifiedToken } from '../../src/tokens/index.js';
import { toVerifiedToken } from '../../src/tokens/claims.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const T0 = 1_700_000_000_000;

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/**
 * A token as the verifier sees it, with its verified form. The cache keeps no claims: a hit
 * outside the parsed tier reads them back from the text's payload segment, so the text must
 * carry them. `tag` makes distinct texts (signature segments) with the same claims.
 */
function tokenFor(payloadJson: string, tag = 'sig'): { text: string; verified: VerifiedToken } {
  return {
    text: `${b64url('{"alg":"ES256","kid":"k"}')}.${b64url(payloadJson)}.${b64url(tag)}`,
    verified: toVerifiedToken('idp', JSON.parse(payloadJson) as Record<string, unknown>, T0 / 1000, 30),
  };
}

function verified(expiresAt: number, sub = 's'): VerifiedToken {
  return tokenFor(claimsJson(expiresAt, sub)).verified;
}

function claimsJson(expiresAt: number, sub = 's'): string {
  return JSON.stringify({ iss: 'i', sub, aud: 'a', exp: expiresAt });
}

/** The text of a token with these claims (distinct per `tag`). */
function text(expiresAt: number, tag: string, sub = 's'): string {
  return tokenFor(claimsJson(expiresAt, sub), tag).text;
}

describe('TokenCache', () => {
  const EXP = T0 / 1000 + 60;

  it('serves an entry until the token expires', () => {
    let now = T0;
    const cache = new TokenCache({ maxEntries: 10, now: () => now });
    const v = verified(EXP);
    const t = text(EXP, 't');
    cache.set(t, v, 1);
    assert.deepEqual(cache.get(t, 1), v);
    now = T0 + 59_999;
    assert.deepEqual(cache.get(t, 1), v);
    now = T0 + 60_000;
    assert.equal(cache.get(t, 1), undefined, 'expiresAt is checked on every hit');
    assert.equal(cache.size, 0, 'and the stale entry is dropped');
  });

  it('does not store a token already expired', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    cache.set(text(T0 / 1000 - 1, 't'), verified(T0 / 1000 - 1), 1);
    cache.set(text(T0 / 1000, 'u'), verified(T0 / 1000), 1);
    assert.equal(cache.size, 0);
  });

  it('serves only under the key set revision the token was verified with', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const t = text(EXP, 't');
    cache.set(t, verified(EXP), 1);
    assert.equal(cache.get(t, 2), undefined);
    assert.equal(cache.get(t, 1), undefined, 'dropped on the mismatch');
    cache.set(t, verified(EXP), 2);
    assert.equal(cache.get(t, undefined), undefined, 'no set, no hit');
  });

  it('a token in the parsed tier is refused under a new key set revision too, and by a different text', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const t = text(EXP, 't');
    cache.set(t, verified(EXP), 1);
    cache.get(t, 1);
    assert.equal(cache.get(t, 1), cache.get(t, 1), 'served parsed: the same object');
    assert.equal(cache.get(`${t} `, 1), undefined);
    assert.equal(cache.get(text(EXP, 'T'), 1), undefined);
    assert.equal(cache.get(t, 2), undefined);
    assert.equal(cache.size, 0, 'both tiers dropped it');
    assert.equal(cache.get(t, 1), undefined);
  });

  it('clear() empties it', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const t = text(EXP, 't');
    cache.set(t, verified(EXP), 1);
    cache.clear();
    assert.equal(cache.get(t, 1), undefined);
  });

  it('is bounded, evicting the least recently used', () => {
    const cache = new TokenCache({ maxEntries: 2, now: () => T0 });
    const v = verified(EXP);
    const [a, b, c] = ['a', 'b', 'c'].map((tag) => text(EXP, tag));
    cache.set(a, v, 1);
    cache.set(b, v, 1);
    cache.get(a, 1);
    cache.set(c, v, 1);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(b, 1), undefined);
    assert.deepEqual(cache.get(a, 1), v);
    assert.deepEqual(cache.get(c, 1), v);
  });

  it('is disabled with maxEntries 0', () => {
    const cache = new TokenCache({ maxEntries: 0, now: () => T0 });
    const a = text(EXP, 'a');
    cache.set(a, verified(EXP), 1);
    assert.equal(cache.get(a, 1), undefined);
    assert.equal(cache.size, 0);
    assert.throws(() => new TokenCache({ maxEntries: -1 }), TypeError);
  });

  it('counts hits and misses, from either tier', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const a = text(EXP, 'a');
    cache.get(a, 1);
    cache.set(a, verified(EXP), 1);
    cache.get(a, 1); // revived from the token's payload segment
    cache.get(a, 1); // parsed tier
    cache.get(a, 2); // another key set revision
    assert.deepEqual([cache.hits, cache.misses], [2, 2]);
  });

  it('beyond the parsed (hot) tier, a hit revives the same token from its payload segment', () => {
    const n = 3_000;
    const cache = new TokenCache({ maxEntries: n, now: () => T0 });
    const exp = T0 / 1000 + 600;
    const tokens = Array.from({ length: n }, (_, i) =>
      // "__proto__" must come back an own member, as the verifier's JSON.parse made it.
      tokenFor(
        `{"iss":"https://idp.example.test","aud":["orders","billing"],"sub":"user-${i}","jti":"j-${i}","exp":${exp},"scope":"a b","roles":["r1"],"nested":{"deep":[${i},"x"]},"big":9007199254740994,"name":"Zoë ✓","__proto__":{"polluted":true}}`,
        `s${i}`,
      ),
    );
    tokens.forEach((t) => cache.set(t.text, t.verified, 7));
    assert.equal(cache.size, n);
    const revived = cache.get(tokens[0].text, 7);
    assert.ok(revived !== undefined && revived !== tokens[0].verified, 'the oldest entry is no longer held parsed');
    assert.deepEqual(revived, tokens[0].verified);
    assert.ok(Object.isFrozen(revived) && Object.isFrozen(revived.claims) && Object.isFrozen((revived.claims.nested as { deep: unknown[] }).deep));
    assert.equal(Object.getPrototypeOf(revived.claims), Object.prototype, '"__proto__" stays an own member, not a prototype');
    assert.equal(cache.get(tokens[0].text, 7), revived, 'and is now in the hot tier');
    assert.equal(cache.get(`${tokens[0].text} `, 7), undefined, 'a different text never finds it');
    assert.equal(cache.get(tokens[1].text, 8), undefined, 'revision checked before reviving');
  });

  it('evictWhere drops matching parsed tokens from both tiers; digest-only entries are left to the revocation check', () => {
    const n = 2_000;
    const cache = new TokenCache({ maxEntries: n, now: () => T0 });
    const exp = T0 / 1000 + 600;
    const texts = Array.from({ length: n }, (_, i) => text(exp, `t${i}`, i % 2 === 0 ? 'even' : 'odd'));
    texts.forEach((t, i) => cache.set(t, verified(exp, i % 2 === 0 ? 'even' : 'odd'), 1));
    // Used twice: the first use revives t0…t3 into the parsed tier.
    for (const t of texts.slice(0, 4)) cache.get(t, 1);
    cache.evictWhere((t) => t.subject === 'even');
    assert.equal(cache.size, n - 2, 't0 and t2 were parsed, so they go from both tiers');
    assert.equal(cache.get(texts[0], 1), undefined);
    assert.equal(cache.get(texts[2], 1), undefined);
    assert.equal(cache.get(texts[1], 1)?.subject, 'odd');
    assert.equal(cache.get(texts[4], 1)?.subject, 'even', 'held by digest only: not inspected (the revocation check after the cache refuses it)');
  });

  it('remembers lasting refusals only, per key set revision, until cleared', () => {
    const cache = new TokenCache({ maxEntries: 10, now: () => T0 });
    const t = text(EXP, 'forged');
    assert.equal(cache.refusal(t, 1), undefined);
    cache.refuse(t, new TokenError('token_signature_invalid', 'token signature is not valid'), 1);
    const again = cache.refusal(t, 1);
    assert.ok(again instanceof TokenError && again.code === 'token_signature_invalid' && again.message === 'token signature is not valid');
    assert.notEqual(cache.refusal(t, 1), again, 'a new error each time');
    assert.equal(cache.refusal(t, 2), undefined, 'another key set revision may verify it');
    assert.equal(cache.refusal(`${t} `, 1), undefined, 'another text');
    assert.equal(cache.get(t, 1), undefined, 'never a hit in the verified tiers');
    for (const code of ['token_key_unknown', 'keys_unavailable', 'token_not_yet_valid', 'token_issued_in_future', 'token_malformed'] as const) {
      const u = text(EXP, code);
      cache.refuse(u, new TokenError(code, code), 1);
      assert.equal(cache.refusal(u, 1), undefined, `${code} is not lasting`);
    }
    for (const code of ['token_expired', 'token_issuer_invalid', 'token_audience_invalid', 'token_claims_invalid'] as const) {
      const u = text(EXP, code);
      cache.refuse(u, new TokenError(code, code), 1);
      assert.equal(cache.refusal(u, 1)?.code, code);
    }
    cache.clear();
    assert.equal(cache.refusal(t, 1), undefined, 'a key change forgets refusals');
    const off = new TokenCache({ maxEntries: 0, now: () => T0 });
    off.refuse(t, new TokenError('token_expired', 'x'), 1);
    assert.equal(off.refusal(t, 1), undefined, 'disabled with the cache');
  });

  it('stores no claims per entry: 10,000 entries with 2 KiB of claims each cost little heap', () => {
    const n = 10_000;
    const cache = new TokenCache({ maxEntries: n, now: () => T0 });
    const exp = T0 / 1000 + 600;
    const pad = 'x'.repeat(2048);
    const tokens = Array.from({ length: n }, (_, i) => tokenFor(JSON.stringify({ aud: 'a', sub: `u${i}`, exp, pad: `${pad}${i}` }), `s${i}`));
    // A full collection before each reading, so garbage (digests' temporaries) is not counted.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (const t of tokens) cache.set(t.text, t.verified, 1);
    gc();
    const perEntry = (process.memoryUsage().heapUsed - before) / n;
    assert.equal(cache.size, n);
    // Claims held as text would be > 2 KiB per entry; digest, entry and LRU slots are ~200 bytes.
    assert.ok(perEntry < 1024, `${Math.round(perEntry)} bytes of heap per entry`);
  });
});
