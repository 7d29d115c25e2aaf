import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSync } from '@grpc/proto-loader';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';
import { loadAuthProto, LOADER_OPTIONS } from '../../src/grpc/protos.js';
import { allowResponse, denyResponse, type DecisionMetadata, type DenyKind } from '../../src/grpc/response.js';
import { decodeCheckRequest } from '../../src/grpc/wire/check-request.js';
import { encodeCheckResponse, fixedOkResponse } from '../../src/grpc/wire/check-response.js';
import { envoyRequest } from '../../testkit/envoy-client.js';
import { ENVOY_PROTO_DIRS } from '../../testkit/paths.js';

/*
 * encodeCheckResponse against the encoder it replaces: @grpc/proto-loader (protobufjs) over
 * our protos. Bytes must be identical; both are also decoded with Envoy's own protos, which is
 * what Envoy will read.
 */

const generic = loadAuthProto().envoy.service.auth.v3.Authorization.service.Check;
const referenceEncode = generic.responseSerialize as (response: CheckResponse) => Buffer;
const referenceDecode = generic.requestDeserialize as (buf: Buffer) => CheckRequest__Output;
const envoyCheck = (loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: ENVOY_PROTO_DIRS }) as Record<string, any>)[
  'envoy.service.auth.v3.Authorization'
].Check;
const decodeWithEnvoy = (bytes: Buffer): unknown => envoyCheck.responseDeserialize(bytes);

function assertSameAsProtobufjs(response: CheckResponse, label: string): void {
  const ours = encodeCheckResponse(response);
  const theirs = referenceEncode(response);
  assert.deepStrictEqual(decodeWithEnvoy(ours), decodeWithEnvoy(theirs), label);
  assert.equal(ours.toString('hex'), theirs.toString('hex'), label);
}

const META: DecisionMetadata = {
  decisionId: '9b2c7e0e-8f1a-4c55-9d4b-5b1f0c7e2a11',
  policy: 'orders',
  policyRevision: 'abc123def',
  rule: 'read-orders',
  reason: 'allowed_by_rule',
};
const KINDS: DenyKind[] = ['bad_request', 'headers_too_large', 'unauthenticated', 'forbidden', 'unavailable', 'internal'];

function builtResponses(): Array<[string, CheckResponse]> {
  const cases: Array<[string, CheckResponse]> = [
    [
      'allow, identity headers set and removed',
      allowResponse({
        caller: {
          set: [
            ['x-auth-subject', 'alice'],
            ['x-auth-issuer', 'https://idp.example.test'],
            ['x-tenant-id', 'acme'],
          ],
          remove: ['x-auth-principal', 'x-roles'],
        },
        metadata: META,
      }),
    ],
    [
      'allow, nothing set or removed, rule null',
      allowResponse({ caller: { set: [], remove: [] }, metadata: { ...META, rule: null, reason: 'default_allow' } }),
    ],
    [
      'allow, empty strings everywhere',
      allowResponse({ caller: { set: [['x-a', '']], remove: [''] }, metadata: { decisionId: '', policy: '', policyRevision: '', rule: '', reason: '' } }),
    ],
    [
      'allow, JSON and unicode header values',
      allowResponse({
        caller: {
          set: [
            ['x-claims', '{"roles":["a","b"],"name":"Zoë 😀"}'],
            ['x-name', '日本語'],
          ],
          remove: [],
        },
        metadata: META,
      }),
    ],
    [
      'allow, a 20 KiB header value (multi-byte length prefixes)',
      allowResponse({ caller: { set: [['x-big', 'v'.repeat(20_000)]], remove: ['x-a'] }, metadata: META }),
    ],
  ];
  for (const kind of KINDS) {
    const metadata = { ...META, rule: null, reason: `reason_${kind}` };
    cases.push([`deny ${kind}`, denyResponse({ kind, reason: metadata.reason, requestId: 'req-1', realm: 'orders', metadata })]);
    cases.push([`deny ${kind}, invalid token`, denyResponse({ kind, reason: 'token_expired', requestId: '', realm: 'orders', metadata, invalidToken: true })]);
    cases.push([
      `deny ${kind}, missing scopes, rule set`,
      denyResponse({
        kind,
        reason: 'missing_scope',
        requestId: 'r'.repeat(300),
        realm: 'orders',
        metadata: { ...META, reason: 'missing_scope' },
        missingScopes: ['orders:read', 'orders:write'],
      }),
    ]);
    cases.push([`deny ${kind}, unicode request id and realm`, denyResponse({ kind, reason: 'x', requestId: 'ïd-😀', realm: 'ördërs', metadata })]);
  }
  return cases;
}

describe('encodeCheckResponse ≡ protobufjs', () => {
  it('every response allowResponse and denyResponse build: same bytes, same message for Envoy', () => {
    for (const [label, response] of builtResponses()) assertSameAsProtobufjs(response, label);
  });

  it('the rest of the schema: every Value kind, append, raw_value, query parameters, negative and named enums', () => {
    const struct = {
      fields: {
        n: { numberValue: -1.25 },
        zero: { numberValue: 0 },
        t: { boolValue: true },
        f: { boolValue: false },
        null: { nullValue: 'NULL_VALUE' as const },
        null0: { nullValue: 0 as never },
        s: {
          structValue: {
            fields: {
              inner: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 2 }, { structValue: { fields: {} } }, { listValue: { values: [] } }] } },
            },
          },
        },
        empty: {},
      },
    };
    const cases: Array<[string, CheckResponse]> = [
      ['empty response', {}],
      ['empty sub-messages', { status: {}, ok_response: {}, dynamic_metadata: {} }],
      ['Value kinds', { status: { code: 0 }, dynamic_metadata: struct }],
      ['negative status code (10-byte varint)', { status: { code: -3, message: 'm' } }],
      ['HttpStatus by name and by number', { denied_response: { status: { code: 'Forbidden' } }, ok_response: undefined }],
      ['HttpStatus by number outside the enum', { denied_response: { status: { code: 418 as never }, headers: [], body: '' } }],
      [
        'every HeaderValueOption field',
        {
          ok_response: {
            headers: [
              {
                header: { key: 'a', value: 'b', raw_value: Buffer.from([0xff, 0]) },
                append: { value: false },
                append_action: 'ADD_IF_ABSENT',
                keep_empty_value: true,
              },
              { header: { key: 'c' }, append: {}, append_action: 3 },
              { header: {}, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
              {},
            ],
            headers_to_remove: ['x', 'y'],
            dynamic_metadata: struct,
            response_headers_to_add: [{ header: { key: 'set-cookie', value: 'a=b' }, append_action: 'OVERWRITE_IF_EXISTS' }],
            query_parameters_to_set: [{ key: 'q', value: '1' }, { key: 'e' }, {}],
            query_parameters_to_remove: ['token', ''],
          },
        },
      ],
      [
        'a body and a struct long enough to move their length prefixes',
        {
          denied_response: { status: { code: 401 as never }, body: 'b'.repeat(200) },
          dynamic_metadata: { fields: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, { stringValue: 'v'.repeat(i * 10) }])) },
        },
      ],
      ['own __proto__ key in a Struct', { dynamic_metadata: { fields: JSON.parse('{"__proto__": {"stringValue": "p"}, "a": {"stringValue": "b"}}') } }],
    ];
    for (const [label, response] of cases) assertSameAsProtobufjs(response, label);
  });

  it('writes a lone surrogate as valid UTF-8 (U+FFFD), where protobufjs writes an invalid surrogate for short strings', () => {
    const response: CheckResponse = { status: { code: 7, message: 'bad \ud800 half' } };
    const ours = encodeCheckResponse(response);
    assert.ok(ours.includes(Buffer.from('bad \ufffd half')));
    assert.equal((decodeWithEnvoy(ours) as { status: { message: string } }).status.message, 'bad \ufffd half');
    assert.ok(referenceEncode(response).includes(Buffer.from([0xed, 0xa0, 0x80])), 'protobufjs writes the surrogate itself (CESU-8)');
  });

  it('a bad response object is a TypeError, not silently different bytes', () => {
    assert.throws(() => encodeCheckResponse({ ok_response: { headers: [{ append_action: 'OVERWRITE' as never }] } }), TypeError);
    assert.throws(() => encodeCheckResponse({ denied_response: { status: { code: 'Teapot' as never } } }), TypeError);
    assert.throws(() => encodeCheckResponse({ status: { code: 2, details: [{ type_url: 'x', value: Buffer.alloc(0) }] } }), TypeError);
    assert.throws(() => encodeCheckResponse({ dynamic_metadata: { fields: { a: null as never } } }), TypeError);
    // and the encoder is usable afterwards
    const ok = allowResponse({ caller: { set: [], remove: [] }, metadata: META });
    assert.deepEqual(encodeCheckResponse(ok), referenceEncode(ok));
  });

  it('an OkHttpResponse declared fixed is frozen, and its copied bytes are the ones it would encode to', () => {
    const ok = fixedOkResponse({
      headers: [{ header: { key: 'x-auth-subject', value: 'alice' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      headers_to_remove: ['x-auth-principal'],
    });
    assert.ok(Object.isFrozen(ok) && Object.isFrozen(ok.headers) && Object.isFrozen(ok.headers![0].header) && Object.isFrozen(ok.headers_to_remove));
    assert.throws(() => (ok.headers_to_remove as string[]).push('x'), TypeError);
    for (const id of ['d1', 'a-much-longer-decision-id-' + 'x'.repeat(200)]) {
      const response: CheckResponse = { status: { code: 0 }, ok_response: ok, dynamic_metadata: { fields: { decision_id: { stringValue: id } } } };
      assert.deepEqual(encodeCheckResponse(response), referenceEncode(response));
    }
  });

  it('allowResponse builds one OkHttpResponse per caller object, shared by every Check of that caller', () => {
    const caller = { set: [['x-auth-subject', 'alice']] as const, remove: ['x-auth-principal'] };
    const a = allowResponse({ caller, metadata: META });
    const b = allowResponse({ caller, metadata: { ...META, decisionId: 'other' } });
    assert.equal(a.ok_response, b.ok_response);
    assert.notEqual(a.dynamic_metadata, b.dynamic_metadata);
    assert.notEqual(allowResponse({ caller: { ...caller }, metadata: META }).ok_response, a.ok_response);
    assert.deepEqual(encodeCheckResponse(b), referenceEncode(b));
  });

  it('never rewrites bytes it handed out, across slabs and after a response larger than a slab', () => {
    const first = allowResponse({ caller: { set: [['x-a', 'first']], remove: [] }, metadata: META });
    const kept = encodeCheckResponse(first);
    const copy = Buffer.from(kept);
    const huge = allowResponse({ caller: { set: [['x-huge', 'h'.repeat(200_000)]], remove: [] }, metadata: META });
    assert.deepEqual(encodeCheckResponse(huge), referenceEncode(huge));
    for (let i = 0; i < 2_000; i++) {
      const response = denyResponse({ kind: 'forbidden', reason: `r${i}`, requestId: String(i), realm: 'orders', metadata: META });
      assert.deepEqual(encodeCheckResponse(response), referenceEncode(response));
    }
    assert.deepEqual(kept, copy);
  });
});

// ---- micro-benchmark (printed, not asserted) ----------------------------------------------

function nsPerOp(fn: () => unknown, iterations: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - started) / iterations;
}

/** Best of several interleaved rounds, after a warm-up: the machine is shared with other tests. */
function bench(cases: Record<string, () => unknown>, iterations = 20_000, rounds = 5): Record<string, number> {
  for (const fn of Object.values(cases)) nsPerOp(fn, iterations);
  const best: Record<string, number> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of Object.entries(cases)) best[name] = Math.min(best[name] ?? Infinity, nsPerOp(fn, iterations));
  }
  return best;
}

describe('codec micro-benchmark', () => {
  it('ns per op, ours vs protobufjs (proto-loader), realistic request and responses', (t) => {
    const jwt = `eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImlkcC1kZXYtMSJ9.${'p'.repeat(200)}.${'s'.repeat(86)}`;
    assert.equal(jwt.length, 352);
    const request = envoyRequest({
      path: '/api/orders/42',
      headers: {
        authorization: `Bearer ${jwt}`,
        'x-request-id': '0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
        accept: 'application/json',
        'x-tenant-id': 'acme',
        'x-forwarded-proto': 'https',
      },
      principal: 'spiffe://cluster.local/ns/shop/sa/checkout',
    }) as { attributes: Record<string, unknown> };
    request.attributes.metadata_context = { filter_metadata: { 'envoy.filters.http.rbac': { fields: { shadow_engine_result: { stringValue: 'allowed' } } } } };
    const bytes = envoyCheck.requestSerialize(request) as Buffer;
    const headers = decodeCheckRequest(bytes).attributes?.request?.http?.headers ?? {};
    assert.equal(Object.keys(headers).length, 10);

    const allow = allowResponse({
      caller: {
        set: [
          ['x-auth-subject', 'alice'],
          ['x-auth-issuer', 'https://idp.example.test'],
          ['x-tenant-id', 'acme'],
        ],
        remove: ['x-auth-principal', 'x-roles'],
      },
      metadata: META,
    });
    const deny = denyResponse({
      kind: 'forbidden',
      reason: 'missing_scope',
      requestId: '0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
      realm: 'orders',
      metadata: { ...META, reason: 'missing_scope' },
      missingScopes: ['orders:write'],
    });

    const ns = bench({
      'decode ours': () => decodeCheckRequest(bytes),
      'decode protobufjs': () => referenceDecode(bytes),
      'encode allow ours': () => encodeCheckResponse(allow),
      'encode allow protobufjs': () => referenceEncode(allow),
      'encode deny ours': () => encodeCheckResponse(deny),
      'encode deny protobufjs': () => referenceEncode(deny),
    });
    const row = (what: string, size: number): string =>
      `${what} (${size} B): ours ${ns[`${what} ours`].toFixed(0)} ns, protobufjs ${ns[`${what} protobufjs`].toFixed(0)} ns (${(ns[`${what} protobufjs`] / ns[`${what} ours`]).toFixed(1)}×)`;
    t.diagnostic(row('decode', bytes.length));
    t.diagnostic(row('encode allow', encodeCheckResponse(allow).length));
    t.diagnostic(row('encode deny', encodeCheckResponse(deny).length));
  });
});
