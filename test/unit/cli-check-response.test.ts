import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSync } from '@grpc/proto-loader';
import { formatSummary, httpStatusOf, summarize } from '../../src/cli/check-response.js';
import { LOADER_OPTIONS, PROTO_ROOT } from '../../src/grpc/protos.js';
import { allowResponse, denyResponse } from '../../src/grpc/response.js';
import type { CheckResponse, CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';

const check = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] })[
  'envoy.service.auth.v3.Authorization'
] as unknown as {
  Check: { responseSerialize(v: CheckResponse): Buffer; responseDeserialize(b: Buffer): CheckResponse__Output };
};

/** What the client receives: enums as names, as `authzctl check` loads them. */
const overTheWire = (response: CheckResponse) => check.Check.responseDeserialize(check.Check.responseSerialize(response));
const meta = { decisionId: 'd-1', policy: 'orders', policyRevision: 'r7', rule: null, reason: 'token_expired' };

describe('summarize', () => {
  it('maps the HTTP status enum name of a deny', () => {
    const wire = overTheWire(
      denyResponse({ kind: 'unauthenticated', reason: 'token_expired', requestId: 'req-1', realm: 'orders', invalidToken: true, metadata: meta }),
    );
    assert.equal(wire.denied_response?.status?.code, 'Unauthorized');
    const summary = summarize(wire);
    assert.equal(summary.allow, false);
    assert.equal(summary.httpStatus, 401);
    assert.equal(summary.reason, 'token_expired');
    assert.deepEqual(formatSummary(summary), [
      'DENY 401 (token_expired)',
      '  header  content-type: application/json',
      '  header  www-authenticate: Bearer realm="orders", error="invalid_token"',
      '  body    {"error":"unauthenticated","reason":"token_expired","request_id":"req-1"}',
      '  meta    decision=d-1 policy=orders revision=r7 rule=- reason=token_expired',
    ]);
  });

  it('shows the headers an allow sets and removes', () => {
    const wire = overTheWire(
      allowResponse({
        caller: { set: [['x-auth-subject', 'alice']], remove: ['x-auth-roles'] },
        metadata: { ...meta, rule: 'read-orders', reason: 'allowed_by_rule' },
      }),
    );
    const summary = summarize(wire);
    assert.equal(summary.allow, true);
    assert.deepEqual(formatSummary(summary), [
      'ALLOW',
      '  set     x-auth-subject: alice',
      '  remove  x-auth-roles',
      '  meta    decision=d-1 policy=orders revision=r7 rule=read-orders reason=allowed_by_rule',
    ]);
  });

  it('falls back to the gRPC code when a deny has no HTTP status', () => {
    assert.equal(summarize({ status: { code: 16, message: 'nope' } }).httpStatus, 401);
    assert.equal(summarize({ status: { code: 16, message: 'nope' } }).reason, 'nope');
    assert.equal(summarize({ status: { code: 7 } }).httpStatus, 403);
    assert.equal(summarize({}).allow, true);
  });

  it('maps status names and numbers', () => {
    assert.equal(httpStatusOf('Forbidden'), 403);
    assert.equal(httpStatusOf('RequestHeaderFieldsTooLarge'), 431);
    assert.equal(httpStatusOf(418), 418);
    assert.equal(httpStatusOf('NoSuchStatus'), undefined);
  });
});
