import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startConformanceEnv, type ConformanceEnv } from '../../testkit/conformance-env.js';
import { denyBody, envoyRequest, httpStatus } from '../../testkit/envoy-client.js';
import { mint } from '../../testkit/tokens.js';

/**
 * Attempts to reach /admin through the anonymous /public/* rule. Each must be either
 * normalised to the path the backend will serve (and judged by that path's rules) or
 * refused with 400 — never matched leniently against /public/*.
 */
const NORMALISED: Array<[string, string]> = [
  ['/public/../admin', '/admin'],
  ['/public/%2e%2e/admin', '/admin'],
  ['/public/%2E%2e/admin/users', '/admin/users'],
  ['/public/./../admin', '/admin'],
  ['//admin/users', '/admin/users'],
  ['/public//../admin', '/admin'],
  ['/public/.%2e/admin', '/admin'],
];

const REFUSED: Array<[string, string]> = [
  ['/public/..%2fadmin', 'encoded_separator'],
  ['/public%2F..%2Fadmin', 'encoded_separator'],
  ['/public/..%5cadmin', 'encoded_separator'],
  ['/public\\..\\admin', 'encoded_separator'],
  ['/public/..;/admin', 'path_parameters'],
  ['/admin..;/', 'path_parameters'],
  ['/public;x=1/../admin', 'path_parameters'],
  ['/public/../../admin', 'path_traversal'],
  ['/..', 'path_traversal'],
  ['/public/%2e/../../admin', 'path_traversal'],
  // A backend that percent-decodes twice would see "..", "/" or "\\" in these.
  ['/public/%252e%252e/admin', 'double_encoded_path'],
  ['/public/%252E%252E/admin', 'double_encoded_path'],
  ['/public/..%252fadmin', 'double_encoded_path'],
  ['/public/..%255Cadmin', 'double_encoded_path'],
  ['/public/%25%32%65%25%32%65/admin', 'double_encoded_path'],
  ['/public/%25252e%25252e/admin', 'double_encoded_path'],
  ['/public/%00/../admin', 'invalid_path'],
  ['/public/%zz', 'invalid_path'],
  ['public/x', 'invalid_path'],
];

describe('path confusion never reaches a rule it should not', () => {
  let env: ConformanceEnv;
  let customer: string;
  before(async () => {
    env = await startConformanceEnv();
    customer = await mint({ roles: ['customer'], scope: 'orders:read' });
  });
  after(async () => {
    await env.close();
  });

  for (const [path, normalised] of NORMALISED) {
    it(`judges ${path} as ${normalised}`, async () => {
      const anonymous = await env.client.check(envoyRequest({ path }));
      assert.equal(httpStatus(anonymous), 401, `anonymous ${path}`);
      assert.notEqual(anonymous.dynamic_metadata?.fields.rule?.stringValue, 'public');
      const withToken = await env.client.check(envoyRequest({ path, headers: { authorization: `Bearer ${customer}` } }));
      assert.equal(httpStatus(withToken), 403);
      assert.equal(denyBody(withToken).reason, 'missing_permission');
    });
  }

  for (const [path, reason] of REFUSED) {
    it(`refuses ${JSON.stringify(path)} with 400 ${reason}`, async () => {
      const result = await env.client.check(envoyRequest({ path, headers: { authorization: `Bearer ${customer}` } }));
      assert.equal(result.status.code, 3);
      assert.equal(httpStatus(result), 400);
      assert.equal(denyBody(result).reason, reason);
    });
  }

  it('decodes unreserved escapes, so /%70ublic/x is /public/x', async () => {
    const result = await env.client.check(envoyRequest({ path: '/%70ublic/x' }));
    assert.equal(result.status.code, 0);
    assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, 'public');
  });

  it('keeps an escaped "%" that forms no other escape: /public/100%25 is under /public/*', async () => {
    const result = await env.client.check(envoyRequest({ path: '/public/100%25' }));
    assert.equal(result.status.code, 0);
    assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, 'public');
  });

  it('matches paths case-sensitively: /PUBLIC/x is not /public/*', async () => {
    assert.equal(httpStatus(await env.client.check(envoyRequest({ path: '/PUBLIC/x' }))), 401);
  });

  it('strips the query before matching: /public?/../admin stays /public', async () => {
    const result = await env.client.check(envoyRequest({ path: '/public?/../admin' }));
    assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, 'public');
  });
});
