import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toHttpAnswer } from '../../src/http/answer.js';
import { allowResponse, denyResponse, type DecisionMetadata } from '../../src/grpc/response.js';

const META: DecisionMetadata = { decisionId: '0f6c', policy: 'orders', policyRevision: 'r1', rule: null, reason: 'token_expired' };

describe('toHttpAnswer', () => {
  it('allow: 200 with the identity headers, the reason and decision id; Envoy also gets the headers to remove', () => {
    const response = allowResponse({
      caller: { set: [['x-auth-subject', 'alice']], remove: ['x-auth-principal', 'x-tenant-id'] },
      metadata: { ...META, reason: 'allowed_by_rule', rule: 'read' },
    });
    const envoy = toHttpAnswer(response, 'envoy');
    assert.equal(envoy.status, 200);
    assert.equal(envoy.body, '');
    assert.deepEqual(
      { ...envoy.headers },
      {
        'x-authz-reason': 'allowed_by_rule',
        'x-authz-decision-id': '0f6c',
        'x-auth-subject': 'alice',
        'x-envoy-auth-headers-to-remove': 'x-auth-principal,x-tenant-id',
      },
    );
    // nginx and Traefik/Caddy cannot act on such a list: their configs set every managed name.
    assert.equal(toHttpAnswer(response, 'nginx').headers['x-envoy-auth-headers-to-remove'], undefined);
    assert.equal(toHttpAnswer(response, 'forward_auth').headers['x-envoy-auth-headers-to-remove'], undefined);
  });

  it("deny: the Check's status, challenge and JSON body, for envoy and forward_auth alike", () => {
    const response = denyResponse({ kind: 'unauthenticated', reason: 'token_expired', requestId: 'r', realm: 'orders', invalidToken: true, metadata: META });
    for (const convention of ['envoy', 'forward_auth'] as const) {
      const answer = toHttpAnswer(response, convention);
      assert.equal(answer.status, 401);
      assert.equal(answer.headers['www-authenticate'], 'Bearer realm="orders", error="invalid_token"');
      assert.equal(answer.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(answer.body), { error: 'unauthenticated', reason: 'token_expired', request_id: 'r' });
    }
  });

  it("nginx: 401 and 403 as they are, every other status a 403 with the Check's in x-authz-status", () => {
    const cases = [
      ['unauthenticated', 401, 401],
      ['forbidden', 403, 403],
      ['bad_request', 403, 400],
      ['headers_too_large', 403, 431],
      ['unavailable', 403, 503],
      ['internal', 403, 500],
    ] as const;
    for (const [kind, status, original] of cases) {
      const answer = toHttpAnswer(denyResponse({ kind, reason: 'r', requestId: '', realm: 'orders', metadata: { ...META, reason: 'r' } }), 'nginx');
      assert.equal(answer.status, status, kind);
      assert.equal(answer.headers['x-authz-status'], original === 401 || original === 403 ? undefined : String(original), kind);
      assert.equal(answer.headers['x-authz-reason'], 'r');
      assert.equal(JSON.parse(answer.body).reason, 'r');
    }
  });

  it('never answers a deny with a 2xx, whatever its status says', () => {
    for (const code of [200, 0, undefined, 'Forbidden', 302]) {
      const answer = toHttpAnswer({ status: { code: 7 }, denied_response: { status: { code: code as never }, body: '' } }, 'envoy');
      assert.equal(answer.status, 403, String(code));
    }
  });

  it('sends a UTF-8 claim as its bytes (node writes latin1 and refuses code points above U+00FF)', () => {
    const response = allowResponse({ caller: { set: [['x-auth-subject', 'zoë 张']], remove: [] }, metadata: META });
    const value = toHttpAnswer(response, 'forward_auth').headers['x-auth-subject'];
    assert.equal(Buffer.from(value, 'latin1').toString('utf8'), 'zoë 张');
  });
});
