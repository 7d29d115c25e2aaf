import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IntrospectionCache, NegativeAnswer } from '../../src/tokens/introspection-cache.js';
import { TokenError, type VerifiedToken } from '../../src/tokens/index.js';

const token = (subject: string): VerifiedToken =>
  Object.freeze({ issuerName: 'corp', issuer: 'https://corp', subject, audience: [], jti: undefined, expiresAt: 0, scopes: [], claims: {} });

/** A loader that counts its calls and resolves when told. */
function loader(result: () => { token: VerifiedToken; until: number }) {
  let calls = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    load: async () => {
      calls++;
      await gate;
      return result();
    },
    release: () => release(),
    calls: () => calls,
  };
}

describe('IntrospectionCache', () => {
  it('single-flight: concurrent lookups of one new token share one load, then hit the cache', async () => {
    let now = 1_000_000;
    const cache = new IntrospectionCache({ maxEntries: 10, now: () => now });
    const alice = token('alice');
    const l = loader(() => ({ token: alice, until: now + 60_000 }));
    const pending = Array.from({ length: 100 }, () => cache.get('tok', l.load));
    assert.ok(pending.every((p) => p instanceof Promise));
    l.release();
    const results = await Promise.all(pending);
    assert.equal(l.calls(), 1);
    assert.ok(results.every((r) => r === alice));
    assert.equal(cache.get('tok', l.load), alice, 'a hit is synchronous and the same object');
    now += 60_000;
    const again = loader(() => ({ token: alice, until: now + 1 }));
    const reloaded = cache.get('tok', again.load);
    again.release();
    await reloaded;
    assert.equal(again.calls(), 1, 'past `until` it loads again');
  });

  it('remembers a negative answer until its time, and never a failure', async () => {
    let now = 0;
    const cache = new IntrospectionCache({ maxEntries: 10, now: () => now });
    let calls = 0;
    const inactive = async (): Promise<never> => {
      calls++;
      throw new NegativeAnswer(new TokenError('token_inactive', 'not active'), now + 5_000);
    };
    await assert.rejects(async () => cache.get('dead', inactive), { code: 'token_inactive' });
    assert.throws(() => cache.get('dead', inactive), { code: 'token_inactive' });
    assert.equal(calls, 1);
    now += 5_000;
    await assert.rejects(async () => cache.get('dead', inactive), { code: 'token_inactive' });
    assert.equal(calls, 2);

    let failures = 0;
    const down = async (): Promise<never> => {
      failures++;
      throw new TokenError('keys_unavailable', 'down');
    };
    await assert.rejects(async () => cache.get('x', down), { code: 'keys_unavailable' });
    await assert.rejects(async () => cache.get('x', down), { code: 'keys_unavailable' });
    assert.equal(failures, 2, 'an endpoint failure is not remembered');
  });

  it('keys entries by a keyed hash: equal tokens meet, different ones never do; evictWhere drops matching answers', async () => {
    const cache = new IntrospectionCache({ maxEntries: 10 });
    const bob = token('bob');
    const carol = token('carol');
    await cache.get('tok-b', async () => ({ token: bob, until: Date.now() + 60_000 }));
    await cache.get('tok-c', async () => ({ token: carol, until: Date.now() + 60_000 }));
    assert.equal(
      cache.get('tok-b', async () => assert.fail('cached')),
      bob,
    );
    assert.equal(cache.size, 2);
    cache.evictWhere((t) => t.subject === 'bob');
    assert.equal(cache.size, 1);
    assert.equal(
      cache.get('tok-c', async () => assert.fail('cached')),
      carol,
    );
    assert.deepEqual([cache.hits, cache.misses], [2, 2]);
  });

  it('with maxEntries 0 nothing is kept, but concurrent lookups still share one load', async () => {
    const cache = new IntrospectionCache({ maxEntries: 0 });
    const alice = token('alice');
    const l = loader(() => ({ token: alice, until: Date.now() + 60_000 }));
    const both = [cache.get('t', l.load), cache.get('t', l.load)];
    assert.ok(both.every((p) => p instanceof Promise));
    l.release();
    await Promise.all(both as Array<Promise<unknown>>);
    assert.equal(l.calls(), 1);
    assert.equal(cache.size, 0);
  });
});
