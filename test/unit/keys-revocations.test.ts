import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { issuerSchema } from '../../src/config/schema.js';
import { KeyStore, parseJwks } from '../../src/keys/index.js';
import { parseRevocations, RevocationList, RevocationListError, RevocationStore } from '../../src/keys/revocations.js';
import type { RequestView } from '../../src/request/types.js';
import { createAuthenticator, TokenError, type VerifiedToken } from '../../src/tokens/index.js';
import { legitToken } from '../../testkit/hostile-tokens.js';

const NOW = 1_900_000_000;

function token(over: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    issuerName: 'idp',
    issuer: 'https://idp',
    subject: 'alice',
    audience: ['orders'],
    jti: 'j-1',
    expiresAt: NOW + 600,
    scopes: [],
    claims: {},
    ...over,
  };
}

describe('RevocationList', () => {
  it('revokes by jti and by subject (any issuer, or one issuer) until the entry expires', () => {
    const list = parseRevocations(
      {
        entries: [
          { jti: 'j-1', until: NOW + 60 },
          { sub: 'bob', until: NOW + 60 },
          { sub: 'carol', iss: 'https://other', until: NOW + 60 },
        ],
      },
      3,
    );
    assert.equal(list.revision, 3);
    assert.ok(list.revokes(token(), NOW));
    assert.ok(!list.revokes(token(), NOW + 61), 'expired entry no longer counts');
    assert.ok(list.revokes(token({ jti: 'x', subject: 'bob' }), NOW));
    assert.ok(!list.revokes(token({ jti: 'x', subject: 'carol' }), NOW), 'carol is revoked for another issuer only');
    assert.ok(list.revokes(token({ jti: 'x', subject: 'carol', issuer: 'https://other' }), NOW));
    assert.ok(!list.revokes(token({ jti: undefined, subject: '' }), NOW));
    assert.ok(!RevocationList.EMPTY.revokes(token(), NOW));
  });

  it('refuses malformed documents, naming the entry', () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /"entries" list/],
      [{ entries: [{ until: NOW }] }, /entries\[0\]: must name exactly one of jti, sub/],
      [{ entries: [{ jti: 'a', sub: 'b', until: NOW }] }, /exactly one of jti, sub/],
      [{ entries: [{ jti: 'a' }] }, /entries\[0\]\.until/],
      [{ entries: [{ jti: '', until: NOW }] }, /entries\[0\]\.jti/],
      [{ entries: [{ jti: 'a', iss: 'x', until: NOW }] }, /entries\[0\]\.iss: only applies to a sub/],
      [{ entries: [{ jti: 'a', until: NOW, why: 'x' }] }, /entries\[0\]\.why: unknown field/],
    ];
    for (const [body, message] of bad)
      assert.throws(
        () => parseRevocations(body, 1),
        (e: Error) => e instanceof RevocationListError && message.test(e.message),
      );
  });
});

describe('authenticator with revocations', () => {
  it('refuses a revoked token at once, even when it is cached, and evicts it', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const ctx = { privateKey, publicKey, alg: 'ES256' as const, kid: 'k1', issuer: 'https://idp', audience: 'orders' };
    const store = new KeyStore({ name: 'idp', source: { nats: true, timeoutMs: 5000, cooldownSeconds: 30, maxAgeSeconds: 600 }, algorithms: ['ES256'] });
    store.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] })));
    const revocations = new RevocationStore();
    const auth = createAuthenticator({
      issuers: [issuerSchema.parse({ name: 'idp', issuer: 'https://idp', audiences: ['orders'], algorithms: ['ES256'], keys: { nats: true } })],
      service: 'orders',
      keyStores: { issuers: new Map([['idp', store]]) },
      cacheMaxEntries: 10,
      revocations,
    });
    const jwt = legitToken(ctx, { jti: 'leaked-1' });
    const view = {
      id: 'r',
      method: 'GET',
      host: 'h',
      path: '/',
      rawPath: '/',
      query: {},
      headers: { authorization: `Bearer ${jwt}` },
      repeatedHeaders: new Set<string>(),
      sourceAddress: '',
      sourcePrincipal: '',
      contextExtensions: {},
    } as RequestView;
    const first = await auth.authenticate(view);
    assert.equal(first.user?.jti, 'leaked-1');
    assert.ok(!(auth.authenticate(view) instanceof Promise), 'now cached');
    assert.equal(auth.cacheStats()[0].size, 1);

    revocations.swap(parseRevocations({ entries: [{ jti: 'leaked-1', until: Math.floor(Date.now() / 1000) + 600 }] }, 1));
    assert.equal(auth.cacheStats()[0].size, 0, 'evicted before the new list is in force');
    await assert.rejects(
      async () => auth.authenticate(view),
      (e: unknown) => e instanceof TokenError && e.code === 'token_revoked',
    );
    revocations.swap(RevocationList.EMPTY);
    assert.equal((await auth.authenticate(view)).user?.jti, 'leaked-1', 'lifting the revocation restores access');
  });
});
