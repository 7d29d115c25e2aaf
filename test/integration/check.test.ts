import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startConformanceEnv, type ConformanceEnv } from '../../testkit/conformance-env.js';
import { denyBody, envoyRequest, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { mint, mintService } from '../../testkit/tokens.js';

const CUSTOMER = { roles: ['customer'], scope: 'orders:read profile', tenant: 'acme', org: { id: 'o-1' } };

function assertAllowed(result: CheckResult, rule: string): void {
  assert.equal(result.status.code, 0, `expected allow, got ${JSON.stringify(result.status)} ${result.denied_response?.body}`);
  assert.equal(result.http_response, 'ok_response');
  assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, rule);
}

function assertDenied(result: CheckResult, grpcCode: number, http: number, reason: string): void {
  assert.equal(result.status.code, grpcCode, `status ${JSON.stringify(result.status)} body ${result.denied_response?.body}`);
  assert.equal(result.http_response, 'denied_response');
  assert.equal(httpStatus(result), http);
  assert.equal(denyBody(result).reason, reason);
}

describe("ext_authz Check against the real sidecar, driven with Envoy's protos", () => {
  let env: ConformanceEnv;
  before(async () => {
    env = await startConformanceEnv();
  });
  after(async () => {
    await env.close();
  });

  it('reports SERVING on grpc.health.v1 for "" and the Authorization service, NOT_FOUND for others', async () => {
    assert.equal((await env.client.healthCheck('')).status, 'SERVING');
    assert.equal((await env.client.healthCheck('envoy.service.auth.v3.Authorization')).status, 'SERVING');
    await assert.rejects(env.client.healthCheck('nope'), /NOT_FOUND|unknown service/);
  });

  it('answers 401 with a Bearer challenge (no error attribute) and the request id when there is no token', async () => {
    const result = await env.client.check(envoyRequest({ path: '/api/orders', headers: { 'x-request-id': 'req-1' } }));
    assertDenied(result, 16, 401, 'credentials_missing');
    assert.equal(headerOf(result.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders"');
    assert.equal(headerOf(result.denied_response?.headers, 'content-type'), 'application/json');
    assert.deepEqual(denyBody(result), { error: 'unauthenticated', reason: 'credentials_missing', request_id: 'req-1' });
  });

  it('allows a valid token and sets identity headers with overwrite, removing the managed ones it does not set', async () => {
    const token = await mint(CUSTOMER);
    const result = await env.client.check(
      envoyRequest({ path: '/api/orders/7?x=1', headers: { authorization: `Bearer ${token}`, 'x-auth-subject': 'mallory' } }),
    );
    assertAllowed(result, 'read-orders');
    const set = result.ok_response?.headers ?? [];
    assert.equal(headerOf(set, 'x-auth-subject'), 'alice');
    assert.equal(headerOf(set, 'x-auth-issuer'), 'https://idp.example.test');
    assert.equal(headerOf(set, 'x-tenant-id'), 'acme');
    assert.equal(headerOf(set, 'x-auth-roles'), 'customer');
    assert.equal(headerOf(set, 'x-org-id'), 'o-1');
    for (const option of set) assert.equal(option.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD');
    assert.ok(result.ok_response?.headers_to_remove?.includes('x-auth-principal'));
    assert.ok(!result.ok_response?.headers_to_remove?.includes('x-auth-subject'));
    const fields = result.dynamic_metadata!.fields;
    assert.match(fields.decision_id.stringValue!, /^[0-9a-f-]{36}$/);
    assert.equal(fields.policy.stringValue, 'orders-conformance');
    assert.match(fields.policy_revision.stringValue!, /^[0-9a-f]{12}$/);
    assert.equal(fields.decision.stringValue, 'allow');
  });

  it('strips every managed identity header on an anonymous allow', async () => {
    const result = await env.client.check(envoyRequest({ path: '/public/index.html', headers: { 'x-auth-subject': 'mallory' } }));
    assertAllowed(result, 'public');
    assert.deepEqual(result.ok_response?.headers ?? [], []);
    assert.deepEqual([...(result.ok_response?.headers_to_remove ?? [])].sort(), [
      'x-auth-issuer',
      'x-auth-principal',
      'x-auth-roles',
      'x-auth-subject',
      'x-org-id',
      'x-tenant-id',
    ]);
  });

  it('reads header_map with raw_value bytes (encode_raw_headers) like the headers map', async () => {
    const token = await mint(CUSTOMER);
    const result = await env.client.check(envoyRequest({ path: '/api/orders', rawHeaders: [['Authorization', `Bearer ${token}`]] }));
    assertAllowed(result, 'read-orders');
  });

  it('accepts a case-insensitive Bearer scheme and a cookie source', async () => {
    const token = await mint(CUSTOMER);
    assertAllowed(await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `bEaReR ${token}` } })), 'read-orders');
    assertAllowed(await env.client.check(envoyRequest({ path: '/api/orders', headers: { cookie: `theme=dark; access_token=${token}` } })), 'read-orders');
  });

  it('answers 401 for two Authorization values, whether joined by Envoy or sent apart in header_map', async () => {
    const a = await mint(CUSTOMER);
    const b = await mint(CUSTOMER, { subject: 'bob' });
    const joined = await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${a},Bearer ${b}` } }));
    assertDenied(joined, 16, 401, 'credentials_duplicated');
    const apart = await env.client.check(
      envoyRequest({
        path: '/api/orders',
        rawHeaders: [
          ['authorization', `Bearer ${a}`],
          ['authorization', `Bearer ${b}`],
        ],
      }),
    );
    assertDenied(apart, 16, 401, 'credentials_duplicated');
    assert.equal(headerOf(apart.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders", error="invalid_token"');
  });

  it('answers 403 insufficient_scope naming the missing scope', async () => {
    const token = await mint({ ...CUSTOMER, scope: 'profile' });
    const result = await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }));
    assertDenied(result, 7, 403, 'missing_scope');
    assert.equal(headerOf(result.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders", error="insufficient_scope", scope="orders:read"');
  });

  it('answers 403 when the roles do not grant the permission, and allows a wildcard role', async () => {
    const customer = await mint(CUSTOMER);
    assertDenied(
      await env.client.check(envoyRequest({ path: '/admin/users', headers: { authorization: `Bearer ${customer}` } })),
      7,
      403,
      'missing_permission',
    );
    const admin = await mint({ ...CUSTOMER, roles: ['admin'] });
    assertAllowed(await env.client.check(envoyRequest({ path: '/admin/users', headers: { authorization: `Bearer ${admin}` } })), 'admin-only');
  });

  it('denies by a DENY rule before any ALLOW', async () => {
    const admin = await mint({ ...CUSTOMER, roles: ['admin'] });
    assertDenied(await env.client.check(envoyRequest({ path: '/legacy/x', headers: { authorization: `Bearer ${admin}` } })), 7, 403, 'denied_by_rule');
  });

  it('compares methods exactly: a lower-case method is refused, never read as its upper-case twin', async () => {
    assertAllowed(await env.client.check(envoyRequest({ path: '/public/x' })), 'public');
    for (const method of ['get', 'Get', 'gET']) {
      assertDenied(await env.client.check(envoyRequest({ method, path: '/public/x' })), 3, 400, 'lowercase_method');
    }
    const admin = await mint({ ...CUSTOMER, roles: ['admin'] });
    assertDenied(
      await env.client.check(envoyRequest({ method: 'delete', path: '/legacy/x', headers: { authorization: `Bearer ${admin}` } })),
      3,
      400,
      'lowercase_method',
    );
    assertDenied(await env.client.check(envoyRequest({ method: 'PROPFIND', path: '/public/x' })), 16, 401, 'credentials_missing');
  });

  it('takes the caller principal from a service token or from mTLS source.principal', async () => {
    const checkout = 'spiffe://cluster.local/ns/shop/sa/checkout';
    const serviceToken = await mintService(checkout);
    const viaToken = await env.client.check(envoyRequest({ method: 'POST', path: '/internal/reserve', headers: { 'x-service-token': serviceToken } }));
    assertAllowed(viaToken, 'checkout-service');
    assert.equal(headerOf(viaToken.ok_response?.headers, 'x-auth-principal'), checkout);
    assertAllowed(await env.client.check(envoyRequest({ method: 'POST', path: '/internal/reserve', principal: checkout })), 'checkout-service');
    const other = await env.client.check(envoyRequest({ method: 'POST', path: '/internal/reserve', principal: 'spiffe://cluster.local/ns/shop/sa/cart' }));
    assertDenied(other, 7, 403, 'default_deny');
  });

  it('rejects a service token from another trust domain or for another audience with 401', async () => {
    const foreign = await mintService('spiffe://evil.example/ns/shop/sa/checkout');
    assertDenied(
      await env.client.check(envoyRequest({ method: 'POST', path: '/internal/reserve', headers: { 'x-service-token': foreign } })),
      16,
      401,
      'token_claims_invalid',
    );
  });

  it('evaluates CEL conditions over claims, headers, the decoded query and context_extensions', async () => {
    const token = await mint(CUSTOMER);
    const auth = { authorization: `Bearer ${token}` };
    assertAllowed(await env.client.check(envoyRequest({ path: '/tenant/a', headers: { ...auth, 'x-tenant-id': 'acme' } })), 'tenant-match');
    assertDenied(await env.client.check(envoyRequest({ path: '/tenant/a', headers: { ...auth, 'x-tenant-id': 'other' } })), 7, 403, 'default_deny');
    assertDenied(await env.client.check(envoyRequest({ path: '/tenant/a?debug=%31', headers: { ...auth, 'x-tenant-id': 'acme' } })), 7, 403, 'default_deny');
    assertAllowed(await env.client.check(envoyRequest({ path: '/ctx/x', contextExtensions: { zone: 'internal' } })), 'context-extensions');
    assertDenied(await env.client.check(envoyRequest({ path: '/ctx/x', contextExtensions: { zone: 'edge' } })), 16, 401, 'credentials_missing');
  });

  it('matches suffix paths and hosts', async () => {
    assertAllowed(await env.client.check(envoyRequest({ path: '/img/logo.png', host: 'static.example.test' })), 'images');
    assertDenied(await env.client.check(envoyRequest({ path: '/img/logo.png', host: 'orders.example.test' })), 16, 401, 'credentials_missing');
  });

  it('accepts HS256 tokens for an issuer configured with a 32-byte secret', async () => {
    const token = await mint(CUSTOMER, { secret: env.hsSecret, issuer: 'https://hs.example.test' });
    assertAllowed(await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } })), 'read-orders');
  });

  it('verifies against a remote JWKS URL and enforces typ at+jwt there', async () => {
    const good = await mint(CUSTOMER, { jwk: env.remotePrivate, issuer: 'https://remote.example.test', typ: 'at+jwt' });
    assertAllowed(await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${good}` } })), 'read-orders');
    const untyped = await mint(CUSTOMER, { jwk: env.remotePrivate, issuer: 'https://remote.example.test' });
    assertDenied(await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${untyped}` } })), 16, 401, 'token_type_invalid');
  });

  it('lets a flood of unknown kids trigger at most one JWKS refetch per cooldown', async () => {
    const { keyPair } = await import('../../testkit/conformance-env.js');
    const before = env.remote.hits;
    for (let i = 0; i < 20; i++) {
      const stranger = await keyPair(`unknown-${i}`);
      const token = await mint(CUSTOMER, { jwk: stranger.privateJwk, issuer: 'https://remote.example.test', typ: 'at+jwt' });
      const result = await env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }));
      assertDenied(result, 16, 401, 'token_key_unknown');
    }
    assert.ok(env.remote.hits - before <= 1, `${env.remote.hits - before} fetches for 20 unknown kids within the 2 s cooldown`);
  });

  it('answers an empty CheckRequest with a 400 deny, never a gRPC error', async () => {
    assertDenied(await env.client.check({}), 3, 400, 'malformed_request');
    assertDenied(await env.client.check({ attributes: { request: { http: { method: 'GET' } } } }), 3, 400, 'malformed_request');
  });

  it('counts decisions by reason in /metrics', async () => {
    const text = await (await fetch(`${env.sidecar.adminUrl}/metrics`)).text();
    assert.match(text, /authz_checks_total\{service="orders",decision="deny",reason="credentials_missing"\} [1-9]/);
    assert.match(text, /authz_checks_total\{service="orders",decision="allow",reason="allowed_by_rule"\} [1-9]/);
    assert.match(text, /authz_check_duration_seconds_bucket/);
    assert.match(text, /authz_token_cache_total\{result="hit"\} [1-9]/);
    assert.match(text, /authz_token_cache_entries\{issuer="idp"\} [1-9]/);
    // Service tokens are named by their trust domain, as the key-set metric names their keys.
    assert.match(text, /authz_token_cache_entries\{issuer="cluster\.local"\} [1-9]/);
    assert.match(text, /authz_key_set_revision\{name="cluster\.local"\} [1-9]/);
    assert.match(text, /authz_policy_info\{service="orders",name="orders-conformance",revision="[0-9a-f]{12}"\} 1/);
    assert.match(text, /authz_key_set_revision\{name="idp"\} [1-9]/);
    // A sidecar fed by files has no NATS connection to report: a 0 would page someone.
    assert.doesNotMatch(text, /authz_nats_connected/);
  });

  it('logs token denies with the method and path, and a serving line with one service key', async () => {
    await env.client.check(envoyRequest({ method: 'POST', path: '/api/orders', headers: { authorization: 'Bearer not.a.token' } }));
    const line = await env.sidecar.waitForLog((l) => l.msg === 'deny' && l.reason === 'token_malformed');
    assert.equal(line.method, 'POST');
    assert.equal(line.path, '/api/orders');
    const serving = env.sidecar.logs.find((l) => l.msg === 'serving')!;
    assert.equal(serving.service, 'authz-sidecar');
    assert.equal(typeof serving.protected_service, 'string');
  });

  it('never logs a token', async () => {
    const token = await mint(CUSTOMER);
    await env.client.check(envoyRequest({ path: '/admin/x', headers: { authorization: `Bearer ${token}` } }));
    await env.sidecar.waitForLog((line) => line.msg === 'deny' && line.reason === 'missing_permission');
    const signature = token.split('.')[2];
    assert.ok(!env.sidecar.logs.some((line) => JSON.stringify(line).includes(signature)));
    assert.ok(env.sidecar.logs.filter((l) => l.msg === 'deny').every((l) => typeof l.decision_id === 'string'));
  });
});
