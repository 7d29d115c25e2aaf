import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { issuerSchema, serviceTokensSchema } from '../../src/config/schema.js';
import { KeyStore, parseJwks } from '../../src/keys/index.js';
import type { RequestView } from '../../src/request/types.js';
import {
  ANONYMOUS,
  createAuthenticator,
  isSpiffeIdInTrustDomain,
  TokenError,
  type AuthContext,
  type Authenticator,
  type TokenErrorCode,
} from '../../src/tokens/index.js';
import { legitToken, type HostileTokenContext } from '../../testkit/hostile-tokens.js';

function view(headers: Record<string, string>, sourcePrincipal = ''): RequestView {
  return {
    id: 'r',
    method: 'GET',
    host: 'h',
    path: '/',
    rawPath: '/',
    query: {},
    headers,
    repeatedHeaders: new Set(),
    sourceAddress: '',
    sourcePrincipal,
    contextExtensions: {},
  };
}

interface Signer {
  readonly ctx: HostileTokenContext;
  readonly jwk: Record<string, unknown>;
}

async function signer(issuer: string, audience: string, kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ctx: { privateKey, publicKey, alg: 'ES256', kid, issuer, audience }, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

async function keyStore(name: string, ...signers: Signer[]): Promise<KeyStore> {
  const store = new KeyStore({ name, source: { nats: true, timeoutMs: 5000, cooldownSeconds: 30, maxAgeSeconds: 600 }, algorithms: ['ES256'] });
  store.setFromControlPlane(await parseJwks(JSON.stringify({ keys: signers.map((s) => s.jwk) })));
  return store;
}

async function outcome(auth: Authenticator, v: RequestView): Promise<AuthContext | TokenErrorCode> {
  try {
    return await auth.authenticate(v);
  } catch (error) {
    assert.ok(error instanceof TokenError, String(error));
    return error.code;
  }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

describe('createAuthenticator', () => {
  let a: Signer, b: Signer, p: Signer, mesh: Signer;
  let stores: { a: KeyStore; b: KeyStore; p: KeyStore; mesh: KeyStore };
  let auth: Authenticator;

  before(async () => {
    a = await signer('https://a.test', 'orders', 'a1');
    b = await signer('https://b.test', 'orders', 'b1');
    p = await signer('https://partner.test', 'orders', 'p1');
    mesh = await signer('https://mesh.test', 'orders', 'm1');
    stores = { a: await keyStore('a', a), b: await keyStore('b', b), p: await keyStore('p', p), mesh: await keyStore('mesh', mesh) };
    const keys = { nats: true as const };
    auth = createAuthenticator({
      issuers: [
        issuerSchema.parse({
          name: 'a',
          issuer: a.ctx.issuer,
          audiences: ['orders'],
          algorithms: ['ES256'],
          keys,
          from: [{ header: 'authorization', prefix: 'Bearer ' }, { cookie: 'access_token' }],
        }),
        issuerSchema.parse({ name: 'b', issuer: b.ctx.issuer, audiences: ['orders'], algorithms: ['ES256'], keys }),
        issuerSchema.parse({ name: 'p', issuer: p.ctx.issuer, audiences: ['orders'], algorithms: ['ES256'], keys, from: [{ header: 'x-partner-token' }] }),
      ],
      serviceTokens: serviceTokensSchema.parse({ trustDomain: 'cluster.local', keys }),
      service: 'orders',
      keyStores: {
        issuers: new Map([
          ['a', stores.a],
          ['b', stores.b],
          ['p', stores.p],
        ]),
        serviceTokens: stores.mesh,
      },
      cacheMaxEntries: 100,
    });
  });

  it('is anonymous without credentials, synchronously', () => {
    assert.equal(auth.authenticate(view({})), ANONYMOUS);
  });

  it('routes a shared source by the token iss', async () => {
    const fromA = await outcome(auth, view(bearer(legitToken(a.ctx))));
    const fromB = await outcome(auth, view(bearer(legitToken(b.ctx))));
    assert.equal(typeof fromA === 'object' && fromA.user?.issuerName, 'a');
    assert.equal(typeof fromB === 'object' && fromB.user?.issuerName, 'b');
    const viaCookie = await outcome(auth, view({ cookie: `access_token=${legitToken(a.ctx)}` }));
    assert.equal(typeof viaCookie === 'object' && viaCookie.user?.issuerName, 'a');
  });

  it('refuses an iss no issuer of the source has, and a token signed by another issuer', async () => {
    assert.equal(await outcome(auth, view(bearer(legitToken(a.ctx, { iss: 'https://evil.test' })))), 'token_issuer_unknown');
    assert.equal(await outcome(auth, view(bearer(legitToken(a.ctx, { iss: undefined })))), 'token_issuer_unknown');
    assert.equal(
      await outcome(auth, view(bearer(legitToken(a.ctx, { iss: b.ctx.issuer })))),
      'token_key_unknown',
      "routed to b, whose keys do not include a's kid",
    );
    assert.equal(
      await outcome(auth, view({ 'x-partner-token': legitToken(p.ctx, { iss: 'https://evil.test' }) })),
      'token_issuer_invalid',
      'single-issuer source: verified directly',
    );
  });

  it('never treats a present but invalid token as anonymous', async () => {
    assert.equal(await outcome(auth, view(bearer('not-a-jwt'))), 'token_malformed');
    assert.equal(await outcome(auth, view(bearer(legitToken(a.ctx, { exp: 1 })))), 'token_expired');
    assert.equal(await outcome(auth, view({ authorization: 'Basic dXNlcjpwYXNz' })), 'credentials_malformed');
    assert.equal(await outcome(auth, view({ 'x-partner-token': 'x.y.z' })), 'token_malformed');
  });

  it('refuses tokens in two sources', async () => {
    const t = legitToken(a.ctx);
    assert.equal(await outcome(auth, view({ ...bearer(t), cookie: `access_token=${t}` })), 'credentials_duplicated');
    assert.equal(await outcome(auth, view({ ...bearer(t), 'x-partner-token': legitToken(p.ctx) })), 'credentials_duplicated');
  });

  it('takes the principal from the service token, else from mTLS', async () => {
    const spiffe = 'spiffe://cluster.local/ns/shop/sa/checkout';
    const svc = legitToken(mesh.ctx, { sub: spiffe });
    const both = await outcome(auth, view({ ...bearer(legitToken(a.ctx)), 'x-service-token': svc }, 'spiffe://cluster.local/ns/other/sa/x'));
    assert.ok(typeof both === 'object');
    assert.equal(both.principal, spiffe);
    assert.equal(both.service?.issuerName, 'service');
    assert.equal(both.user?.issuerName, 'a');
    const mtls = await outcome(auth, view({}, 'spiffe://cluster.local/ns/shop/sa/cart'));
    assert.deepEqual(mtls, { user: null, service: null, principal: 'spiffe://cluster.local/ns/shop/sa/cart' });
  });

  it('refuses service tokens for another audience or with a bad SPIFFE sub', async () => {
    const svc = (claims: Record<string, unknown>): RequestView =>
      view({ 'x-service-token': legitToken(mesh.ctx, { sub: 'spiffe://cluster.local/ns/a/sa/b', ...claims }) });
    assert.equal(await outcome(auth, svc({ aud: 'payments' })), 'token_audience_invalid');
    for (const sub of [
      'spiffe://other.local/ns/a',
      'spiffe://cluster.local/',
      'spiffe://cluster.local/a/../b',
      'spiffe://cluster.local/a%2fb',
      'spiffe://cluster.local/a?b',
      'user-1',
      undefined,
    ])
      assert.equal(await outcome(auth, svc({ sub })), 'token_claims_invalid', String(sub));
    assert.equal(await outcome(auth, view({ 'x-service-token': `Bearer ${legitToken(mesh.ctx)}` })), 'credentials_malformed');
  });

  it('returns synchronously when the keys are at hand, verifying or on a cache hit', async () => {
    const userToken = legitToken(a.ctx, { sub: 'cached' });
    const v = view({ ...bearer(userToken), 'x-service-token': legitToken(mesh.ctx, { sub: 'spiffe://cluster.local/ns/a/sa/c' }) });
    const misses = auth.cacheStats().find((s) => s.issuerName === 'a')!.misses;
    const resolved = auth.authenticate(v);
    assert.ok(!(resolved instanceof Promise), 'verified against the current set: no promise');
    assert.equal(auth.cacheStats().find((s) => s.issuerName === 'a')!.misses, misses + 1, 'it was a miss');
    const second = auth.authenticate(v);
    assert.ok(!(second instanceof Promise), 'a hit is not a promise');
    // The cache rebuilds a token from its claims on the first hit, then keeps that object.
    assert.deepEqual(second.user, resolved.user);
    assert.deepEqual(second.service, resolved.service);
    const third = auth.authenticate(v);
    assert.ok(!(third instanceof Promise));
    assert.equal(third.user, second.user);
    assert.equal(third.service, second.service);
    // On the shared source, a cache hit also skips routing.
    assert.ok(!(auth.authenticate(view(bearer(userToken))) instanceof Promise));
    assert.ok(auth.cacheStats().some((s) => s.issuerName === 'a' && s.hits > 0 && s.size > 0));
  });

  it('drops cached tokens when the key set changes', async () => {
    const v = view(bearer(legitToken(a.ctx, { sub: 'rotation' })));
    await auth.authenticate(v);
    assert.ok(!(auth.authenticate(v) instanceof Promise));
    const extra = await signer(a.ctx.issuer, 'orders', 'a2');
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [a.jwk, extra.jwk] })));
    assert.equal(auth.cacheStats().find((s) => s.issuerName === 'a')?.size, 0, 'cleared');
    const misses = auth.cacheStats().find((s) => s.issuerName === 'a')!.misses;
    await auth.authenticate(v);
    assert.equal(auth.cacheStats().find((s) => s.issuerName === 'a')!.misses, misses + 1, 'verified again after the change');
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [extra.jwk] })));
    assert.equal(await outcome(auth, v), 'token_key_unknown', 'the removed key no longer verifies');
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [a.jwk] })));
  });

  it('a token cached before a key change is verified again after it', async () => {
    const v = view(bearer(legitToken(a.ctx, { sub: 'straddle' })));
    await auth.authenticate(v);
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [a.jwk, (await signer(a.ctx.issuer, 'orders', 'a3')).jwk] })));
    const misses = auth.cacheStats().find((s) => s.issuerName === 'a')!.misses;
    await auth.authenticate(v);
    assert.equal(auth.cacheStats().find((s) => s.issuerName === 'a')!.misses, misses + 1, 'not served from before the change');
  });

  it('remembers a lasting refusal of the exact token until the key set changes', async () => {
    const forger = await signer(a.ctx.issuer, 'orders', 'a1'); // a's kid, another key
    const v = view(bearer(legitToken(forger.ctx, { sub: 'forged' })));
    assert.equal(await outcome(auth, v), 'token_signature_invalid');
    assert.equal(await outcome(auth, v), 'token_signature_invalid', 'answered from the refusal, same code');
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [forger.jwk] })));
    const now = await outcome(auth, v);
    assert.ok(typeof now !== 'string' && now.user?.subject === 'forged', 'a new key set: verified again, not refused from memory');
    stores.a.setFromControlPlane(await parseJwks(JSON.stringify({ keys: [a.jwk] })));
  });

  it('rejects misconfiguration', () => {
    const keys = { nats: true as const };
    const cfg = issuerSchema.parse({ name: 'x', issuer: 'https://x', audiences: ['o'], algorithms: ['ES256'], keys });
    assert.throws(() => createAuthenticator({ issuers: [cfg], service: 'o', keyStores: { issuers: new Map() }, cacheMaxEntries: 1 }), TypeError);
    const twin = issuerSchema.parse({ name: 'y', issuer: 'https://x', audiences: ['o'], algorithms: ['ES256'], keys });
    assert.throws(
      () =>
        createAuthenticator({
          issuers: [cfg, twin],
          service: 'o',
          keyStores: {
            issuers: new Map([
              ['x', stores.a],
              ['y', stores.b],
            ]),
          },
          cacheMaxEntries: 1,
        }),
      TypeError,
    );
  });
});

describe('isSpiffeIdInTrustDomain', () => {
  it('accepts ids of the trust domain and nothing else', () => {
    assert.ok(isSpiffeIdInTrustDomain('spiffe://cluster.local/ns/shop/sa/checkout', 'cluster.local'));
    assert.ok(isSpiffeIdInTrustDomain('spiffe://cluster.local/x', 'cluster.local'));
    for (const id of [
      'spiffe://cluster.local',
      'spiffe://cluster.local/',
      'spiffe://cluster.local//a',
      'spiffe://cluster.local/a/',
      'spiffe://cluster.local/./a',
      'spiffe://cluster.local/a/..',
      'spiffe://cluster.local/a#b',
      'spiffe://cluster.local/a%41',
      'SPIFFE://cluster.local/a',
      'spiffe://cluster.localx/a',
      'spiffe://cluster.local.evil/a',
      'spiffe://user@cluster.local/a',
    ])
      assert.ok(!isSpiffeIdInTrustDomain(id, 'cluster.local'), id);
  });
});
