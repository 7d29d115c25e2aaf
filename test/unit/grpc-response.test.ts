import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allowResponse, denyResponse, GrpcCode, type DecisionMetadata, type DenyKind, type DenyOptions } from '../../src/grpc/response.js';
import type { CheckResponse } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';

const META: DecisionMetadata = { decisionId: 'd-1', policy: 'orders', policyRevision: 'abc123', rule: 'read-orders', reason: 'allowed_by_rule' };

function deny(kind: DenyKind, extra: Partial<DenyOptions> = {}): CheckResponse {
  return denyResponse({ kind, reason: 'some_reason', requestId: 'req-7', realm: 'orders', metadata: { ...META, reason: 'some_reason' }, ...extra });
}

function header(response: CheckResponse, name: string): string | undefined {
  const headers = response.denied_response?.headers ?? response.ok_response?.headers ?? [];
  const found = headers.filter((h) => h.header?.key === name);
  assert.ok(found.length <= 1, `${name} at most once`);
  return found[0]?.header?.value;
}

describe('denyResponse', () => {
  it('maps each DenyKind to its gRPC code, HTTP status and error', () => {
    const table: Array<[DenyKind, number, number, string]> = [
      ['bad_request', GrpcCode.INVALID_ARGUMENT, 400, 'bad_request'],
      ['headers_too_large', GrpcCode.INVALID_ARGUMENT, 431, 'bad_request'],
      ['unauthenticated', GrpcCode.UNAUTHENTICATED, 401, 'unauthenticated'],
      ['forbidden', GrpcCode.PERMISSION_DENIED, 403, 'forbidden'],
      ['unavailable', GrpcCode.UNAVAILABLE, 503, 'unavailable'],
      ['internal', GrpcCode.INTERNAL, 500, 'internal'],
    ];
    assert.deepEqual(
      [GrpcCode.INVALID_ARGUMENT, GrpcCode.PERMISSION_DENIED, GrpcCode.INTERNAL, GrpcCode.UNAVAILABLE, GrpcCode.UNAUTHENTICATED],
      [3, 7, 13, 14, 16],
    );
    for (const [kind, grpc, http, error] of table) {
      const response = deny(kind);
      assert.deepEqual(response.status, { code: grpc, message: 'some_reason' }, kind);
      assert.equal(response.denied_response?.status?.code, http, kind);
      assert.equal(JSON.parse(response.denied_response.body as string).error, error, kind);
      assert.equal(response.ok_response, undefined, kind);
      assert.equal(header(response, 'content-type'), 'application/json', kind);
    }
  });

  it('body is exactly error, reason and request_id', () => {
    const body = JSON.parse(deny('unauthenticated', { reason: 'token_expired' }).denied_response!.body as string);
    assert.deepEqual(body, { error: 'unauthenticated', reason: 'token_expired', request_id: 'req-7' });
    assert.deepEqual(Object.keys(body), ['error', 'reason', 'request_id']);
  });

  it('challenges with just the realm when no credentials were presented (RFC 6750 §3.1)', () => {
    const challenge = header(deny('unauthenticated'), 'www-authenticate');
    assert.equal(challenge, 'Bearer realm="orders"');
    assert.ok(!challenge.includes('error='));
  });

  it('says invalid_token when a credential was presented and failed', () => {
    assert.equal(header(deny('unauthenticated', { invalidToken: true }), 'www-authenticate'), 'Bearer realm="orders", error="invalid_token"');
  });

  it('says insufficient_scope with the missing scopes on a 403', () => {
    const response = deny('forbidden', { missingScopes: ['orders:read', 'orders:write'] });
    assert.equal(header(response, 'www-authenticate'), 'Bearer realm="orders", error="insufficient_scope", scope="orders:read orders:write"');
  });

  it('sends no challenge for a 403 without scopes, nor for 400/431/500/503', () => {
    assert.equal(header(deny('forbidden'), 'www-authenticate'), undefined);
    assert.equal(header(deny('forbidden', { missingScopes: [] }), 'www-authenticate'), undefined);
    for (const kind of ['bad_request', 'headers_too_large', 'unavailable', 'internal'] as const) {
      assert.equal(header(deny(kind, { invalidToken: true, missingScopes: ['x'] }), 'www-authenticate'), undefined, kind);
    }
  });

  it('carries the decision metadata, with a null rule as a protobuf null', () => {
    const response = denyResponse({
      kind: 'unavailable',
      reason: 'not_ready',
      requestId: 'r',
      realm: 'orders',
      metadata: { decisionId: 'd-2', policy: '', policyRevision: '', rule: null, reason: 'not_ready' },
    });
    assert.deepEqual(response.dynamic_metadata, {
      fields: {
        decision_id: { stringValue: 'd-2' },
        decision: { stringValue: 'deny' },
        reason: { stringValue: 'not_ready' },
        policy: { stringValue: '' },
        policy_revision: { stringValue: '' },
        rule: { nullValue: 'NULL_VALUE' },
      },
    });
  });

  it('headers overwrite rather than append', () => {
    for (const h of deny('unauthenticated').denied_response!.headers!) assert.equal(h.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD');
  });
});

describe('allowResponse', () => {
  it('sets identity headers with overwrite, removes the rest, and carries metadata', () => {
    const response = allowResponse({
      caller: {
        set: [
          ['x-auth-subject', 'alice'],
          ['x-tenant-id', 'acme'],
        ],
        remove: ['x-auth-principal'],
      },
      metadata: META,
    });
    assert.deepEqual(response.status, { code: GrpcCode.OK });
    assert.equal(response.denied_response, undefined);
    assert.deepEqual(response.ok_response, {
      headers: [
        { header: { key: 'x-auth-subject', value: 'alice' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-tenant-id', value: 'acme' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
      headers_to_remove: ['x-auth-principal'],
    });
    assert.deepEqual(response.dynamic_metadata?.fields, {
      decision_id: { stringValue: 'd-1' },
      decision: { stringValue: 'allow' },
      reason: { stringValue: 'allowed_by_rule' },
      policy: { stringValue: 'orders' },
      policy_revision: { stringValue: 'abc123' },
      rule: { stringValue: 'read-orders' },
    });
  });

  it('a default allow has a null rule', () => {
    const response = allowResponse({ caller: { set: [], remove: [] }, metadata: { ...META, rule: null, reason: 'default_allow' } });
    assert.deepEqual(response.dynamic_metadata?.fields?.rule, { nullValue: 'NULL_VALUE' });
    assert.deepEqual(response.dynamic_metadata?.fields?.reason, { stringValue: 'default_allow' });
  });
});
