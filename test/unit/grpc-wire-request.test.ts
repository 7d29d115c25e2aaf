import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { loadSync } from '@grpc/proto-loader';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import { loadAuthProto, LOADER_OPTIONS } from '../../src/grpc/protos.js';
import { decodeCheckRequest } from '../../src/grpc/wire/check-request.js';
import { WireError } from '../../src/grpc/wire/reader.js';
import { buildRequestView, type RequestLimits } from '../../src/request/view.js';
import { RequestError } from '../../src/request/errors.js';
import { envoyRequest } from '../../testkit/envoy-client.js';
import { ENVOY_PROTO_DIRS } from '../../testkit/paths.js';

/*
 * decodeCheckRequest against the decoder it replaces: @grpc/proto-loader (protobufjs) over
 * our protos, the server's deserializer before the hand-written one. Inputs are encoded with
 * Envoy's own protos (so every field Envoy may send, read or not, is on the wire) and with a
 * raw writer below (field order, duplicates, invalid UTF-8, map entries missing a half,
 * unknown fields of every wire type) — then mutated for the fuzz part.
 */

type Json = Record<string, any>;

const reference = loadAuthProto().envoy.service.auth.v3.Authorization.service.Check.requestDeserialize as (buf: Buffer) => CheckRequest__Output;
const envoyCheck = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: ENVOY_PROTO_DIRS })[
  'envoy.service.auth.v3.Authorization'
] as Json;
const encodeEnvoy = (request: unknown): Buffer => envoyCheck.Check.requestSerialize(request);

// ---- what decodeCheckRequest keeps of proto-loader's object ------------------------------

type Keep = true | ((value: unknown) => boolean) | { [field: string]: Keep } | [Keep];

/** The subset buildRequestView reads; oneof markers only when they name a member we decode. */
const SUBSET: Keep = {
  attributes: {
    source: {
      address: { socket_address: { address: true, port_value: true, port_specifier: (v) => v === 'port_value' }, address: (v) => v === 'socket_address' },
      principal: true,
    },
    request: {
      http: { id: true, method: true, headers: true, header_map: { headers: [{ key: true, value: true, raw_value: true }] }, path: true, host: true },
    },
    context_extensions: true,
  },
};

function project(value: any, keep: Keep): any {
  if (keep === true) return value;
  if (typeof keep === 'function') return value;
  if (Array.isArray(keep)) return (value as unknown[]).map((item) => project(item, keep[0]));
  const out: Json = {};
  for (const [field, sub] of Object.entries(keep)) {
    const v = value[field];
    if (v === undefined) continue;
    if (typeof sub === 'function' && !sub(v)) continue;
    out[field] = project(v, sub);
  }
  return out;
}

type ViewOutcome = { view: unknown } | { error: string };

function viewOf(request: CheckRequest__Output, limits?: RequestLimits): ViewOutcome {
  try {
    return { view: buildRequestView(request, limits) };
  } catch (error) {
    if (error instanceof RequestError) return { error: error.code };
    throw error;
  }
}

const TIGHT: RequestLimits = { maxHeaders: 6, maxHeaderBytes: 300, maxPathBytes: 32 };

/** The decoded subset and the views (default and tight limits) are identical. */
function assertEquivalent(bytes: Buffer, label: string): void {
  const ours = decodeCheckRequest(bytes);
  const theirs = reference(bytes);
  assert.deepStrictEqual(ours, project(theirs, SUBSET), label);
  assert.deepStrictEqual(viewOf(ours), viewOf(theirs), label);
  assert.deepStrictEqual(viewOf(ours, TIGHT), viewOf(theirs, TIGHT), label);
}

// ---- raw protobuf writer ----------------------------------------------------------------

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
const key = (field: number, type: number): Buffer => varint((field << 3) | type);
const vi = (field: number, value: number | bigint): Buffer => Buffer.concat([key(field, 0), varint(value)]);
function ld(field: number, ...parts: Array<Buffer | string>): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  return Buffer.concat([key(field, 2), varint(body.length), body]);
}
const f32 = (field: number, value: number): Buffer => Buffer.concat([key(field, 5), Buffer.from(new Uint32Array([value >>> 0]).buffer)]);
const f64 = (field: number, value: number): Buffer => Buffer.concat([key(field, 1), Buffer.from(new Float64Array([value]).buffer)]);
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

// ---- seeded randomness ------------------------------------------------------------------

class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  times<T>(max: number, make: () => T): T[] {
    return Array.from({ length: this.int(max + 1) }, make);
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  bytes(max: number): Buffer {
    return Buffer.from(Array.from({ length: this.int(max + 1) }, () => this.int(256)));
  }
}

const GOOD_NAMES = [
  ':method',
  ':path',
  ':authority',
  ':scheme',
  'host',
  'user-agent',
  'accept',
  'authorization',
  'cookie',
  'x-request-id',
  'x-tenant-id',
  'x-forwarded-for',
  'X-Mixed-Case',
  'x-service-token',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '123',
  '0',
  'x-auth-subject',
];
const BAD_NAMES = ['bad name', '', 'x:y', 'ümlaut'];
const randomName = (r: Random): string => (r.chance(0.97) ? r.pick(GOOD_NAMES) : r.pick(BAD_NAMES));
const JWT = `eyJhbGciOiJFUzI1NiIsImtpZCI6ImlkcC1kZXYtMSJ9.${'e'.repeat(200)}.${'s'.repeat(86)}`;

function randomText(r: Random): string {
  switch (r.int(10)) {
    case 0:
      return '';
    case 1:
      return r.pick([
        'GET',
        'POST',
        'get',
        'OPTIONS',
        'G E T',
        '/',
        '/api/orders',
        '/a/../../b',
        '/x%2Fy',
        '/a;b',
        '/p?q=1&r=2',
        'orders.example.test',
        'EXAMPLE.test:8080',
        'bad host',
      ]);
    case 2:
      return `Bearer ${JWT}`;
    case 3:
      return r.pick(['héllo', '日本語', '😀 emoji', 'a\u0000b', 'line\r\nbreak', '\ud800lone', 'tail\udfff', 'tab\there']);
    case 4:
      return 'v'.repeat(r.int(400));
    default: {
      const length = r.int(24);
      let text = '';
      for (let i = 0; i < length; i++) text += String.fromCharCode(0x20 + r.int(95));
      return text;
    }
  }
}

/** A header value that passes the view's checks (most do; randomText covers the rest). */
function randomValue(r: Random): string {
  const text = randomText(r);
  return /[\u0000\r\n]/.test(text) ? 'fine' : text;
}

function randomMap(r: Random, max: number): Json {
  // JSON.parse makes `__proto__` an own key, as protobufjs's fromObject expects.
  const entries = r.times(max, () => [randomName(r), r.chance(0.9) ? randomValue(r) : randomText(r)]);
  return JSON.parse(JSON.stringify(Object.fromEntries(entries.filter(([k]) => k !== '__proto__')))) as Json;
}

function withProto(map: Json, r: Random): Json {
  if (r.chance(0.1)) Object.defineProperty(map, '__proto__', { value: randomText(r), enumerable: true, configurable: true, writable: true });
  return map;
}

function randomStructValue(r: Random, depth: number): Json {
  switch (depth > 2 ? r.int(4) : r.int(6)) {
    case 0:
      return { nullValue: 'NULL_VALUE' };
    case 1:
      return { numberValue: r.pick([0, -1.5, 1e300, 42]) };
    case 2:
      return { stringValue: randomText(r) };
    case 3:
      return { boolValue: r.chance(0.5) };
    case 4:
      return { structValue: randomStruct(r, depth + 1) };
    default:
      return { listValue: { values: r.times(3, () => randomStructValue(r, depth + 1)) } };
  }
}

function randomStruct(r: Random, depth = 0): Json {
  return { fields: Object.fromEntries(r.times(3, () => [`k${r.int(9)}`, randomStructValue(r, depth)])) };
}

function randomMetadata(r: Random): Json {
  return {
    filter_metadata: Object.fromEntries(r.times(2, () => [r.pick(['envoy.filters.http.jwt_authn', 'istio_authn', 'x']), randomStruct(r)])),
    typed_filter_metadata: Object.fromEntries(r.times(1, () => ['typed', { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: r.bytes(12) }])),
  };
}

function randomAddress(r: Random): Json {
  switch (r.int(5)) {
    case 0:
      return { pipe: { path: '/var/run/envoy.sock', mode: r.int(512) } };
    case 1:
      return { envoy_internal_address: { server_listener_name: 'internal', endpoint_id: 'e1' } };
    case 2:
      return {};
    default: {
      const socket: Json = { address: r.pick(['10.0.0.7', '::1', '2001:db8::1', '', 'not-an-ip']), protocol: r.pick(['TCP', 'UDP']) };
      if (r.chance(0.8)) socket.port_value = r.pick([0, 1, 51000, 65535, 4294967295]);
      else if (r.chance(0.5)) socket.named_port = 'http';
      if (r.chance(0.3)) socket.resolver_name = 'dns';
      if (r.chance(0.3)) socket.ipv4_compat = r.chance(0.5);
      return { socket_address: socket };
    }
  }
}

function randomPeer(r: Random): Json {
  const peer: Json = {};
  if (r.chance(0.9)) peer.address = randomAddress(r);
  if (r.chance(0.3)) peer.service = 'orders';
  if (r.chance(0.3)) peer.labels = randomMap(r, 3);
  if (r.chance(0.5)) peer.principal = r.pick(['', 'spiffe://cluster.local/ns/shop/sa/checkout', randomText(r)]);
  if (r.chance(0.2)) peer.certificate = `-----BEGIN CERTIFICATE-----${'M'.repeat(r.int(600))}`;
  return peer;
}

function randomHttp(r: Random): Json {
  const http: Json = {};
  const maybe = (field: string, p: number, make: () => unknown): void => {
    if (r.chance(p)) http[field] = make();
  };
  maybe('id', 0.9, () => String(r.int(1e9)));
  maybe('method', 0.95, () => (r.chance(0.9) ? r.pick(['GET', 'POST', 'DELETE']) : randomText(r)));
  const form = r.int(4); // 0: headers map, 1: header_map, 2: both, 3: neither
  if (form === 0 || form === 2) http.headers = withProto(randomMap(r, 12), r);
  if (form === 1 || form === 2) {
    http.header_map = {
      headers: r.times(12, () => {
        const entry: Json = {};
        if (r.chance(0.97)) entry.key = randomName(r);
        if (r.chance(0.5)) entry.value = r.chance(0.9) ? randomValue(r) : randomText(r);
        if (r.chance(0.6)) entry.raw_value = r.chance(0.8) ? Buffer.from(randomValue(r)) : r.bytes(40);
        return entry;
      }),
    };
  }
  maybe('path', 0.95, () => (r.chance(0.8) ? r.pick(['/', '/api/orders', '/api/orders/42?x=1']) : randomText(r)));
  maybe('host', 0.8, () => (r.chance(0.9) ? 'orders.example.test' : randomText(r)));
  maybe('scheme', 0.5, () => 'https');
  maybe('query', 0.3, () => 'x=1');
  maybe('fragment', 0.1, () => 'frag');
  maybe('size', 0.4, () => r.pick(['0', '-1', '12345678901234', '9223372036854775807']));
  maybe('protocol', 0.5, () => 'HTTP/2');
  maybe('body', 0.2, () => randomText(r));
  maybe('raw_body', 0.2, () => r.bytes(100));
  return http;
}

/** A CheckRequest as Envoy's protos describe it, read and unread fields alike. */
function randomEnvoyRequest(r: Random): Json {
  if (r.chance(0.02)) return {};
  const attributes: Json = {};
  if (r.chance(0.9)) attributes.source = randomPeer(r);
  if (r.chance(0.5)) attributes.destination = randomPeer(r);
  if (r.chance(0.95)) {
    attributes.request = {};
    if (r.chance(0.5)) attributes.request.time = { seconds: String(1_700_000_000 + r.int(1e8)), nanos: r.int(1e9) };
    if (r.chance(0.95)) attributes.request.http = randomHttp(r);
  }
  if (r.chance(0.4)) attributes.context_extensions = withProto(randomMap(r, 4), r);
  if (r.chance(0.3)) attributes.metadata_context = randomMetadata(r);
  if (r.chance(0.2)) attributes.route_metadata_context = randomMetadata(r);
  if (r.chance(0.3)) attributes.tls_session = { sni: 'orders.example.test' };
  return { attributes };
}

// Raw flavour: any field order, repeats, invalid UTF-8, half map entries, unknown fields.

const INVALID_UTF8 = [[0xff], [0xc3], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xe2, 0x82], [0x80, 0x80]];

function rawText(r: Random): Buffer {
  if (r.chance(0.6)) return Buffer.from(randomText(r));
  const parts: Buffer[] = [];
  for (let i = r.int(4) + 1; i > 0; i--) parts.push(r.chance(0.5) ? Buffer.from(r.pick(['a', 'ok', '日', ' '])) : Buffer.from(r.pick(INVALID_UTF8)));
  return Buffer.concat(parts);
}

function rawName(r: Random): Buffer {
  return r.chance(0.9) ? Buffer.from(randomName(r)) : rawText(r);
}

/** Fields no message of ours declares, of every wire type proto3 uses. */
function unknownFields(r: Random): Buffer[] {
  return r.times(2, () => {
    const field = 1000 + r.int(5000);
    switch (r.int(4)) {
      case 0:
        return vi(field, r.pick([0, 1, 2 ** 53, -1n, 2n ** 64n - 1n]));
      case 1:
        return f32(field, r.int(2 ** 32));
      case 2:
        return f64(field, r.next());
      default:
        return ld(field, r.bytes(20));
    }
  });
}

function repeat(r: Random, max: number, make: () => Buffer): Buffer[] {
  return r.times(max, make);
}

function rawMapEntry(r: Random, field: number): Buffer {
  const parts = [...repeat(r, 2, () => ld(1, rawName(r))), ...repeat(r, 2, () => ld(2, rawText(r))), ...(r.chance(0.2) ? unknownFields(r) : [])];
  return ld(field, ...r.shuffle(parts));
}

function rawHeaderValue(r: Random): Buffer {
  const parts = [
    ...repeat(r, 1, () => ld(1, rawName(r))),
    ...repeat(r, 1, () => ld(2, rawText(r))),
    ...repeat(r, 1, () => ld(3, r.bytes(30))),
    ...(r.chance(0.2) ? unknownFields(r) : []),
  ];
  if (r.chance(0.1)) parts.push(ld(1, rawName(r))); // a repeated scalar: last one wins
  return ld(1, ...r.shuffle(parts));
}

function rawHttp(r: Random): Buffer {
  const parts: Buffer[] = [
    ...repeat(r, 1, () => ld(1, rawText(r))),
    ld(2, Buffer.from(r.pick(['GET', 'POST', 'PUT']))),
    ...repeat(r, 8, () => rawMapEntry(r, 3)),
    ld(4, r.chance(0.8) ? Buffer.from(r.pick(['/', '/api/orders', '/x/y'])) : rawText(r)),
    ...repeat(r, 1, () => ld(5, r.chance(0.8) ? Buffer.from('orders.example.test') : rawText(r))),
    ...repeat(r, 2, () => ld(13, ...r.shuffle([...repeat(r, 8, () => rawHeaderValue(r)), ...(r.chance(0.2) ? unknownFields(r) : [])]))),
    ...repeat(r, 1, () => ld(6, 'https')),
    ...repeat(r, 1, () => vi(9, r.pick([0, 5, -1n, 2 ** 40]))),
    ...repeat(r, 1, () => ld(12, r.bytes(50))),
    ...unknownFields(r),
  ];
  return ld(2, ...r.shuffle(parts));
}

function rawSocketAddress(r: Random): Buffer {
  const parts = [
    ...repeat(r, 2, () => ld(2, r.chance(0.8) ? Buffer.from(r.pick(['10.0.0.1', '::1'])) : rawText(r))),
    ...repeat(r, 2, () => vi(3, r.pick([0, 80, 65535, 2 ** 32 - 1]))),
    ...repeat(r, 1, () => vi(1, 1)),
    ...unknownFields(r),
  ];
  return ld(1, ...r.shuffle(parts));
}

function rawPeer(r: Random, field: number): Buffer {
  const parts = [
    ...repeat(r, 2, () => ld(1, ...r.shuffle([...repeat(r, 2, () => rawSocketAddress(r)), ...unknownFields(r)]))),
    ...repeat(r, 2, () => ld(4, rawText(r))),
    ...repeat(r, 1, () => ld(2, 'svc')),
    ...repeat(r, 2, () => rawMapEntry(r, 3)),
    ...unknownFields(r),
  ];
  return ld(field, ...r.shuffle(parts));
}

function rawRequest(r: Random): Buffer {
  const attributes = (): Buffer =>
    ld(
      1,
      ...r.shuffle([
        ...repeat(r, 2, () => rawPeer(r, 1)),
        ...repeat(r, 1, () => rawPeer(r, 2)),
        ...repeat(r, 2, () => ld(4, ...r.shuffle([...repeat(r, 2, () => rawHttp(r)), ...unknownFields(r)]))),
        ld(4, ...r.shuffle([rawHttp(r), ...unknownFields(r)])),
        ...repeat(r, 4, () => rawMapEntry(r, 10)),
        ...repeat(r, 1, () => ld(12, ld(1, 'sni'))),
        ...unknownFields(r),
      ]),
    );
  return cat(...r.shuffle([attributes(), ...repeat(r, 1, attributes), ...unknownFields(r)]));
}

// ---- hand-written cases -----------------------------------------------------------------

function handWritten(): Array<[string, Buffer]> {
  const full = {
    attributes: {
      source: {
        address: { socket_address: { address: '10.0.0.7', port_value: 51000, protocol: 'TCP' } },
        service: 'checkout',
        labels: { app: 'checkout' },
        principal: 'spiffe://cluster.local/ns/shop/sa/checkout',
        certificate: '-----BEGIN CERTIFICATE-----MIIB',
      },
      destination: { address: { socket_address: { address: '10.0.0.8', port_value: 8080 } }, principal: 'spiffe://cluster.local/ns/shop/sa/orders' },
      request: {
        time: { seconds: '1764000000', nanos: 5 },
        http: {
          id: '4242',
          method: 'POST',
          headers: { ':method': 'POST', ':path': '/api/orders', ':authority': 'orders.example.test', authorization: `Bearer ${JWT}`, 'x-request-id': 'req-1' },
          path: '/api/orders',
          host: 'orders.example.test',
          scheme: 'https',
          query: 'a=1',
          fragment: 'f',
          size: '9223372036854775807',
          protocol: 'HTTP/2',
          body: '{"a":1}',
          raw_body: Buffer.from([0, 1, 2, 255]),
        },
      },
      context_extensions: { virtual_host: 'orders', '': 'empty key' },
      metadata_context: {
        filter_metadata: {
          'envoy.filters.http.jwt_authn': {
            fields: {
              payload: {
                structValue: {
                  fields: {
                    sub: { stringValue: 'alice' },
                    n: { numberValue: 1.5 },
                    ok: { boolValue: true },
                    none: { nullValue: 'NULL_VALUE' },
                    l: { listValue: { values: [{ stringValue: 'x' }] } },
                  },
                },
              },
            },
          },
        },
        typed_filter_metadata: { t: { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x78]) } },
      },
      route_metadata_context: { filter_metadata: { r: { fields: { k: { stringValue: 'v' } } } } },
      tls_session: { sni: 'orders.example.test' },
    },
  };
  const protoKeys = JSON.parse('{"__proto__": "p", "constructor": "c", "toString": "t", "123": "n", "X-Upper": "u"}');

  const bad = (...values: number[]): Buffer => Buffer.from(values);
  // Field numbers: CheckRequest.attributes 1; AttributeContext source 1, request 4, context_extensions 10;
  // Peer address 1, principal 4; Address socket_address 1; SocketAddress address 2, port_value 3;
  // Request http 2; HttpRequest id 1, method 2, headers 3, path 4, host 5, header_map 13; HeaderMap headers 1.
  const invalidUtf8 = ld(
    1,
    ld(1, ld(1, ld(1, ld(2, bad(0xff, 0x31)), vi(3, 9))), ld(4, bad(0xc0, 0x80))),
    ld(
      4,
      ld(
        2,
        ld(1, bad(0xed, 0xa0, 0x80)),
        ld(2, 'GET'),
        ld(4, bad(0x2f, 0xf0, 0x9f)),
        ld(5, bad(0xe2, 0x82)),
        ld(3, ld(1, 'x-a'), ld(2, bad(0x61, 0xff))),
        ld(13, ld(1, ld(1, bad(0x78, 0xff)), ld(2, bad(0xff)))),
      ),
    ),
    ld(10, ld(1, bad(0xfe)), ld(2, bad(0xc3))),
  );
  const reversed = ld(
    1,
    ld(10, ld(2, 'v'), ld(1, 'k')),
    ld(4, ld(2, ld(13, ld(1, ld(3, 'raw'), ld(1, 'x-r'))), ld(5, 'h.test'), ld(4, '/p'), ld(3, ld(2, 'v'), ld(1, 'x-m')), ld(2, 'GET'), ld(1, 'id'))),
    ld(1, ld(4, 'p'), ld(1, ld(1, vi(3, 1), ld(2, '1.2.3.4')))),
  );
  const twice = ld(
    1,
    ld(4, ld(2, ld(2, 'GET'), ld(4, '/one'), ld(3, ld(1, 'x-a'), ld(2, '1')))),
    ld(4, ld(2, ld(4, '/two'))),
    ld(1, ld(4, 'first')),
    ld(1, ld(4, 'second')),
  );
  const halfEntries = ld(
    2,
    ld(2, 'GET'),
    ld(4, '/'),
    ld(3, ld(2, 'no key')),
    ld(3, ld(1, 'x-no-value')),
    ld(3),
    ld(3, ld(1, 'x-a'), ld(1, 'x-b'), ld(2, '1'), ld(2, '2')),
    ld(3, ld(1, 'x-b'), ld(2, 'over')),
  );

  return [
    ['envoyRequest default (headers map)', encodeEnvoy(envoyRequest())],
    [
      'envoyRequest with header_map raw_value bytes',
      encodeEnvoy(
        envoyRequest({
          rawHeaders: [
            ['x-bin', Buffer.from([0xff, 0xfe, 0x41])],
            ['x-empty', Buffer.alloc(0)],
            ['x-latin', Buffer.from('caf\u00e9', 'latin1')],
          ],
          principal: 'spiffe://a/b',
          contextExtensions: { a: 'b' },
        }),
      ),
    ],
    ['every field of Envoy’s CheckRequest', encodeEnvoy(full)],
    ['empty CheckRequest', encodeEnvoy({})],
    ['empty attributes', encodeEnvoy({ attributes: {} })],
    ['request without http', encodeEnvoy({ attributes: { request: { time: { seconds: '1' } } } })],
    ['http with only unread fields', encodeEnvoy({ attributes: { request: { http: { scheme: 'https', body: 'x' } } } })],
    [
      'empty header map and empty maps',
      encodeEnvoy({ attributes: { request: { http: { method: 'GET', path: '/', headers: {}, header_map: {} } }, context_extensions: {} } }),
    ],
    [
      'header_map entries without headers, with value and raw_value both',
      encodeEnvoy({
        attributes: {
          request: {
            http: {
              method: 'GET',
              path: '/',
              header_map: {
                headers: [
                  { key: 'a', value: 'v', raw_value: Buffer.from('raw') },
                  { key: 'b', value: 'only' },
                  { key: 'c', raw_value: Buffer.alloc(0), value: 'fallback' },
                ],
              },
            },
          },
        },
      }),
    ],
    [
      'header_map entry without a key',
      encodeEnvoy({ attributes: { request: { http: { method: 'GET', path: '/', header_map: { headers: [{ value: 'v' }] } } } } }),
    ],
    [
      'map keys that are Object.prototype names',
      encodeEnvoy({ attributes: { request: { http: { method: 'GET', path: '/', headers: protoKeys } }, context_extensions: protoKeys } }),
    ],
    [
      'unicode everywhere',
      encodeEnvoy({
        attributes: {
          source: { principal: 'spiffe://ü/😀' },
          request: { http: { method: 'GËT', path: '/ü', host: 'bücher.example', headers: { 'x-name': '日本語 😀' } } },
        },
      }),
    ],
    [
      'lone surrogates (protobufjs writes them as invalid UTF-8)',
      encodeEnvoy({ attributes: { request: { http: { method: 'GET', path: '/', headers: { 'x-a': '\ud800', 'x-b': `${'z'.repeat(50)}\udc00` } } } } }),
    ],
    [
      'IPv6, port 0, pipe, internal and named-port addresses',
      encodeEnvoy({
        attributes: { source: { address: { socket_address: { address: '2001:db8::1', port_value: 0 } } }, request: { http: { method: 'GET', path: '/' } } },
      }),
    ],
    ['pipe address', encodeEnvoy({ attributes: { source: { address: { pipe: { path: '/sock' } } }, request: { http: { method: 'GET', path: '/' } } } })],
    [
      'named port',
      encodeEnvoy({
        attributes: { source: { address: { socket_address: { address: '10.0.0.1', named_port: 'http' } } }, request: { http: { method: 'GET', path: '/' } } },
      }),
    ],
    ['control characters in a header value', encodeEnvoy({ attributes: { request: { http: { method: 'GET', path: '/', headers: { 'x-a': 'a\r\nb' } } } } })],
    // Raw: what protobufjs cannot produce from an object.
    ['invalid UTF-8 in every string we read', invalidUtf8],
    ['fields in reverse order', reversed],
    ['map entries missing a key, a value or both, and a repeated key', ld(1, ld(4, halfEntries), ld(10, ld(2, 'v')), ld(10))],
    ['a sub-message sent twice replaces the first (as protobufjs does)', twice],
    [
      'attributes sent twice (two concatenated CheckRequests)',
      cat(encodeEnvoy(envoyRequest({ path: '/a' })), encodeEnvoy(envoyRequest({ path: '/b', headers: { 'x-b': 'b' } }))),
    ],
    [
      'scalars sent twice: last one wins',
      ld(
        1,
        ld(4, ld(2, ld(2, 'PUT'), ld(2, 'GET'), ld(4, '/x'), ld(4, '/y'), ld(1, 'a'), ld(1, 'b'))),
        ld(1, ld(1, ld(1, vi(3, 1), vi(3, 2), ld(2, 'a'), ld(2, 'b')))),
      ),
    ],
    [
      'unknown fields of every wire type at every level',
      cat(
        vi(99, 1),
        ld(
          1,
          f32(98, 7),
          ld(
            4,
            f64(97, 1.5),
            ld(2, vi(96, -1n), ld(2, 'GET'), ld(4, '/'), ld(13, ld(1, ld(1, 'x'), vi(95, 3)), f32(94, 1)), ld(3, ld(1, 'k'), ld(2, 'v'), f64(93, 2))),
          ),
          ld(1, ld(1, ld(1, ld(2, '1.1.1.1'), f32(92, 1)), vi(91, 1)), ld(90, 'x')),
        ),
        f64(89, 3),
      ),
    ],
  ];
}

function corpus(seed: number, envoyCount: number, rawCount: number): Array<[string, Buffer]> {
  const r = new Random(seed);
  const cases = handWritten();
  for (let i = 0; i < envoyCount; i++) cases.push([`random Envoy-encoded #${i}`, encodeEnvoy(randomEnvoyRequest(r))]);
  for (let i = 0; i < rawCount; i++) cases.push([`random raw #${i}`, rawRequest(r)]);
  return cases;
}

// ---- tests ------------------------------------------------------------------------------

describe('decodeCheckRequest ≡ proto-loader’s decode', () => {
  it('hand-written Envoy-shaped requests', () => {
    for (const [label, bytes] of handWritten()) assertEquivalent(bytes, label);
  });

  it('3,000 seeded random requests (2,000 encoded with Envoy’s protos, 1,000 raw)', (t) => {
    const cases = corpus(0x5eed, 2000, 1000).slice(handWritten().length);
    const outcomes = new Map<string, number>();
    for (const [label, bytes] of cases) {
      assertEquivalent(bytes, label);
      const view = viewOf(decodeCheckRequest(bytes));
      const key = 'error' in view ? view.error : 'view';
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    t.diagnostic(`${cases.length} random requests, view outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    // The random requests must reach the interesting paths, not just fail early.
    assert.ok((outcomes.get('view') ?? 0) > 300, 'enough requests build a view');
    assert.ok((outcomes.get('invalid_header') ?? 0) > 100, 'enough requests reach header checks');
  });

  it('decodes strings as protobufjs does for a Buffer: Buffer#toString, invalid UTF-8 → U+FFFD', () => {
    const bytes = ld(1, ld(4, ld(2, ld(2, Buffer.from([0x47, 0xff, 0x54])))));
    assert.equal(decodeCheckRequest(bytes).attributes?.request?.http?.method, 'G\ufffdT');
    assert.equal(reference(bytes).attributes?.request?.http?.method, 'G\ufffdT');
  });

  it('returns header raw_value as bytes, not a string', () => {
    const http = decodeCheckRequest(encodeEnvoy(envoyRequest({ rawHeaders: [['x-bin', Buffer.from([0xff, 0x00])]] }))).attributes?.request?.http;
    const entry = http?.header_map?.headers?.find((h) => h.key === 'x-bin');
    assert.ok(Buffer.isBuffer(entry?.raw_value));
    assert.deepEqual([...entry.raw_value], [0xff, 0x00]);
  });
});

/**
 * protobufjs reads a 32-bit varint whose first 5 bytes all have the continuation bit as exactly
 * 10 bytes, whatever follows; we read it as the spec says. Only such input may decode differently.
 */
function hasLongVarintRun(bytes: Buffer): boolean {
  let run = 0;
  for (const b of bytes) {
    run = b >= 0x80 ? run + 1 : 0;
    if (run >= 5) return true;
  }
  return false;
}

function mutate(r: Random, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  switch (r.int(6)) {
    case 0: {
      const flips = 1 + r.int(4);
      for (let i = 0; i < flips && out.length > 0; i++) out[r.int(out.length)] ^= 1 << r.int(8);
      return out;
    }
    case 1:
      return out.subarray(0, r.int(out.length + 1));
    case 2: {
      const at = r.int(out.length + 1);
      return cat(out.subarray(0, at), r.bytes(8), out.subarray(at));
    }
    case 3: {
      const at = r.int(out.length + 1);
      return cat(out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + r.int(8))));
    }
    case 4:
      if (out.length > 0) out[r.int(out.length)] = r.pick([0x00, 0x7f, 0x80, 0xff, 0x0b, 0x0c, 0x0e, 0x0f]);
      return out;
    default:
      return r.bytes(64);
  }
}

describe('decodeCheckRequest on malformed bytes', () => {
  it('10,000 mutated requests: a result or a WireError, never another exception; agrees with protobufjs when both decode', { timeout: 120_000 }, (t) => {
    const r = new Random(0xf00d);
    const seeds = corpus(0xbeef, 300, 300).map(([, bytes]) => bytes);
    let decoded = 0;
    let refused = 0;
    let agreed = 0;
    let quirk = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const bytes = mutate(r, r.pick(seeds));
      let ours: CheckRequest__Output;
      try {
        ours = decodeCheckRequest(bytes);
      } catch (error) {
        assert.ok(error instanceof WireError, `case ${i}: ${String(error)} (${bytes.toString('hex')})`);
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
        refused++;
        continue;
      }
      decoded++;
      const view = viewOf(ours); // throws if buildRequestView fails with anything but RequestError
      let theirs: CheckRequest__Output | undefined;
      try {
        theirs = reference(bytes);
      } catch {
        // protobufjs refuses things we skip unread (malformed destination, metadata, …).
      }
      if (theirs === undefined) continue;
      if (isDeepStrictEqual(ours, project(theirs, SUBSET)) && isDeepStrictEqual(view, viewOf(theirs))) {
        agreed++;
      } else if (hasLongVarintRun(bytes)) {
        quirk++;
      } else {
        assert.deepStrictEqual(ours, project(theirs, SUBSET), `case ${i} (${bytes.toString('hex')})`);
        assert.deepStrictEqual(view, viewOf(theirs), `case ${i} (${bytes.toString('hex')})`);
      }
    }
    t.diagnostic(
      `10000 mutated: ${decoded} decoded — ${agreed} also decoded by protobufjs to the same subset and view, ${quirk} differently after protobufjs misread a varint of 6+ bytes; ${refused} WireError: ${[...codes].map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
    assert.ok(decoded > 1000 && refused > 1000, 'the mutations exercise both outcomes');
  });

  it('refuses a field we read that arrives with the wrong wire type', () => {
    assert.throws(
      () => decodeCheckRequest(Buffer.from([0x08, 0x01])),
      (e: unknown) => e instanceof WireError && e.code === 'wire_type_mismatch',
    );
    assert.throws(
      () => decodeCheckRequest(ld(1, ld(4, ld(2, vi(4, 1))))),
      (e: unknown) => e instanceof WireError && e.code === 'wire_type_mismatch',
    );
  });

  it('refuses groups, even in fields it skips (proto3 has none)', () => {
    assert.throws(
      () => decodeCheckRequest(Buffer.from([0x13, 0x14])),
      (e: unknown) => e instanceof WireError && e.code === 'invalid_wire_type',
    );
  });
});
