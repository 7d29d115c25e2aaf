import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toCheckRequest } from '../../src/http/check-request.js';
import { parseRoute } from '../../src/http/route.js';
import { buildRequestView, RequestError } from '../../src/request/index.js';

const route = (url: string) => parseRoute(url)!;
/** rawHeaders as node gives them: name, value, name, value… */
const raw = (headers: Array<[string, string]>) => headers.flat();
const NGINX = (extra: Array<[string, string]> = []) =>
  raw([
    ['Host', 'orders.example.test'],
    ['X-Original-URI', '/api/orders?x=1'],
    ['X-Original-Method', 'POST'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Real-IP', '10.1.2.3'],
    ...extra,
  ]);

const headerMap = (request: ReturnType<typeof toCheckRequest>) => request.attributes!.request!.http!.header_map!.headers!.map((h) => [h.key, h.value]);

describe('toCheckRequest', () => {
  it('nginx: method, path, host, scheme and client address from the fields deploy/nginx sets', () => {
    const request = toCheckRequest(route('/nginx'), 'GET', NGINX([['Authorization', 'Bearer t']]));
    const view = buildRequestView(request);
    assert.equal(view.method, 'POST');
    assert.equal(view.path, '/api/orders');
    assert.equal(view.query.x, '1');
    assert.equal(view.host, 'orders.example.test');
    assert.equal(view.sourceAddress, '10.1.2.3');
    assert.equal(view.headers.authorization, 'Bearer t');
    assert.equal(request.attributes!.request!.http!.scheme, 'https');
    assert.deepEqual(Object.keys(view.contextExtensions), []);
  });

  it("forward_auth: X-Forwarded-Method, -Uri, -Host; the auth request's own Host and method say nothing", () => {
    const request = toCheckRequest(
      route('/forward-auth'),
      'GET',
      raw([
        ['Host', '127.0.0.1:9193'],
        ['X-Forwarded-Method', 'DELETE'],
        ['X-Forwarded-Uri', '/api/orders/7'],
        ['X-Forwarded-Host', 'shop.example.test'],
        ['X-Forwarded-For', '203.0.113.9, 10.0.0.1'],
      ]),
    );
    const view = buildRequestView(request);
    assert.deepEqual([view.method, view.path, view.host, view.sourceAddress], ['DELETE', '/api/orders/7', 'shop.example.test', '10.0.0.1']);
  });

  it("envoy: the auth request's method and the path after the prefix", () => {
    const view = buildRequestView(toCheckRequest(route('/envoy/api/orders?y=2'), 'PUT', raw([['Host', 'h.test']])));
    assert.deepEqual([view.method, view.path, view.host, view.query.y], ['PUT', '/api/orders', 'h.test', '2']);
  });

  it("drops every convention's control headers and the hop's own headers, so none reaches the policy", () => {
    const request = toCheckRequest(
      route('/nginx'),
      'GET',
      NGINX([
        ['X-Forwarded-Uri', '/public'],
        ['X-Forwarded-Method', 'GET'],
        ['X-Forwarded-Host', 'evil'],
        ['X-Forwarded-For', '1.1.1.1'],
        ['Forwarded', 'for=1.1.1.1'],
        ['X-Original-URL', '/public'],
        ['Connection', 'keep-alive'],
        ['Content-Length', '0'],
        ['X-Tenant-Id', 'acme'],
      ]),
    );
    assert.deepEqual(headerMap(request), [
      [':authority', 'orders.example.test'],
      [':method', 'POST'],
      [':path', '/api/orders?x=1'],
      [':scheme', 'https'],
      ['x-tenant-id', 'acme'],
    ]);
    assert.equal(buildRequestView(request).path, '/api/orders');
  });

  it('keeps repeated headers apart, so two Authorization lines are seen as two', () => {
    const view = buildRequestView(
      toCheckRequest(
        route('/nginx'),
        'GET',
        NGINX([
          ['Authorization', 'Bearer a'],
          ['authorization', 'Bearer b'],
        ]),
      ),
    );
    assert.ok(view.repeatedHeaders.has('authorization'));
    assert.equal(view.headers.authorization, 'Bearer a,Bearer b');
  });

  it('makes a missing, empty or repeated field a request the view refuses as malformed_request', () => {
    const cases: Array<[string, Array<[string, string]>]> = [
      [
        '/nginx',
        [
          ['Host', 'h'],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        '/nginx',
        [
          ['Host', 'h'],
          ['X-Original-URI', '/a'],
        ],
      ],
      [
        '/nginx',
        [
          ['X-Original-URI', '/a'],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        '/nginx',
        [
          ['Host', 'h'],
          ['X-Original-URI', ''],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        '/nginx',
        [
          ['Host', 'h'],
          ['X-Original-URI', '/a'],
          ['X-Original-URI', '/b'],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        '/nginx',
        [
          ['Host', 'h'],
          ['Host', 'i'],
          ['X-Original-URI', '/a'],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        '/forward-auth',
        [
          ['X-Forwarded-Method', 'GET'],
          ['X-Forwarded-Uri', '/a'],
        ],
      ],
      [
        '/forward-auth',
        [
          ['X-Forwarded-Method', 'GET'],
          ['X-Forwarded-Uri', '/a'],
          ['X-Forwarded-Host', 'h'],
          ['X-Forwarded-Proto', 'http'],
          ['X-Forwarded-Proto', 'https'],
        ],
      ],
      ['/envoy', [['Host', 'h']]],
    ];
    for (const [url, headers] of cases) {
      assert.throws(
        () => buildRequestView(toCheckRequest(route(url), 'GET', raw(headers))),
        (error: unknown) => error instanceof RequestError && error.code === 'malformed_request',
        JSON.stringify(headers),
      );
    }
  });

  it('names the service of a /service/<name>/ URL in context_extensions, and only then', () => {
    assert.deepEqual(toCheckRequest(route('/service/billing/nginx'), 'GET', NGINX()).attributes!.context_extensions, { service: 'billing' });
    assert.deepEqual(toCheckRequest(route('/nginx'), 'GET', NGINX([['Service', 'billing']])).attributes!.context_extensions, {});
  });

  it('leaves the client address out when the field is not an IP address', () => {
    for (const value of ['unknown', '10.0.0.1:5000', '', 'a, b']) {
      const request = toCheckRequest(
        route('/nginx'),
        'GET',
        raw([
          ['Host', 'h'],
          ['X-Original-URI', '/a'],
          ['X-Original-Method', 'GET'],
          ['X-Real-IP', value],
        ]),
      );
      assert.equal(buildRequestView(request).sourceAddress, '', value);
    }
  });
});
