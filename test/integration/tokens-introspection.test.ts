import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { issuerSchema } from '../../src/config/schema.js';
import { createIntrospectionClient, KeyStore, loadClientAuth, RevocationList, RevocationStore } from '../../src/keys/index.js';
import type { RequestView } from '../../src/request/types.js';
import { createAuthenticator, TokenError, type Authenticator, type IntrospectionEvent } from '../../src/tokens/index.js';
import { keyPair } from '../../testkit/conformance-env.js';
import { runSidecar, tempDir, writeConfig } from '../../testkit/sidecar.js';
import { startTestIdp, type TestIdp } from '../../testkit/test-idp.js';

// The introspection pieces in-process (no sidecar binary) against the test IdP on loopback
// http: private_key_jwt client authentication, RFC 9701 signed answers checked with the
// issuer's key set, shared token sources, and revocations evicting cached answers.
const CLIENT_ID = 'orders-sidecar';

const view = (headers: Record<string, string>): RequestView => ({
  id: 'r',
  method: 'GET',
  host: 'h',
  path: '/',
  rawPath: '/',
  query: {},
  headers,
  repeatedHeaders: new Set(),
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: {},
});

async function reason(promise: unknown): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TokenError, String(error));
    return error.code;
  }
  return 'allowed';
}

describe('introspection in-process: private_key_jwt, signed answers, revocations', () => {
  let idp: TestIdp;
  let answerKey: { publicJwk: JWK; privateJwk: JWK };
  let clientPrivate: JWK;
  let authenticator: Authenticator;
  let store: KeyStore;
  const revocations = new RevocationStore();
  const events: IntrospectionEvent[] = [];

  before(async () => {
    answerKey = await keyPair('as-1');
    const client = await generateKeyPair('ES256', { extractable: true });
    clientPrivate = { ...(await exportJWK(client.privateKey)), alg: 'ES256', kid: 'client-1' };
    idp = await startTestIdp({
      jwks: [answerKey.publicJwk],
      clientId: CLIENT_ID,
      clientPublicJwk: { ...(await exportJWK(client.publicKey)), alg: 'ES256' },
      answerKey: answerKey.privateJwk,
    });
    idp.introspection = 'jwt';
    const dir = tempDir();
    writeFileSync(join(dir, 'client.jwk.json'), JSON.stringify(clientPrivate));
    const cfg = issuerSchema.parse({
      name: 'corp',
      issuer: idp.issuer,
      audiences: ['orders'],
      keys: { url: `${idp.issuer}/jwks` },
      introspection: { url: idp.introspectionUrl, clientId: CLIENT_ID, privateKeyJwt: { keyFile: join(dir, 'client.jwk.json') }, jwtResponse: true },
    });
    store = new KeyStore({ name: 'corp', source: cfg.keys!, algorithms: cfg.algorithms, issuer: cfg.issuer });
    await store.start();
    const introspectionClient = createIntrospectionClient({
      issuer: cfg.issuer,
      config: cfg.introspection!,
      clientAuth: await loadClientAuth(cfg.introspection!),
      algorithms: cfg.algorithms,
    });
    authenticator = createAuthenticator({
      issuers: [cfg],
      service: 'orders',
      keyStores: { issuers: new Map([['corp', store]]) },
      cacheMaxEntries: 100,
      revocations,
      introspection: { clients: new Map([['corp', introspectionClient]]), onEvent: (event) => events.push(event) },
    });
  });

  after(async () => {
    authenticator?.stop();
    store?.stop();
    await idp?.close();
  });

  const authenticate = (token: string) => authenticator.authenticate(view({ authorization: `Bearer ${token}` }));

  it('authenticates with private_key_jwt and accepts a signed answer verified with the issuer key set', async () => {
    idp.tokens.set('tok-signed', { sub: 'bob', jti: 'j-1', scope: 'orders:read', aud: 'orders', exp: Math.floor(Date.now() / 1000) + 600 });
    const auth = await authenticate('tok-signed');
    assert.equal(auth.user?.subject, 'bob');
    assert.deepEqual(auth.user?.scopes, ['orders:read']);
    assert.equal(auth.user?.issuer, idp.issuer);
    assert.equal(idp.lastClientAuth, 'private_key_jwt');
  });

  it('refuses a plain JSON answer when a signed one was asked for (no downgrade)', async () => {
    idp.tokens.set('tok-plain', { sub: 'bob' });
    idp.introspection = 'normal';
    try {
      assert.equal(await reason(authenticate('tok-plain')), 'keys_unavailable', 'no downgrade to an unsigned answer');
    } finally {
      idp.introspection = 'jwt';
    }
    assert.ok(events.some((e) => e.type === 'introspection-failed' && /not signed/.test(e.message)));
    assert.ok((await authenticate('tok-plain')).user !== null, 'signed again: accepted, the failure was not cached');
  });

  it('an answer for another audience is token_audience_invalid; another iss is token_issuer_invalid', async () => {
    idp.tokens.set('tok-aud', { sub: 'bob', aud: 'billing' });
    idp.tokens.set('tok-iss', { sub: 'bob', iss: 'https://elsewhere.example.test' });
    await store.reloadOnUnknownKey();
    assert.equal(await reason(authenticate('tok-aud')), 'token_audience_invalid');
    assert.equal(await reason(authenticate('tok-iss')), 'token_issuer_invalid');
  });

  it('a revocation by subject (or jti) evicts the cached answer and refuses it; lifted, the token is introspected again', async () => {
    idp.tokens.set('tok-rev', { sub: 'carol', jti: 'j-rev', scope: 'orders:read' });
    assert.equal((await authenticate('tok-rev')).user?.subject, 'carol');
    const callsBefore = idp.calls.introspection;
    assert.ok(!(authenticate('tok-rev') instanceof Promise), 'a cache hit is synchronous');
    assert.equal(idp.calls.introspection, callsBefore, 'cached');
    const size = authenticator.cacheStats()[0].size;
    const until = Math.floor(Date.now() / 1000) + 600;
    revocations.swap(new RevocationList([{ sub: 'carol', iss: idp.issuer, until }], 1));
    assert.equal(authenticator.cacheStats()[0].size, size - 1, 'evicted from the cache');
    revocations.swap(new RevocationList([], 2));
    const lifted = idp.calls.introspection;
    assert.equal((await authenticate('tok-rev')).user?.subject, 'carol');
    assert.equal(idp.calls.introspection - lifted, 1, 'asked the IdP again: the evicted answer was not kept');
    revocations.swap(new RevocationList([{ sub: 'carol', until }], 3));
    assert.equal(await reason(authenticate('tok-rev')), 'token_revoked', 'by subject (any issuer)');
    revocations.swap(new RevocationList([{ jti: 'j-rev', until }], 4));
    assert.equal(await reason(authenticate('tok-rev')), 'token_revoked', 'by jti too');
  });
});

describe('introspection sharing a source with a JWT issuer', () => {
  let idp: TestIdp;
  after(async () => idp?.close());

  it('opaque tokens and JWTs naming no JWT issuer go to the introspection issuer', async () => {
    idp = await startTestIdp({ jwks: [], clientId: CLIENT_ID, clientSecret: 'secret-value-1234' });
    const dir = tempDir();
    writeFileSync(join(dir, 'secret'), 'secret-value-1234');
    const jwtIssuer = issuerSchema.parse({ name: 'jwt', issuer: 'https://jwt.example.test', audiences: ['orders'], keys: { url: `${idp.issuer}/jwks` } });
    const opaque = issuerSchema.parse({
      name: 'opaque',
      issuer: idp.issuer,
      audiences: ['orders'],
      introspection: { url: idp.introspectionUrl, clientId: CLIENT_ID, clientSecretFile: join(dir, 'secret') },
    });
    const jwtStore = new KeyStore({ name: 'jwt', source: jwtIssuer.keys!, algorithms: jwtIssuer.algorithms });
    const client = createIntrospectionClient({
      issuer: opaque.issuer,
      config: opaque.introspection!,
      clientAuth: await loadClientAuth(opaque.introspection!),
      algorithms: opaque.algorithms,
    });
    const authenticator = createAuthenticator({
      issuers: [jwtIssuer, opaque],
      service: 'orders',
      keyStores: { issuers: new Map([['jwt', jwtStore]]) },
      cacheMaxEntries: 10,
      introspection: { clients: new Map([['opaque', client]]) },
    });
    idp.tokens.set('plain-opaque', { sub: 'dave' });
    const auth = await authenticator.authenticate(view({ authorization: 'Bearer plain-opaque' }));
    assert.equal(auth.user?.issuerName, 'opaque');
    assert.equal(idp.lastClientAuth, 'client_secret_basic');
    const foreign = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"iss":"https://other.example.test"}').toString('base64url')}.c2ln`;
    assert.equal(
      await reason(authenticator.authenticate(view({ authorization: `Bearer ${foreign}` }))),
      'token_inactive',
      'asked the IdP, which does not know it',
    );
    authenticator.stop();
    jwtStore.stop();
  });
});

describe('introspection client credentials at start-up (real binary)', () => {
  it('an unreadable secret file or an unusable private key is one stderr line on its field, exit 2', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'p.yaml'),
      'apiVersion: authz-sidecar/v1\nkind: Policy\nmetadata: { name: orders, service: orders }\nspec:\n  defaultAction: DENY\n  rules: []\n',
    );
    writeFileSync(join(dir, 'public.jwk.json'), JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }));
    const config = (credential: string) =>
      `service: orders\npolicy: { file: p.yaml }\nissuers:\n  - name: corp\n    issuer: "https://corp.example.test"\n    audiences: [orders]\n    introspection: { url: "https://corp.example.test/i", clientId: s, ${credential} }\n`;
    const missing = await runSidecar(['--config', writeConfig(dir, config('clientSecretFile: secrets/missing'), 'a.yaml'), '--check-config']);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      `authz-sidecar: ${join(dir, 'a.yaml')}:7:89: issuers[0].introspection.clientSecretFile: cannot read secrets/missing: no such file\n`,
    );
    const publicKey = await runSidecar(['--config', writeConfig(dir, config('privateKeyJwt: { keyFile: public.jwk.json }'), 'b.yaml'), '--check-config']);
    assert.equal(publicKey.code, 2);
    assert.equal(
      publicKey.stderr,
      `authz-sidecar: ${join(dir, 'b.yaml')}:7:97: issuers[0].introspection.privateKeyJwt.keyFile: public.jwk.json: must be a private JWK (with "d")\n`,
    );
  });
});
