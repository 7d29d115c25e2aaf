import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK } from 'jose';
import { apiKeysSchema, issuerSchema } from '../../src/config/schema.js';
import { ApiKeyStore, apiKeyId, generateApiKey, hashApiKey, KeyStore, parseJwks, RevocationList, RevocationStore } from '../../src/keys/index.js';
import { compilePolicyText } from '../../src/policy/index.js';
import type { RequestView } from '../../src/request/types.js';
import { ApiKeyReader, createAuthenticator, TokenError, type AuthContext, type Authenticator, type TokenErrorCode } from '../../src/tokens/index.js';
import { legitToken, type HostileTokenContext } from '../../testkit/hostile-tokens.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';

const NOW_S = 1_800_000_000;
const now = () => NOW_S * 1000;

function view(headers: Record<string, string>, repeated: readonly string[] = []): RequestView {
  return {
    id: 'r',
    method: 'GET',
    host: 'h',
    path: '/api/orders',
    rawPath: '/api/orders',
    query: {},
    headers,
    repeatedHeaders: new Set(repeated),
    sourceAddress: '',
    sourcePrincipal: '',
    contextExtensions: {},
  };
}

function entry(key: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: apiKeyId(key), hash: hashApiKey(key), subject: 'partner-a', ...fields };
}

function outcome(auth: Authenticator, v: RequestView): AuthContext | TokenErrorCode {
  try {
    const result = auth.authenticate(v);
    assert.ok(!(result instanceof Promise), 'an API key is checked synchronously');
    return result;
  } catch (error) {
    assert.ok(error instanceof TokenError, String(error));
    return error.code;
  }
}

describe('API keys in the authenticator', () => {
  const good = generateApiKey().key;
  const old = generateApiKey().key;
  const other = generateApiKey().key;
  let ctx: HostileTokenContext;
  let store: ApiKeyStore;
  let revocations: RevocationStore;
  let auth: Authenticator;

  before(async () => {
    const { publicKey, privateKey } = nodeKeyPair('ec', { namedCurve: 'P-256' });
    ctx = { privateKey, publicKey, alg: 'ES256', kid: 'a1', issuer: 'https://idp.test', audience: 'orders' };
    const keys = new KeyStore({ name: 'idp', source: { nats: true, timeoutMs: 5000, cooldownSeconds: 30, maxAgeSeconds: 600 }, algorithms: ['ES256'] });
    keys.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'a1', alg: 'ES256' }] })));
    store = new ApiKeyStore({ name: 'orders', source: { nats: true } });
    store.setFromControlPlane({
      keys: [
        entry(good, { roles: ['customer'], scopes: ['orders:read', 'orders:list'], claims: { tenant: 'acme' }, description: 'ticket 7' }),
        entry(old, { expiresAt: '2027-02-01T00:00:00Z' }),
        entry(other, { subject: 'partner-b', roles: ['customer'], claims: { tenant: 'acme' } }),
      ],
    });
    revocations = new RevocationStore();
    auth = createAuthenticator({
      issuers: [issuerSchema.parse({ name: 'idp', issuer: ctx.issuer, audiences: ['orders'], algorithms: ['ES256'], keys: { nats: true } })],
      service: 'orders',
      keyStores: { issuers: new Map([['idp', keys]]) },
      cacheMaxEntries: 100,
      now,
      revocations,
      apiKeys: { config: apiKeysSchema.parse({ keys: { nats: true } }), name: 'orders', keys: store },
    });
  });

  it('makes a right key the user identity: issuer api-key, the entry subject, scopes, roles, claims, its id as jti', () => {
    const result = outcome(auth, view({ 'x-api-key': good }));
    assert.ok(typeof result === 'object' && result.user !== null, String(result));
    const { user } = result;
    assert.equal(user.issuerName, 'apikeys.orders');
    assert.equal(user.issuer, 'api-key');
    assert.equal(user.subject, 'partner-a');
    assert.equal(user.jti, apiKeyId(good));
    assert.deepEqual(user.scopes, ['orders:read', 'orders:list']);
    assert.deepEqual(user.roles, ['customer']);
    assert.deepEqual(user.claims, {
      tenant: 'acme',
      iss: 'api-key',
      sub: 'partner-a',
      jti: apiKeyId(good),
      scope: 'orders:read orders:list',
      roles: ['customer'],
    });
    assert.equal(result.principal, null);
    const again = outcome(auth, view({ 'x-api-key': good }));
    assert.equal(typeof again === 'object' && again.user, user, 'one token object per entry (identity headers are interned by it)');
  });

  it('refuses a malformed, an unknown and an expired key with their own codes; a wrong secret of a known id is unknown', () => {
    assert.equal(outcome(auth, view({ 'x-api-key': 'hunter2' })), 'api_key_malformed');
    assert.equal(outcome(auth, view({ 'x-api-key': generateApiKey().key })), 'api_key_unknown');
    assert.equal(outcome(auth, view({ 'x-api-key': `ak_${apiKeyId(good)}_${'x'.repeat(43)}` })), 'api_key_unknown');
    assert.equal(typeof outcome(auth, view({ 'x-api-key': old })), 'object', 'before expiresAt');
    const later = createAuthenticator({
      issuers: [],
      service: 'orders',
      keyStores: { issuers: new Map() },
      cacheMaxEntries: 0,
      now: () => Date.UTC(2027, 1, 1),
      apiKeys: { config: apiKeysSchema.parse({ keys: { nats: true } }), name: 'orders', keys: store },
    });
    assert.equal(outcome(later, view({ 'x-api-key': old })), 'api_key_expired');
  });

  it('refuses the header twice, two keys in one value, an empty value', () => {
    assert.equal(outcome(auth, view({ 'x-api-key': good }, ['x-api-key'])), 'credentials_duplicated');
    assert.equal(outcome(auth, view({ 'x-api-key': `${good},${other}` })), 'credentials_duplicated');
    assert.equal(outcome(auth, view({ 'x-api-key': '' })), 'credentials_malformed');
    assert.equal(outcome(auth, view({ 'x-api-key': `${good} ${other}` })), 'credentials_malformed');
  });

  it('refuses an API key together with a user token, valid or not: which caller is meant is ambiguous', () => {
    assert.equal(outcome(auth, view({ 'x-api-key': good, authorization: `Bearer ${legitToken(ctx)}` })), 'credentials_duplicated');
    assert.equal(outcome(auth, view({ 'x-api-key': good, authorization: 'Bearer x.y.z' })), 'credentials_duplicated');
    const token = outcome(auth, view({ authorization: `Bearer ${legitToken(ctx, { exp: NOW_S + 60, iat: NOW_S })}` }));
    assert.equal(typeof token === 'object' && token.user?.issuerName, 'idp', 'a user token alone still works');
  });

  it('goes through revocations: by the entry subject (any or its issuer) and by the key id as jti', () => {
    try {
      revocations.swap(new RevocationList([{ sub: 'partner-a', until: NOW_S + 60 }], 1));
      assert.equal(outcome(auth, view({ 'x-api-key': good })), 'token_revoked');
      assert.equal(typeof outcome(auth, view({ 'x-api-key': other })), 'object', 'another subject is not affected');
      revocations.swap(new RevocationList([{ sub: 'partner-a', iss: 'https://idp.test', until: NOW_S + 60 }], 2));
      assert.equal(typeof outcome(auth, view({ 'x-api-key': good })), 'object', "another issuer's partner-a");
      revocations.swap(new RevocationList([{ sub: 'partner-a', iss: 'api-key', until: NOW_S + 60 }], 3));
      assert.equal(outcome(auth, view({ 'x-api-key': good })), 'token_revoked');
      revocations.swap(new RevocationList([{ jti: apiKeyId(other)!, until: NOW_S + 60 }], 4));
      assert.equal(outcome(auth, view({ 'x-api-key': other })), 'token_revoked');
      revocations.swap(new RevocationList([{ jti: apiKeyId(other)!, until: NOW_S }], 5));
      assert.equal(typeof outcome(auth, view({ 'x-api-key': other })), 'object', 'the entry is over at until');
    } finally {
      revocations.swap(RevocationList.EMPTY);
    }
  });

  it('is keys_unavailable, naming the set, while no set is loaded', () => {
    const empty = new ApiKeyReader({
      config: apiKeysSchema.parse({ keys: { nats: true } }),
      name: 'partners',
      keys: new ApiKeyStore({ name: 'partners', source: { nats: true } }),
    });
    assert.throws(
      () => empty.verify(good),
      (e: unknown) => e instanceof TokenError && e.code === 'keys_unavailable' && e.issuerName === 'apikeys.partners',
    );
  });

  it('reaches policies unchanged: from.issuers, require.scopes, and roles whatever rolesFrom says', () => {
    const policy = compilePolicyText(
      `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  roles: { customer: ["orders:read"] }
  rolesFrom: realm_access.roles
  rules:
    - name: partners
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders"] }]
      from: [{ issuers: ["api-key"] }]
      require: { scopes: ["orders:read"], permission: "orders:read" }
      when: request.auth.claims.tenant == "acme" && "customer" in request.auth.roles
`,
      'policy.yaml',
    );
    const decide = (key: string) => {
      const result = outcome(auth, view({ 'x-api-key': key }));
      assert.ok(typeof result === 'object', String(result));
      return policy.evaluate(view({}), result);
    };
    const allowed = decide(good);
    assert.equal(allowed.allow, true);
    assert.equal(allowed.rule, 'partners');
    const denied = decide(other);
    assert.equal(denied.allow, false);
    assert.equal(denied.reason, 'missing_scope', 'partner-b holds the role and the tenant, not the scope');
  });
});
