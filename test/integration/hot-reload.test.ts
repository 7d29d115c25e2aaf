import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyPair, startConformanceEnv, type ConformanceEnv } from '../../testkit/conformance-env.js';
import { denyBody, envoyRequest, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { IDP_PRIVATE_JWK, mint } from '../../testkit/tokens.js';

const CLAIMS = { roles: ['customer'], scope: 'orders:read' };

/** Polls until `check` returns something `accept` likes (files are re-read every 100 ms here). */
async function eventually(check: () => Promise<CheckResult>, accept: (r: CheckResult) => boolean, timeoutMs = 3_000): Promise<CheckResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (accept(result) || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Replaces a file the way Kubernetes does: write elsewhere, then rename over it. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function metric(env: ConformanceEnv, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${env.sidecar.adminUrl}/metrics`)).text();
  const match = text.match(pattern);
  return match ? Number(match[1]) : 0;
}

describe('key sets and policies reload from files without a restart', () => {
  let env: ConformanceEnv;
  let jwksPath: string;
  before(async () => {
    env = await startConformanceEnv();
    jwksPath = join(env.dir, 'keys', 'idp.jwks.json');
  });
  after(async () => {
    await env.close();
  });

  const call = (token: string) => () => env.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }));

  it("rotates: a new kid is accepted once published, and the removed key's tokens (cached ones too) are refused", async () => {
    const original = JSON.parse(readFileSync(jwksPath, 'utf8'));
    const next = await keyPair('idp-dev-2');
    const oldToken = await mint(CLAIMS);
    const newToken = await mint(CLAIMS, { jwk: next.privateJwk });

    assert.equal((await call(oldToken)()).status.code, 0, 'old token allowed (and now cached)');
    const before = await call(newToken)();
    assert.equal(denyBody(before).reason, 'token_key_unknown');

    replaceFile(jwksPath, JSON.stringify({ keys: [...original.keys, next.publicJwk] }));
    const accepted = await eventually(call(newToken), (r) => r.status.code === 0);
    assert.equal(accepted.status.code, 0, 'new kid accepted after rotation');
    assert.equal((await call(oldToken)()).status.code, 0, 'old kid still accepted during overlap');

    replaceFile(jwksPath, JSON.stringify({ keys: [next.publicJwk] }));
    const refused = await eventually(call(oldToken), (r) => r.status.code !== 0);
    assert.equal(httpStatus(refused), 401);
    assert.equal(denyBody(refused).reason, 'token_key_unknown');
    assert.equal((await call(newToken)()).status.code, 0);
  });

  it('keeps the last good key set when the file turns bad, and counts the rejection', async () => {
    const current = await keyPair('idp-dev-3');
    const token = await mint(CLAIMS, { jwk: current.privateJwk });
    replaceFile(jwksPath, JSON.stringify({ keys: [current.publicJwk] }));
    assert.equal((await eventually(call(token), (r) => r.status.code === 0)).status.code, 0);
    const rejections = /authz_key_set_rejections_total\{name="idp",code="[a-z_]+"\} (\d+)/;
    const rejectionsBefore = await metric(env, rejections);

    // A private key in a public key set is refused as a whole; so is a file that is not JSON.
    replaceFile(jwksPath, JSON.stringify({ keys: [IDP_PRIVATE_JWK] }));
    await env.sidecar.waitForLog((line) => line.msg === 'key set rejected; keeping the previous set' && line.keys === 'idp', 3_000);
    replaceFile(jwksPath, '{ not json');
    await new Promise((r) => setTimeout(r, 400));

    assert.equal((await call(token)()).status.code, 0, 'the last good set is still in force');
    assert.equal(denyBody(await call(await mint(CLAIMS))()).reason, 'token_key_unknown', 'the refused set was not applied');
    assert.ok((await metric(env, rejections)) > rejectionsBefore);
    assert.equal((await fetch(`${env.sidecar.adminUrl}/readyz`)).status, 200);
  });

  it('swaps in a changed policy, and keeps the old one when the new file is invalid', async () => {
    const policyPath = join(env.dir, 'policy.yaml');
    const original = readFileSync(policyPath, 'utf8');
    const anonymous = () => env.client.check(envoyRequest({ path: '/open/thing' }));
    assert.equal(httpStatus(await anonymous()), 401);

    replaceFile(policyPath, original.replace('paths: ["/public/*", "/public"]', 'paths: ["/public/*", "/public", "/open/*"]'));
    const opened = await eventually(anonymous, (r) => r.status.code === 0);
    assert.equal(opened.dynamic_metadata?.fields.rule?.stringValue, 'public');
    const revision = opened.dynamic_metadata?.fields.policy_revision?.stringValue;

    replaceFile(policyPath, original.replace('action: ALLOW', 'action: MAYBE'));
    await env.sidecar.waitForLog((line) => line.msg === 'policy rejected; keeping the previous policy', 3_000);
    const still = await anonymous();
    assert.equal(still.status.code, 0);
    assert.equal(still.dynamic_metadata?.fields.policy_revision?.stringValue, revision);
    const rejected = env.sidecar.logs.find((line) => line.msg === 'policy rejected; keeping the previous policy');
    assert.match(String(rejected?.reason), /policy\.yaml:12:15: spec\.rules\[0\] \(public\)\.action: /);
    replaceFile(policyPath, original);
  });
});
