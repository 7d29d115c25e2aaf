import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiKeySet,
  ApiKeyStore,
  apiKeyId,
  generateApiKey,
  hashApiKey,
  KeySetError,
  MAX_API_KEYS,
  parseApiKeys,
  type ApiKeyStoreEvent,
} from '../../src/keys/index.js';

const NOW = 1_800_000_000;

function entry(key: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: apiKeyId(key), hash: hashApiKey(key), subject: 'partner-a', ...fields };
}

function refusal(body: unknown): string {
  try {
    parseApiKeys(body);
  } catch (error) {
    assert.ok(error instanceof KeySetError, String(error));
    assert.equal(error.code, 'api_keys_malformed');
    return error.message;
  }
  assert.fail('accepted');
}

describe('generateApiKey and hashApiKey', () => {
  it('makes ak_<16 hex>_<43 base64url> keys with a fresh id and secret each time, and the hash of the whole key', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    assert.match(a.key, /^ak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.key, b.key);
    assert.notEqual(a.id, b.id);
    assert.equal(apiKeyId(a.key), a.id);
    assert.equal(a.hash, `sha256:${crypto.createHash('sha256').update(a.key).digest('base64url')}`);
    assert.equal(hashApiKey(a.key), a.hash);
    assert.ok(!a.hash.includes(a.key.slice(20)), 'the hash does not carry the secret');
  });

  it('apiKeyId is null for anything but the key format', () => {
    for (const text of [
      '',
      'ak_',
      'ak_0123456789abcdef',
      `ak_0123456789ABCDEF_${'a'.repeat(43)}`,
      `xk_0123456789abcdef_${'a'.repeat(43)}`,
      `ak_0123456789abcdef_${'a'.repeat(42)}`,
    ])
      assert.equal(apiKeyId(text), null, text);
  });
});

describe('ApiKeySet.match', () => {
  const good = generateApiKey();
  const expired = generateApiKey();
  const set = parseApiKeys({
    keys: [entry(good.key, { roles: ['customer'], scopes: ['orders:read'] }), entry(expired.key, { expiresAt: new Date((NOW - 1) * 1000).toISOString() })],
  });

  it('finds the entry of a right key', () => {
    const match = set.match(good.key, NOW);
    assert.equal(match.result, 'ok');
    assert.equal(match.result === 'ok' && match.entry.subject, 'partner-a');
    assert.deepEqual(match.result === 'ok' && match.entry.roles, ['customer']);
  });

  it('answers unknown alike for an unknown id and for a known id with another secret', () => {
    assert.equal(set.match(generateApiKey().key, NOW).result, 'unknown');
    const wrongSecret = `ak_${good.id}_${generateApiKey().key.slice(-43)}`;
    assert.equal(set.match(wrongSecret, NOW).result, 'unknown');
  });

  it('compares digests with crypto.timingSafeEqual on every well-formed key, known id or not', (t: TestContext) => {
    const compare = t.mock.method(crypto, 'timingSafeEqual');
    set.match(good.key, NOW);
    set.match(`ak_${good.id}_${'A'.repeat(43)}`, NOW);
    set.match(generateApiKey().key, NOW);
    assert.equal(compare.mock.callCount(), 3);
    for (const call of compare.mock.calls) {
      const [a, b] = call.arguments as [Buffer, Buffer];
      assert.equal(a.length, 32);
      assert.equal(b.length, 32);
    }
    set.match('not-a-key', NOW);
    assert.equal(compare.mock.callCount(), 3, 'a malformed key is refused before any hashing');
  });

  it('reports expiry only for the right key, at and after expiresAt', () => {
    assert.equal(set.match(expired.key, NOW).result, 'expired');
    assert.equal(set.match(expired.key, NOW - 1).result, 'expired');
    assert.equal(set.match(expired.key, NOW - 2).result, 'ok');
    assert.equal(set.match(`ak_${expired.id}_${'B'.repeat(43)}`, NOW).result, 'unknown');
  });

  it('refuses malformed keys, and never matches a hash given as the key', () => {
    for (const text of ['', 'Bearer x', good.hash, good.key + 'x', good.key.toUpperCase()]) assert.equal(set.match(text, NOW).result, 'malformed', text);
  });

  it('an empty set knows no key', () => {
    assert.equal(ApiKeySet.EMPTY.match(good.key, NOW).result, 'unknown');
  });
});

describe('parseApiKeys', () => {
  const k = generateApiKey().key;

  it('reads a file text or a document body, with every field', () => {
    const body = {
      keys: [
        entry(k, {
          roles: ['customer', 'auditor'],
          scopes: ['orders:read'],
          claims: { tenant: 'acme', tier: 2 },
          expiresAt: '2027-01-31T00:00:00Z',
          createdAt: '2026-12-01T10:00:00.123Z',
          description: 'partner A, ticket 42',
        }),
      ],
    };
    for (const source of [body, JSON.stringify(body)]) {
      const [e] = parseApiKeys(source).entries();
      assert.equal(e.subject, 'partner-a');
      assert.deepEqual(e.roles, ['customer', 'auditor']);
      assert.deepEqual(e.claims, { tenant: 'acme', tier: 2 });
      assert.equal(e.expiresAt, Date.UTC(2027, 0, 31) / 1000);
      assert.ok(Object.isFrozen(e) && Object.isFrozen(e.claims) && Object.isFrozen(e.roles));
    }
    assert.equal(parseApiKeys({ keys: [] }).size, 0, 'an empty set is a set: every key removed');
  });

  it('refuses the whole set, naming the entry and field, never a hash', () => {
    const h = hashApiKey(k);
    const cases: Array<[unknown, RegExp]> = [
      ['{"keys": [', /not valid JSON/],
      ['{"keys": [], "keys": []}', /duplicate JSON member/],
      [[], /must be an object with a "keys" array/],
      [{ keys: [], extra: 1 }, /^extra: unknown field$/],
      [{ keys: [entry(k, { key: k })] }, /^keys\[0\]\.key: unknown field \(store the hash only/],
      [{ keys: [entry(k, { id: 'ABC' })] }, /^keys\[0\]\.id: must be 16 lower-case hex digits/],
      [{ keys: [entry(k, { hash: 'md5:abc' })] }, /^keys\[0\]\.hash: must be "sha256:"/],
      [{ keys: [entry(k, { subject: '' })] }, /^keys\[0\]\.subject: /],
      [{ keys: [entry(k, { subject: 'a\nb' })] }, /^keys\[0\]\.subject: /],
      [{ keys: [entry(k, { scopes: ['a b'] })] }, /^keys\[0\]\.scopes: .*without spaces/],
      [{ keys: [entry(k, { roles: 'admin' })] }, /^keys\[0\]\.roles: must be a list/],
      [{ keys: [entry(k, { claims: { sub: 'root' } })] }, /^keys\[0\]\.claims\.sub: reserved/],
      [{ keys: [entry(k, { expiresAt: 1800000000 })] }, /^keys\[0\]\.expiresAt: must be a UTC time/],
      [{ keys: [entry(k, { expiresAt: '2027-01-31' })] }, /^keys\[0\]\.expiresAt: must be a UTC time/],
      [{ keys: [entry(k), entry(k)] }, /^keys\[1\]\.id: ".*" is used twice$/],
      [{ keys: [entry(k), { ...entry(generateApiKey().key), hash: h }] }, /^keys\[1\]\.hash: the same hash as another entry$/],
      [{ keys: [null] }, /^keys\[0\]: must be an object$/],
    ];
    for (const [body, expected] of cases) {
      const message = refusal(body);
      assert.match(message, expected, JSON.stringify(body));
      assert.ok(!message.includes(h.slice(7)), `message carries a hash: ${message}`);
    }
  });

  it('refuses more than MAX_API_KEYS entries', () => {
    const one = entry(k);
    assert.match(refusal({ keys: Array.from({ length: MAX_API_KEYS + 1 }, () => one) }), /at most 10000/);
  });
});

describe('ApiKeyStore', () => {
  const events = (store: ApiKeyStore): ApiKeyStoreEvent[] => {
    const seen: ApiKeyStoreEvent[] = [];
    store.onEvent((e) => seen.push(e));
    return seen;
  };

  it('control plane: swaps whole sets, keeps the last good one on a bad body, and numbers only real changes', () => {
    const store = new ApiKeyStore({ name: 'orders', source: { nats: true } });
    const seen = events(store);
    assert.equal(store.ready, false);
    const a = generateApiKey().key;
    const b = generateApiKey().key;
    store.setFromControlPlane({ keys: [entry(a)] });
    assert.equal(store.current()?.revision, 1);
    assert.throws(() => store.setFromControlPlane({ keys: [{ ...entry(b), key: b }] }), KeySetError);
    assert.equal(store.current()?.match(a, NOW).result, 'ok', 'the previous set stays');
    store.setFromControlPlane({ keys: [entry(a)] });
    assert.equal(store.current()?.revision, 1, 'the same entries are not a new revision');
    store.setFromControlPlane({ keys: [entry(b)] });
    assert.equal(store.current()?.revision, 2);
    assert.equal(store.current()?.match(a, NOW).result, 'unknown');
    assert.deepEqual(
      seen.map((e) => (e.type === 'api-keys-loaded' ? `loaded ${e.revision} ${e.count}` : `rejected ${e.code}`)),
      ['loaded 1 1', 'rejected api_keys_malformed', 'loaded 2 1'],
    );
    assert.throws(() => new ApiKeyStore({ name: 'x', source: { file: 'f' } }).setFromControlPlane({ keys: [] }), TypeError);
  });

  it('file: a first load that fails names the file and the entry (polling: test/integration/api-keys.test.ts)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authz-apikeys-'));
    const file = join(dir, 'api-keys.json');
    await assert.rejects(new ApiKeyStore({ name: 'orders', source: { file } }).start(), (e: unknown) => {
      return e instanceof KeySetError && e.code === 'keys_read_failed' && e.message.includes(file) && e.message.includes('ENOENT');
    });
    writeFileSync(file, '{"keys": [{"id": "x"}]}');
    await assert.rejects(new ApiKeyStore({ name: 'orders', source: { file } }).start(), /from .*api-keys\.json: keys\[0\]\.id: must be/);
    const a = generateApiKey().key;
    writeFileSync(file, JSON.stringify({ keys: [entry(a)] }));
    const store = new ApiKeyStore({ name: 'orders', source: { file } });
    await store.start();
    store.stop();
    assert.equal(store.current()?.match(a, NOW).result, 'ok');
  });
});
