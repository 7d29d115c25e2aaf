import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSync } from '@grpc/proto-loader';
import { checkRequestReader } from '../../src/cli/check-request-json.js';
import { LOADER_OPTIONS } from '../../src/grpc/protos.js';
import { decodeCheckRequest } from '../../src/grpc/wire/check-request.js';
import { DocumentError } from '../../src/shared/index.js';
import { envoyRequest, envoyRequestJson } from '../../testkit/envoy-client.js';
import { ENVOY_PROTO_DIRS } from '../../testkit/paths.js';

/*
 * A CheckRequest in proto3 JSON must come out as what the sidecar decodes from the same
 * request on the wire: each request is built on Envoy's own protos, encoded with them (the
 * bytes a served Check decodes), and printed as proto3 JSON by them (what replay reads).
 */

const envoyCheck = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: ENVOY_PROTO_DIRS })[
  'envoy.service.auth.v3.Authorization'
] as Record<string, any>;
const onTheWire = (request: unknown) => decodeCheckRequest(envoyCheck.Check.requestSerialize(request) as Buffer);

const read = checkRequestReader();
const readLine = (line: string) => read(JSON.parse(line) as Record<string, unknown>, 'checks.jsonl:1');

/** Every field Envoy sends, read by the sidecar or not. */
function fullRequest(): any {
  const request = envoyRequest({
    path: '/api/orders/7?x=1',
    headers: { authorization: 'Bearer abc', 'x-tenant-id': 'acme', empty: '' },
    principal: 'spiffe://cluster.local/ns/shop/sa/checkout',
    contextExtensions: { route: 'api', blank: '' },
    id: '99',
  }) as any;
  request.attributes.tls_session = { sni: 'orders.example.test' };
  request.attributes.destination.principal = 'spiffe://cluster.local/ns/shop/sa/orders';
  request.attributes.source.service = 'checkout';
  request.attributes.request.http.fragment = 'top';
  request.attributes.request.http.size = '12';
  request.attributes.request.http.raw_body = Buffer.from([0, 1, 2]);
  return request;
}

describe('checkRequestReader', () => {
  for (const names of ['json', 'proto'] as const) {
    it(`reads a full request written with ${names} field names as the wire decoder does`, () => {
      const request = fullRequest();
      const line = envoyRequestJson(request, names);
      assert.equal(line.includes('"contextExtensions"'), names === 'json');
      assert.deepStrictEqual(readLine(line), onTheWire(request));
    });

    it(`reads raw header bytes (header_map) written with ${names} field names`, () => {
      const request = envoyRequest({
        rawHeaders: [
          ['cookie', Buffer.from([0x61, 0xff, 0x3d, 0x62])],
          ['x-empty', ''],
        ],
      });
      assert.deepStrictEqual(readLine(envoyRequestJson(request, names)), onTheWire(request));
    });
  }

  it('takes null as absent, and a port as a string of digits', () => {
    const ours = readLine('{"attributes":{"source":{"address":{"socketAddress":{"address":"10.0.0.1","portValue":"8080"}},"principal":null}}}');
    assert.deepStrictEqual(ours, {
      attributes: {
        source: { address: { address: 'socket_address', socket_address: { address: '10.0.0.1', port_value: 8080, port_specifier: 'port_value' } } },
      },
    });
    assert.deepStrictEqual(readLine('{"attributes":null}'), {});
  });

  it('refuses a field of the wrong type, or given under both names, naming where and which', () => {
    const cases: Array<[string, string]> = [
      ['{"attributes":{"request":{"http":{"headers":{"a":1}}}}}', 'checks.jsonl:1: attributes.request.http.headers.a: must be a string'],
      ['{"attributes":{"request":"GET /"}}', 'checks.jsonl:1: attributes.request: must be an object'],
      [
        '{"attributes":{"request":{"http":{"headerMap":{"headers":[{"rawValue":"%%"}]}}}}}',
        'checks.jsonl:1: attributes.request.http.header_map.headers[0].raw_value: must be base64 text',
      ],
      ['{"attributes":{"request":{"http":{"headerMap":{"headers":{}}}}}}', 'checks.jsonl:1: attributes.request.http.header_map.headers: must be a list'],
      [
        '{"attributes":{"source":{"address":{"socket_address":{"port_value":-1}}}}}',
        'checks.jsonl:1: attributes.source.address.socket_address.port_value: must be a whole number from 0 to 4294967295',
      ],
      [
        '{"attributes":{"context_extensions":{},"contextExtensions":{}}}',
        'checks.jsonl:1: attributes.context_extensions: given twice, as "context_extensions" and "contextExtensions"',
      ],
    ];
    for (const [line, message] of cases)
      assert.throws(
        () => readLine(line),
        (error: unknown) => error instanceof DocumentError && error.message === message,
        line,
      );
  });

  it('ignores what the sidecar does not read, whatever its shape', () => {
    assert.deepStrictEqual(readLine('{"attributes":{"request":{"time":42,"http":{"path":"/","scheme":[]}},"metadataContext":"x","unknown":{}}}'), {
      attributes: { request: { http: { path: '/' } } },
    });
  });
});
