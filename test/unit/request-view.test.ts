import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSync } from '@grpc/proto-loader';
import { buildRequestView, RequestError, type RequestErrorCode, type RequestLimits } from '../../src/request/index.js';
import { LOADER_OPTIONS, PROTO_ROOT } from '../../src/grpc/protos.js';
import type { CheckRequest, CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { _envoy_service_auth_v3_AttributeContext_HttpRequest__Output as Http } from '../../src/generated/envoy/service/auth/v3/AttributeContext.js';
import type { HeaderValue__Output } from '../../src/generated/envoy/config/core/v3/HeaderValue.js';

function request(http: Http, extra: Partial<NonNullable<CheckRequest__Output['attributes']>> = {}): CheckRequest__Output {
  return { attributes: { request: { http }, ...extra } };
}

function basic(overrides: Partial<Http> = {}): CheckRequest__Output {
  return request({ id: '123', method: 'GET', path: '/api/orders?id=7', host: 'Shop.Example:8443', headers: {}, ...overrides });
}

function rejects(req: CheckRequest__Output, code: RequestErrorCode, limits?: RequestLimits): RequestError {
  let caught: unknown;
  assert.throws(
    () => buildRequestView(req, limits),
    (error: unknown) => {
      caught = error;
      return error instanceof RequestError && error.code === code;
    },
  );
  return caught as RequestError;
}

function entries(...pairs: Array<[string, string | Buffer]>): { headers: HeaderValue__Output[] } {
  return { headers: pairs.map(([key, v]) => (typeof v === 'string' ? { key, value: v } : { key, raw_value: v })) };
}

describe('buildRequestView: request line', () => {
  it('keeps the method, normalises host and path', () => {
    const view = buildRequestView(basic({ path: '/api/%2e%2e/admin//x?q=a+b' }));
    assert.equal(view.method, 'GET');
    assert.equal(view.host, 'shop.example:8443');
    assert.equal(view.path, '/admin/x');
    assert.equal(view.rawPath, '/api/%2e%2e/admin//x?q=a+b');
    assert.deepEqual({ ...view.query }, { q: 'a b' });
  });

  it('falls back to pseudo-headers', () => {
    const view = buildRequestView(request({ headers: { ':method': 'POST', ':path': '/p', ':authority': 'A.test' } }));
    assert.equal(view.method, 'POST');
    assert.equal(view.path, '/p');
    assert.equal(view.host, 'a.test');
    assert.equal(view.headers[':authority'], 'A.test');
  });

  it('prefers http.method/path/host over pseudo-headers', () => {
    const view = buildRequestView(basic({ headers: { ':method': 'DELETE', ':path': '/other', ':authority': 'other' } }));
    assert.deepEqual([view.method, view.path, view.host], ['GET', '/api/orders', 'shop.example:8443']);
  });

  it('rejects a missing or non-token method, a missing path, a bad host', () => {
    rejects(basic({ method: undefined }), 'malformed_request');
    rejects(basic({ method: 'GE T' }), 'malformed_request');
    rejects(basic({ method: 'po\u017Ft' }), 'malformed_request'); // "ſ".toUpperCase() === "S"
    rejects(basic({ path: undefined }), 'malformed_request');
    rejects(basic({ path: '' }), 'malformed_request');
    rejects(basic({ host: 'a\u212A.test' }), 'malformed_request');
  });

  it('keeps the method exactly as sent, extension methods included', () => {
    for (const method of ['GET', 'DELETE', 'PROPFIND', 'M-SEARCH', 'X_CUSTOM.1']) {
      assert.equal(buildRequestView(basic({ method })).method, method);
    }
  });

  it('refuses a method with a lower-case letter instead of upper-casing it', () => {
    for (const method of ['get', 'Get', 'gET', 'delete', 'propfind', 'm-search']) {
      const error = rejects(basic({ method, headers: { 'x-request-id': 'rid-m' } }), 'lowercase_method');
      assert.equal(error.status, 400);
      assert.equal(error.requestId, 'rid-m');
    }
    rejects(request({ headers: { ':method': 'get', ':path': '/p' } }), 'lowercase_method');
  });

  it('rejects missing attributes, request or http without a TypeError', () => {
    rejects({}, 'malformed_request');
    rejects({ attributes: {} }, 'malformed_request');
    rejects({ attributes: { request: {} } }, 'malformed_request');
    rejects(null as unknown as CheckRequest__Output, 'malformed_request');
  });

  it('carries the request id on path errors', () => {
    const error = rejects(basic({ path: '/a/../../etc', headers: { 'x-request-id': 'rid-1' } }), 'path_traversal');
    assert.equal(error.requestId, 'rid-1');
    assert.equal(error.status, 400);
  });
});

describe('buildRequestView: request id and peer', () => {
  it('prefers x-request-id over http.id, else ""', () => {
    assert.equal(buildRequestView(basic({ headers: { 'x-request-id': 'abc' } })).id, 'abc');
    assert.equal(buildRequestView(basic({ header_map: entries(['X-Request-Id', 'hm']) })).id, 'hm');
    assert.equal(buildRequestView(basic()).id, '123');
    assert.equal(buildRequestView(basic({ id: undefined })).id, '');
  });

  it('reads source address, principal and context extensions', () => {
    const view = buildRequestView(
      request(basic().attributes!.request!.http!, {
        source: { address: { socket_address: { address: '10.1.2.3', port_value: 51234 } }, principal: 'spiffe://cluster.local/ns/a/sa/b' },
        context_extensions: { route: 'orders' },
      }),
    );
    assert.equal(view.sourceAddress, '10.1.2.3:51234');
    assert.equal(view.sourcePrincipal, 'spiffe://cluster.local/ns/a/sa/b');
    assert.deepEqual({ ...view.contextExtensions }, { route: 'orders' });
  });

  it('brackets IPv6 and defaults to empty values', () => {
    const v6 = buildRequestView(request(basic().attributes!.request!.http!, { source: { address: { socket_address: { address: '::1', port_value: 80 } } } }));
    assert.equal(v6.sourceAddress, '[::1]:80');
    const none = buildRequestView(basic());
    assert.deepEqual([none.sourceAddress, none.sourcePrincipal, Object.keys(none.contextExtensions)], ['', '', []]);
  });
});

describe('buildRequestView: headers', () => {
  it('lower-cases names from both sources and merges them', () => {
    const view = buildRequestView(
      basic({ headers: { 'X-Tenant-Id': 't1', accept: 'json' }, header_map: entries(['Authorization', 'Bearer x'], ['Accept', 'xml']) }),
    );
    assert.deepEqual({ ...view.headers }, { authorization: 'Bearer x', accept: 'xml', 'x-tenant-id': 't1' });
    assert.equal(view.repeatedHeaders.size, 0);
  });

  it('joins repeated header_map entries and reports them', () => {
    const view = buildRequestView(basic({ header_map: entries(['authorization', 'Bearer a'], ['x', '1'], ['Authorization', 'Bearer b']) }));
    assert.equal(view.headers['authorization'], 'Bearer a,Bearer b');
    assert.deepEqual([...view.repeatedHeaders], ['authorization']);
  });

  it('decodes raw_value bytes as latin1, losslessly', () => {
    const view = buildRequestView(basic({ header_map: entries(['x-bin', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff])], ['x-utf8', Buffer.from('é', 'utf8')]) }));
    assert.equal(view.headers['x-bin'], 'caf\u00e9\u00ff');
    assert.equal(view.headers['x-utf8'], '\u00c3\u00a9');
  });

  it('uses value when raw_value is empty', () => {
    const view = buildRequestView(basic({ header_map: { headers: [{ key: 'a', value: 'v', raw_value: Buffer.alloc(0) }, { key: 'b' }] } }));
    assert.deepEqual({ ...view.headers }, { a: 'v', b: '' });
  });

  it('rejects invalid names and values', () => {
    rejects(basic({ headers: { 'bad name': 'x' } }), 'invalid_header');
    rejects(basic({ headers: { '': 'x' } }), 'invalid_header');
    rejects(basic({ headers: { ':': 'x' } }), 'invalid_header');
    rejects(basic({ header_map: entries(['\u212Aey', 'x']) }), 'invalid_header');
    rejects(basic({ headers: { a: 'x\r\nInjected: 1' } }), 'invalid_header');
    rejects(basic({ header_map: entries(['a', Buffer.from([0x61, 0x00])]) }), 'invalid_header');
    rejects(basic({ header_map: { headers: [{ value: 'x' }] } }), 'invalid_header');
  });

  it('treats __proto__ as an ordinary header name', () => {
    const view = buildRequestView(basic({ header_map: entries(['__proto__', 'x']) }));
    assert.equal(view.headers['__proto__'], 'x');
    assert.equal(Object.getPrototypeOf(view.headers), null);
  });
});

describe('buildRequestView: limits', () => {
  const many = (n: number) => entries(...Array.from({ length: n }, (_, i): [string, string] => [`h${i}`, 'v']));

  it('accepts 200 headers and rejects 201 by default', () => {
    assert.equal(Object.keys(buildRequestView(basic({ header_map: many(200) })).headers).length, 200);
    const error = rejects(basic({ header_map: many(201) }), 'too_many_headers');
    assert.equal(error.status, 431);
    assert.equal(error.requestId, '123');
  });

  it('counts entries from both sources', () => {
    rejects(basic({ header_map: many(2), headers: { a: '1', b: '2' } }), 'too_many_headers', { maxHeaders: 3 });
  });

  it('limits total header bytes, raw and UTF-8', () => {
    const big = 'x'.repeat(64 * 1024 - 1);
    assert.equal(buildRequestView(basic({ headers: { a: big } })).headers['a'], big);
    rejects(basic({ headers: { ab: big } }), 'header_too_large');
    rejects(basic({ header_map: entries(['a', Buffer.alloc(10, 0x61)]) }), 'header_too_large', { maxHeaderBytes: 10 });
    rejects(basic({ headers: { a: 'éé' } }), 'header_too_large', { maxHeaderBytes: 4 });
    assert.equal(buildRequestView(basic({ headers: { a: 'é😀' } }), { maxHeaderBytes: 7 }).headers['a'], 'é😀');
    rejects(basic({ headers: { a: 'é😀' } }), 'header_too_large', { maxHeaderBytes: 6 });
    // A map entry shadowed by header_map is not counted; the rest are, exactly.
    const mixed = basic({ header_map: entries(['A', Buffer.from('x')]), headers: { a: 'éééé', b: 'é' } });
    assert.equal(buildRequestView(mixed, { maxHeaderBytes: 5 }).headers['b'], 'é');
    rejects(mixed, 'header_too_large', { maxHeaderBytes: 4 });
  });

  it('applies maxPathBytes', () => {
    rejects(basic({ path: '/12345' }), 'invalid_path', { maxPathBytes: 5 });
  });

  it('throws TypeError for nonsensical limits', () => {
    assert.throws(() => buildRequestView(basic(), { maxHeaders: 0 }), TypeError);
    assert.throws(() => buildRequestView(basic(), { maxHeaderBytes: 1.5 }), TypeError);
  });
});

describe('buildRequestView: immutability', () => {
  it('freezes the view, its maps and the repeated-header set', () => {
    const view = buildRequestView(basic({ headers: { a: '1' }, header_map: entries(['b', '1'], ['b', '2']) }));
    assert.ok(Object.isFrozen(view) && Object.isFrozen(view.headers) && Object.isFrozen(view.query));
    assert.ok(Object.isFrozen(view.contextExtensions));
    assert.throws(() => ((view.headers as Record<string, string>)['a'] = 'x'), TypeError);
    assert.throws(() => (view.repeatedHeaders as Set<string>).add('c'), TypeError);
    assert.throws(() => (buildRequestView(basic()).repeatedHeaders as Set<string>).add('c'), TypeError);
  });

  it("does not freeze the caller's request", () => {
    const req = request(basic().attributes!.request!.http!, { context_extensions: { k: 'v' } });
    buildRequestView(req);
    assert.equal(Object.isFrozen(req.attributes!.context_extensions), false);
  });
});

describe('buildRequestView: decoded by proto-loader', () => {
  it('reads a CheckRequest as grpc-js decodes it', () => {
    const definition = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
    const check = (definition['envoy.service.auth.v3.Authorization'] as Record<string, any>)['Check'];
    const wire: CheckRequest = {
      attributes: {
        source: { address: { socket_address: { address: '192.0.2.1', port_value: 4000 } } },
        request: {
          http: {
            id: 's1',
            method: 'GET',
            path: '/a/%2E/b?x=1',
            host: 'h',
            header_map: {
              headers: [
                { key: ':path', value: '/a/%2E/b?x=1' },
                { key: 'cookie', raw_value: Buffer.from([0xe9]) },
                { key: 'cookie', value: 'b=2' },
              ],
            },
          },
        },
      },
    };
    const decoded = check.requestDeserialize(check.requestSerialize(wire)) as CheckRequest__Output;
    const view = buildRequestView(decoded);
    assert.deepEqual(
      [view.id, view.path, view.sourceAddress, view.headers['cookie'], [...view.repeatedHeaders]],
      ['s1', '/a/b', '192.0.2.1:4000', '\u00e9,b=2', ['cookie']],
    );
  });
});
