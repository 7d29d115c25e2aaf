import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvoyClient, denyBody, envoyRequest, type CheckResult } from '../../testkit/envoy-client.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';

/**
 * `matches()` on RE2 against the real binary: patterns that JavaScript's backtracking RegExp
 * would take seconds on (`.*a.*b` over 64 KiB without a "b") load and are answered well
 * within Envoy's default ext_authz timeout of 250 ms.
 */
const POLICY = `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: refunds
      action: ALLOW
      to: [{ paths: ["/v1/*"] }]
      when: 'request.path.matches("^/v1/.*refund$")'
    - name: probe
      action: ALLOW
      to: [{ paths: ["/probe"] }]
      when: 'request.headers["x-probe"].matches(".*a.*b") || request.headers["x-probe"].matches("^/v1/.*refund$")'
`;

/** Envoy's default ext_authz timeout. */
const ENVOY_TIMEOUT_MS = 250;
/**
 * 64 KiB that both patterns must scan to the end without a match. It holds the literals they
 * need ("b", "refund"), which RE2 otherwise rejects in one pass before running the pattern.
 */
const HOSTILE = `/v1/refund-b${'a'.repeat(64 * 1024 - 12)}`;

describe('CEL matches() on RE2 in the running sidecar', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;

  before(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    // Room for one 64 KiB header next to the pseudo-headers (the default cap is 64 KiB in all).
    const config = writeConfig(dir, 'service: orders\npolicy: { file: policy.yaml }\nrequest: { maxHeaderBytes: 131072 }\nlog: { level: info }\n');
    sidecar = await startSidecar(config);
    client = new EnvoyClient(sidecar.grpcAddress);
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  const timed = async (shape: Parameters<typeof envoyRequest>[0]): Promise<{ result: CheckResult; ms: number }> => {
    const started = performance.now();
    const result = await client.check(envoyRequest(shape));
    return { result, ms: performance.now() - started };
  };

  it('loads "^/v1/.*refund$" and ".*a.*b" (refused before RE2) and matches with them', async () => {
    assert.equal((await timed({ path: '/v1/orders/7/refund' })).result.status.code, 0);
    assert.equal(denyBody((await timed({ path: '/v1/orders/7/refunds' })).result).reason, 'credentials_missing');
    assert.equal((await timed({ path: '/probe', headers: { 'x-probe': 'xaxxb' } })).result.status.code, 0);
    assert.equal(denyBody((await timed({ path: '/probe', headers: { 'x-probe': 'xbxxa' } })).result).reason, 'credentials_missing');
    assert.equal((await timed({ path: '/probe', headers: { 'x-probe': '/v1/x/refund' } })).result.status.code, 0);
  });

  it(`answers a 64 KiB hostile header well within ${ENVOY_TIMEOUT_MS} ms`, async (t) => {
    const small: number[] = [];
    const hostile: number[] = [];
    for (let i = 0; i < 5; i++) {
      small.push((await timed({ path: '/probe', headers: { 'x-probe': 'aaa' } })).ms);
      const { result, ms } = await timed({ path: '/probe', headers: { 'x-probe': HOSTILE } });
      // Answered (anonymous, `when` false: the default deny), not stuck in the regex.
      assert.equal(denyBody(result).reason, 'credentials_missing');
      hostile.push(ms);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    t.diagnostic(
      `Check latency, median (max) of 5: 3-byte x-probe ${median(small).toFixed(1)} (${Math.max(...small).toFixed(1)}) ms; 64 KiB x-probe ${median(hostile).toFixed(1)} (${Math.max(...hostile).toFixed(1)}) ms`,
    );
    // JavaScript's RegExp takes seconds on this header; RE2 a few milliseconds. A fifth of the
    // timeout leaves room for a busy test machine without hiding a return to backtracking.
    assert.ok(median(hostile) < ENVOY_TIMEOUT_MS / 5, `median ${median(hostile).toFixed(1)} ms`);
    assert.ok(Math.max(...hostile) < ENVOY_TIMEOUT_MS, `slowest ${Math.max(...hostile).toFixed(1)} ms`);
  });
});
