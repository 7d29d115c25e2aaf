import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EnvoyClient, denyBody, envoyRequest, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { IDP_ISSUER, mint } from '../../testkit/tokens.js';

/**
 * URI-template paths and `request.params` in the running sidecar, driven with Envoy's protos:
 * the path is normalised before the template is matched, so an encoded "/" inside what would
 * be a captured segment is refused (400) before any rule sees it.
 */
const POLICY = `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: payments, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: refund
      action: ALLOW
      to: [{ methods: [POST], paths: ["/v1/payments/{id}/refund"] }]
      from: [{ issuers: ["${IDP_ISSUER}"] }]
      when: 'request.params.id.startsWith("pay_")'
    - name: own-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/v1/customers/{customer}/orders/**"] }]
      when: request.params.customer == request.auth.claims.sub
`;

function assertAllowed(result: CheckResult, rule: string): void {
  assert.equal(result.status.code, 0, `expected allow, got ${JSON.stringify(result.status)} ${result.denied_response?.body}`);
  assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, rule);
}

function assertDenied(result: CheckResult, http: number, reason: string): void {
  assert.equal(result.http_response, 'denied_response', `expected a deny, got ${JSON.stringify(result.status)}`);
  assert.equal(httpStatus(result), http, denyBody(result).reason);
  assert.equal(denyBody(result).reason, reason);
}

describe('URI templates in to.paths and request.params, against the real sidecar', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let alice: Record<string, string>;
  let bob: Record<string, string>;

  before(async () => {
    const { configPath } = writeSidecarDir({ policy: POLICY, issuer: 'bare' });
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
    alice = { authorization: `Bearer ${await mint({}, { subject: 'alice' })}` };
    bob = { authorization: `Bearer ${await mint({}, { subject: 'bob' })}` };
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  const check = (method: string, path: string, headers?: Record<string, string>) => client.check(envoyRequest({ method, path, headers }));

  it('allows POST /v1/payments/{id}/refund when the captured id passes the `when`, and denies the rest', async () => {
    assertAllowed(await check('POST', '/v1/payments/pay_42/refund', alice), 'refund');
    assertAllowed(await check('POST', '/v1/payments/pay_42/refund?reason=dup', alice), 'refund');
    assertAllowed(await check('POST', '/v1//payments/./pay_42/refund', alice), 'refund');
    assertDenied(await check('POST', '/v1/payments/ord_42/refund', alice), 403, 'default_deny');
    assertDenied(await check('POST', '/v1/payments/pay_42/capture', alice), 403, 'default_deny');
    assertDenied(await check('POST', '/v1/payments/pay_1/pay_2/refund', alice), 403, 'default_deny');
    assertDenied(await check('POST', '/v1/payments//refund', alice), 403, 'default_deny');
    assertDenied(await check('POST', '/v1/payments/pay_42/refund/', alice), 403, 'default_deny');
    assertDenied(await check('GET', '/v1/payments/pay_42/refund', alice), 403, 'default_deny');
    assertDenied(await check('POST', '/v1/payments/pay_42/refund'), 401, 'credentials_missing');
  });

  it('lets a customer read only their own orders: request.params.customer == request.auth.claims.sub', async () => {
    assertAllowed(await check('GET', '/v1/customers/alice/orders/7', alice), 'own-orders');
    assertAllowed(await check('GET', '/v1/customers/alice/orders/7/items/3', alice), 'own-orders');
    assertAllowed(await check('GET', '/v1/customers/alice/orders/', alice), 'own-orders');
    assertDenied(await check('GET', '/v1/customers/alice/orders', alice), 403, 'default_deny');
    assertDenied(await check('GET', '/v1/customers/alice/orders/7', bob), 403, 'default_deny');
    assertDenied(await check('GET', '/v1/customers/bob/../alice/orders/7', bob), 403, 'default_deny');
    assertAllowed(await check('GET', '/v1/customers/bob/../alice/orders/7', alice), 'own-orders');
    assertDenied(await check('GET', '/v1/customers/alice/orders/7'), 401, 'credentials_missing');
  });

  it('refuses an encoded "/" inside a captured segment with 400 encoded_separator, as for any path', async () => {
    for (const path of ['/v1/customers/alice%2F..%2Fbob/orders/7', '/v1/customers/alice%2fx/orders/7', '/v1/customers/alice%5Cbob/orders/7']) {
      assertDenied(await check('GET', path, alice), 400, 'encoded_separator');
    }
    assertDenied(await check('POST', '/v1/payments/pay_1%2F2/refund', alice), 400, 'encoded_separator');
    assertDenied(await check('POST', '/v1/payments/pay_1%252F2/refund', alice), 400, 'double_encoded_path');
  });

  it('captures other characters as the normalised path has them', async () => {
    // "%5F" is "_" (unreserved, decoded); "%7B" and a literal "{" stay what they are.
    assertAllowed(await check('POST', '/v1/payments/pay%5F42/refund', alice), 'refund');
    assertAllowed(await check('POST', '/v1/payments/pay_%7B42%7D/refund', alice), 'refund');
    assertDenied(await check('POST', '/v1/payments/{pay_42}/refund', alice), 403, 'default_deny');
    assertAllowed(await check('GET', '/v1/customers/alice/orders/{id}', alice), 'own-orders');
  });
});
