import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSync } from '@grpc/proto-loader';
import { buildCheckRequest } from '../../src/cli/envoy-request.js';
import { LOADER_OPTIONS, PROTO_ROOT } from '../../src/grpc/protos.js';
import { buildRequestView } from '../../src/request/index.js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';

const check = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] })[
  'envoy.service.auth.v3.Authorization'
] as unknown as {
  Check: { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): CheckRequest__Output };
};

describe('buildCheckRequest', () => {
  it('builds the http attributes and pseudo headers the way Envoy does', () => {
    const req = buildCheckRequest({ method: 'POST', path: '/api/orders?x=1', host: 'orders.example.test' });
    const http = req.attributes?.request?.http;
    assert.equal(http?.method, 'POST');
    assert.equal(http?.path, '/api/orders?x=1');
    assert.equal(http?.host, 'orders.example.test');
    assert.equal(http?.scheme, 'http');
    assert.equal(http?.protocol, 'HTTP/1.1');
    assert.equal(http?.query, 'x=1');
    assert.match(http?.id ?? '', /^\d+$/);
    const headers = http?.headers ?? {};
    assert.equal(headers[':method'], 'POST');
    assert.equal(headers[':path'], '/api/orders?x=1');
    assert.equal(headers[':authority'], 'orders.example.test');
    assert.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
    assert.equal(req.attributes?.source?.principal, '');
  });

  it("sends the method as given, so a lower-case one meets the sidecar's refusal", () => {
    const req = buildCheckRequest({ method: 'post' });
    assert.equal(req.attributes?.request?.http?.method, 'post');
    assert.equal(req.attributes?.request?.http?.headers?.[':method'], 'post');
    assert.throws(() => buildRequestView(req), { code: 'lowercase_method' });
  });

  it('defaults to GET / on localhost', () => {
    const http = buildCheckRequest().attributes?.request?.http;
    assert.deepEqual([http?.method, http?.path, http?.host], ['GET', '/', 'localhost']);
  });

  it('adds tokens, principal, context and extra headers', () => {
    const req = buildCheckRequest({
      headers: [
        ['X-Tenant-Id', 'acme'],
        ['accept', 'a'],
        ['Accept', 'b'],
        ['host', 'from-header.test'],
        ['x-request-id', 'req-1'],
      ],
      token: 'abc.def.ghi',
      serviceToken: 'svc.tok.en',
      principal: 'spiffe://cluster.local/ns/shop/sa/checkout',
      sourceAddress: '10.0.0.7:51000',
      context: { route: 'orders' },
    });
    const http = req.attributes?.request?.http;
    assert.equal(http?.host, 'from-header.test');
    assert.deepEqual(http?.headers, {
      ':method': 'GET',
      ':path': '/',
      ':authority': 'from-header.test',
      ':scheme': 'http',
      'x-tenant-id': 'acme',
      accept: 'a,b',
      'x-request-id': 'req-1',
      authorization: 'Bearer abc.def.ghi',
      'x-service-token': 'svc.tok.en',
    });
    assert.equal(req.attributes?.source?.principal, 'spiffe://cluster.local/ns/shop/sa/checkout');
    assert.deepEqual(req.attributes?.source?.address, { socket_address: { address: '10.0.0.7', port_value: 51000 } });
    assert.deepEqual(req.attributes?.context_extensions, { route: 'orders' });
  });

  it('does not double a Bearer prefix', () => {
    const headers = buildCheckRequest({ token: 'Bearer abc' }).attributes?.request?.http?.headers;
    assert.equal(headers?.authorization, 'Bearer abc');
  });

  it('round-trips through the protos and reads back as the same request view', () => {
    const req = buildCheckRequest({ path: '/api//orders/./7?q=a+b', headers: { 'x-tenant-id': 'acme' }, principal: 'spiffe://x/y' });
    const decoded = check.Check.requestDeserialize(check.Check.requestSerialize(req));
    const direct = buildRequestView(req);
    const wire = buildRequestView(decoded);
    assert.equal(wire.path, '/api/orders/7');
    assert.deepEqual({ ...wire.query }, { q: 'a b' });
    assert.equal(wire.sourcePrincipal, 'spiffe://x/y');
    assert.deepEqual({ ...wire.headers }, { ...direct.headers });
    assert.deepEqual([wire.id, wire.method, wire.host, wire.path], [direct.id, direct.method, direct.host, direct.path]);
  });
});
