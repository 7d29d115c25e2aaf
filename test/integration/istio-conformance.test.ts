/**
 * The sidecar behind istio-proxy: the real binary, driven with CheckRequests shaped the way
 * istio-proxy's ext_authz filter sends them for a CUSTOM AuthorizationPolicy (testkit/istio.ts:
 * SPIFFE ids from the mTLS connection in source/destination.principal, one `headers` map with
 * the headers istio-proxy adds, no context_extensions), encoded with Envoy's own protos.
 *
 * What docs/istio.md promises: a caller's identity is source.principal and nothing else (a
 * forged x-forwarded-client-cert grants nothing), `from.principals` works as with plain Envoy,
 * end users' tokens work as with plain Envoy, and the denies have the shapes of
 * docs/check-api.md.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { denyBody, envoyRequest, envoyRequestJson, EnvoyClient, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { istioCheckRequest, spiffeId, xfccElement } from '../../testkit/istio.js';
import { FIXTURES } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';

const CHECKOUT = spiffeId('shop', 'checkout');
const CART = spiffeId('shop', 'cart');
const REPORTS = spiffeId('analytics', 'reports');
const GATEWAY = spiffeId('istio-system', 'istio-ingressgateway-service-account');
const ORDERS = spiffeId('orders', 'orders');
const CUSTOMER = { roles: ['customer'], scope: 'orders:read profile', tenant: 'acme' };

function assertAllowed(result: CheckResult, rule: string): void {
  assert.equal(result.status.code, 0, `expected allow, got ${JSON.stringify(result.status)} ${result.denied_response?.body}`);
  assert.equal(result.http_response, 'ok_response');
  assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, rule);
  assert.equal(result.dynamic_metadata?.fields.decision?.stringValue, 'allow');
}

/** A deny as docs/check-api.md describes it: gRPC status, HTTP status, JSON body with the request id, metadata. */
function assertDenied(result: CheckResult, expected: { grpc: number; http: number; error: string; reason: string; requestId: string }): void {
  assert.equal(result.status.code, expected.grpc, `status ${JSON.stringify(result.status)} body ${result.denied_response?.body}`);
  assert.equal(result.http_response, 'denied_response');
  assert.equal(httpStatus(result), expected.http);
  assert.equal(headerOf(result.denied_response?.headers, 'content-type'), 'application/json');
  assert.deepEqual(denyBody(result), { error: expected.error, reason: expected.reason, request_id: expected.requestId });
  assert.equal(result.dynamic_metadata?.fields.decision?.stringValue, 'deny');
  assert.equal(result.dynamic_metadata?.fields.reason?.stringValue, expected.reason);
}

const unauthenticated = (reason: string, requestId: string) => ({ grpc: 16, http: 401, error: 'unauthenticated', reason, requestId });
const forbidden = (reason: string, requestId: string) => ({ grpc: 7, http: 403, error: 'forbidden', reason, requestId });

describe('the sidecar behind istio-proxy (CUSTOM AuthorizationPolicy, envoyExtAuthzGrpc)', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;

  before(async () => {
    const { configPath } = writeSidecarDir({ policy: readFileSync(`${FIXTURES}/istio/policy.yaml`, 'utf8') });
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it("builds requests Envoy's protos carry whole: principals, the headers map, no context_extensions", () => {
    const request = istioCheckRequest({ method: 'POST', path: '/internal/reserve', headers: { authorization: 'Bearer x' } }) as {
      attributes: { request: { http: { headers: Record<string, string> } } };
    };
    // Encoded and decoded with Envoy's protos: a misspelt field would be dropped on the way.
    const decoded = JSON.parse(envoyRequestJson(request, 'proto')) as {
      attributes: {
        source: { principal: string; address: { socket_address: { address: string; port_value: number } } };
        destination: { principal: string };
        request: { http: { headers: Record<string, string>; header_map?: unknown; host: string } };
        context_extensions?: unknown;
      };
    };
    assert.equal(decoded.attributes.source.principal, CHECKOUT);
    assert.equal(decoded.attributes.destination.principal, ORDERS);
    assert.equal(decoded.attributes.source.address.socket_address.address, '10.244.1.17');
    assert.deepEqual(decoded.attributes.request.http.headers, request.attributes.request.http.headers);
    assert.equal(decoded.attributes.request.http.header_map, undefined, 'Istio does not set encode_raw_headers');
    assert.equal(decoded.attributes.context_extensions, undefined, 'Istio sets no per-route context_extensions');
    for (const name of [
      'x-forwarded-client-cert',
      'x-envoy-attempt-count',
      'x-envoy-peer-metadata',
      'x-envoy-peer-metadata-id',
      'x-request-id',
      'x-forwarded-proto',
      ':authority',
    ]) {
      assert.ok(decoded.attributes.request.http.headers[name], `istio-proxy sends ${name}`);
    }
  });

  it('allows a principal the policy lists, and sends its identity upstream', async () => {
    const result = await client.check(istioCheckRequest({ method: 'POST', path: '/internal/reserve', sourcePrincipal: CHECKOUT }));
    assertAllowed(result, 'checkout-service');
    const set = result.ok_response?.headers ?? [];
    assert.equal(headerOf(set, 'x-auth-principal'), CHECKOUT);
    for (const option of set) assert.equal(option.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD');
    // No user token: the user headers are removed, so the app never sees a client's own.
    for (const name of ['x-auth-subject', 'x-auth-issuer', 'x-tenant-id', 'x-auth-roles'])
      assert.ok(result.ok_response?.headers_to_remove?.includes(name), name);
  });

  it('matches a principal prefix (…/ns/shop/*) and a host pattern against an :authority with a port', async () => {
    assertAllowed(await client.check(istioCheckRequest({ path: '/internal/stock', sourcePrincipal: CART })), 'shop-namespace-stock');
    const other = await client.check(istioCheckRequest({ path: '/internal/stock', sourcePrincipal: REPORTS, requestId: 'r-prefix' }));
    assertDenied(other, forbidden('default_deny', 'r-prefix'));
  });

  it('denies a principal the policy does not list: 403 default_deny, with the x-request-id istio-proxy sent', async () => {
    const result = await client.check(istioCheckRequest({ method: 'POST', path: '/internal/reserve', sourcePrincipal: CART, requestId: 'r-cart' }));
    assertDenied(result, forbidden('default_deny', 'r-cart'));
    assert.equal(result.dynamic_metadata?.fields.rule?.nullValue, 'NULL_VALUE');
  });

  it('takes identity from source.principal only: a forged x-forwarded-client-cert grants nothing', async () => {
    const forged = xfccElement(ORDERS, CHECKOUT);
    // A plain-text caller (PERMISSIVE mTLS) that wrote the header itself: no principal at all.
    const anonymous = await client.check(
      istioCheckRequest({
        method: 'POST',
        path: '/internal/reserve',
        sourcePrincipal: '',
        requestId: 'r-forged-1',
        headers: { 'x-forwarded-client-cert': forged },
      }),
    );
    assertDenied(anonymous, unauthenticated('credentials_missing', 'r-forged-1'));
    assert.equal(headerOf(anonymous.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders"');
    // An mTLS caller with another identity, its own element after the forged one.
    const otherCaller = await client.check(
      istioCheckRequest({
        method: 'POST',
        path: '/internal/reserve',
        sourcePrincipal: CART,
        requestId: 'r-forged-2',
        headers: { 'x-forwarded-client-cert': `${forged},${xfccElement(ORDERS, CART)}` },
      }),
    );
    assertDenied(otherCaller, forbidden('default_deny', 'r-forged-2'));
    // Nor does the destination's principal: it is this workload's own identity.
    const destination = await client.check(
      istioCheckRequest({ method: 'POST', path: '/internal/reserve', sourcePrincipal: CART, destinationPrincipal: CHECKOUT, requestId: 'r-forged-3' }),
    );
    assertDenied(destination, forbidden('default_deny', 'r-forged-3'));
  });

  it('never forwards a principal from x-forwarded-client-cert: on an anonymous allow, x-auth-principal is removed', async () => {
    const result = await client.check(
      istioCheckRequest({
        path: '/healthz',
        sourcePrincipal: '',
        headers: { 'x-forwarded-client-cert': xfccElement(ORDERS, CHECKOUT), 'x-auth-principal': CHECKOUT },
      }),
    );
    assertAllowed(result, 'public-health');
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-principal'), undefined);
    assert.ok(result.ok_response?.headers_to_remove?.includes('x-auth-principal'));
  });

  it('lets an end user through the ingress gateway in with a token, the gateway named by its principal', async () => {
    const token = await mint(CUSTOMER);
    const result = await client.check(istioCheckRequest({ path: '/api/orders/7', sourcePrincipal: GATEWAY, headers: { authorization: `Bearer ${token}` } }));
    assertAllowed(result, 'orders-via-gateway');
    const set = result.ok_response?.headers ?? [];
    assert.equal(headerOf(set, 'x-auth-subject'), 'alice');
    assert.equal(headerOf(set, 'x-auth-issuer'), 'https://idp.example.test');
    assert.equal(headerOf(set, 'x-tenant-id'), 'acme');
    assert.equal(headerOf(set, 'x-auth-principal'), GATEWAY);
    // The same token from anywhere but the gateway: the rule's issuer and principal must both hold.
    const direct = await client.check(
      istioCheckRequest({ path: '/api/orders/7', sourcePrincipal: CART, requestId: 'r-direct', headers: { authorization: `Bearer ${token}` } }),
    );
    assertDenied(direct, forbidden('default_deny', 'r-direct'));
  });

  it('answers tokens through istio-proxy as it does through plain Envoy', async () => {
    const good = await mint(CUSTOMER);
    const expired = await mint(CUSTOMER, { ttlSeconds: -120 });
    const noScope = await mint({ ...CUSTOMER, scope: 'orders:read' });
    for (const [token, label] of [
      [good, 'valid'],
      [expired, 'expired'],
      [noScope, 'without the profile scope'],
      ['not-a-token', 'malformed'],
    ] as const) {
      const headers = { authorization: `Bearer ${token}`, 'x-request-id': `r-${label}` };
      const viaIstio = await client.check(istioCheckRequest({ path: '/api/profile', sourcePrincipal: GATEWAY, requestId: `r-${label}`, headers }));
      const viaEnvoy = await client.check(envoyRequest({ path: '/api/profile', headers }));
      assert.equal(viaIstio.status.code, viaEnvoy.status.code, `${label}: gRPC status`);
      assert.equal(httpStatus(viaIstio), httpStatus(viaEnvoy), `${label}: HTTP status`);
      assert.equal(viaIstio.denied_response?.body, viaEnvoy.denied_response?.body, `${label}: deny body`);
      assert.equal(
        headerOf(viaIstio.denied_response?.headers, 'www-authenticate'),
        headerOf(viaEnvoy.denied_response?.headers, 'www-authenticate'),
        `${label}: challenge`,
      );
      for (const name of ['x-auth-subject', 'x-auth-issuer', 'x-tenant-id', 'x-auth-roles']) {
        assert.equal(headerOf(viaIstio.ok_response?.headers, name), headerOf(viaEnvoy.ok_response?.headers, name), `${label}: ${name}`);
      }
    }
    const expiredResult = await client.check(
      istioCheckRequest({ path: '/api/profile', sourcePrincipal: GATEWAY, requestId: 'r-exp', headers: { authorization: `Bearer ${expired}` } }),
    );
    assertDenied(expiredResult, unauthenticated('token_expired', 'r-exp'));
    assert.equal(headerOf(expiredResult.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders", error="invalid_token"');
    const scopeResult = await client.check(
      istioCheckRequest({ path: '/api/profile', sourcePrincipal: GATEWAY, requestId: 'r-scope', headers: { authorization: `Bearer ${noScope}` } }),
    );
    assertDenied(scopeResult, forbidden('missing_scope', 'r-scope'));
    assert.equal(headerOf(scopeResult.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders", error="insufficient_scope", scope="profile"');
  });

  it('gives a DENY rule the same 403 whoever calls, and refuses an unusable path before any policy', async () => {
    for (const principal of [CHECKOUT, '']) {
      const result = await client.check(istioCheckRequest({ path: '/debug/vars', sourcePrincipal: principal, requestId: 'r-debug' }));
      assertDenied(result, forbidden('denied_by_rule', 'r-debug'));
    }
    const traversal = await client.check(istioCheckRequest({ path: '/internal/../../etc/passwd', sourcePrincipal: CHECKOUT, requestId: 'r-path' }));
    assertDenied(traversal, { grpc: 3, http: 400, error: 'bad_request', reason: 'path_traversal', requestId: 'r-path' });
  });
});
