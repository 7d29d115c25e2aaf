import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvoyClient, denyBody, envoyRequest, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { createTestCa, testCaUnavailable } from '../../testkit/test-ca.js';
import { startTestIdp, type TestIdp } from '../../testkit/test-idp.js';
import { sleep } from '../../testkit/wait.js';

// Opaque tokens end to end: the real sidecar binary introspects them at a local HTTPS identity
// provider whose certificate comes from a CA made for this run (trusted by the child through
// NODE_EXTRA_CA_CERTS). The IdP counts its calls, so caching and single-flight are measured
// where they matter: at the IdP.
const SECRET = 'test-client-secret-0123456789';
const CLIENT_ID = 'orders-sidecar';
const unavailable = testCaUnavailable();

const policy = (issuers: string[]) => `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  roles: { customer: ["orders:read"] }
  rolesFrom: roles
  rules:
    - name: read-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders"] }]
      from: [{ issuers: ${JSON.stringify(issuers)} }]
      require: { scopes: ["orders:read"], permission: "orders:read" }
    - name: reports-for-the-reporting-client
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/reports"] }]
      when: 'request.auth.claims.client_id == "reporting" && request.auth.subject == "alice"'
`;

describe('introspection: opaque tokens against a local HTTPS IdP, real binary', { skip: unavailable }, () => {
  let idp: TestIdp;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let openIssuer: string;
  let serial = 0;

  /** A fresh opaque token the IdP knows (active), with these members in its answer. */
  const activeToken = (answer: Record<string, unknown> = {}): string => {
    const token = `opaque-${++serial}-${Math.random().toString(36).slice(2)}`;
    idp.tokens.set(token, {
      sub: 'alice',
      scope: 'orders:read profile',
      client_id: 'web',
      roles: ['customer'],
      exp: Math.floor(Date.now() / 1000) + 600,
      ...answer,
    });
    return token;
  };
  const check = (token: string, path = '/api/orders', header = 'authorization'): Promise<CheckResult> =>
    client.check(envoyRequest({ path, headers: { [header]: header === 'authorization' ? `Bearer ${token}` : token, 'x-auth-subject': 'spoofed' } }));
  const calls = () => idp.calls.introspection;

  before(async () => {
    const ca = createTestCa();
    idp = await startTestIdp({ ca, jwks: [], clientId: CLIENT_ID, clientSecret: SECRET });
    openIssuer = `${idp.issuer}/open`;
    const dir = tempDir();
    writeFileSync(join(dir, 'client.secret'), `${SECRET}\n`);
    writeFileSync(join(dir, 'policy.yaml'), policy([idp.issuer, openIssuer]));
    const config = `service: orders
issuers:
  - name: corp
    issuer: "${idp.issuer}"
    audiences: [orders]
    introspection: { url: "${idp.introspectionUrl}", clientId: ${CLIENT_ID}, clientSecretFile: client.secret, timeoutMs: 1000, cacheSeconds: 300, negativeCacheSeconds: 2 }
  - name: corp-open
    issuer: "${openIssuer}"
    audiences: [orders]
    from: [{ header: x-open-token }]
    introspection: { url: "${idp.introspectionUrl}", clientId: ${CLIENT_ID}, clientSecretFile: client.secret, timeoutMs: 1000 }
    failOpen: true
policy: { file: policy.yaml }
log: { denyLinesPerSecond: 0 }
`;
    sidecar = await startSidecar(writeConfig(dir, config), { env: { NODE_EXTRA_CA_CERTS: ca.caFile } });
    client = new EnvoyClient(sidecar.grpcAddress);
  });

  after(async () => {
    client?.close();
    await sidecar?.stop();
    await idp?.close();
  });

  it('an active token is allowed with the identity a JWT would give: sub, scope, roles, client_id', async () => {
    const before = calls();
    const token = activeToken({ client_id: 'reporting' });
    const result = await check(token);
    assert.equal(result.status.code, 0, JSON.stringify(result.denied_response?.body));
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-subject'), 'alice', 'sub → x-auth-subject, the spoofed one replaced');
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-issuer'), idp.issuer);
    assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, 'read-orders', 'scope and roles (rolesFrom) reached the policy');
    const reports = await check(token, '/api/reports');
    assert.equal(reports.dynamic_metadata?.fields.rule?.stringValue, 'reports-for-the-reporting-client', 'claims.client_id reached CEL');
    assert.equal(calls() - before, 1, 'the second Check was answered from the cache');
    assert.equal(idp.lastClientAuth, 'client_secret_basic');
  });

  it('100 concurrent Checks carrying one new token make exactly one introspection call', async () => {
    const token = activeToken();
    const before = calls();
    idp.introspectionDelayMs = 300;
    try {
      const results = await Promise.all(Array.from({ length: 100 }, () => check(token)));
      assert.deepEqual(new Set(results.map((r) => r.status.code)), new Set([0]));
    } finally {
      idp.introspectionDelayMs = 0;
    }
    assert.equal(calls() - before, 1, 'single-flight');
    await check(token);
    assert.equal(calls() - before, 1, 'then cached');
  });

  it('active: false is 401 token_inactive with an invalid_token challenge, remembered briefly', async () => {
    const before = calls();
    const first = await check('never-issued-token');
    assert.deepEqual([httpStatus(first), denyBody(first).reason], [401, 'token_inactive']);
    assert.match(headerOf(first.denied_response?.headers, 'www-authenticate') ?? '', /error="invalid_token"/);
    await check('never-issued-token');
    assert.equal(calls() - before, 1, 'the refusal is cached');
    await sleep(2_100); // negativeCacheSeconds: 2
    await check('never-issued-token');
    assert.equal(calls() - before, 2, 'and forgotten after negativeCacheSeconds');
  });

  it("an answer is reused no longer than the token's exp", async () => {
    const token = activeToken({ exp: Math.floor(Date.now() / 1000) + 2 });
    const before = calls();
    assert.equal((await check(token)).status.code, 0);
    assert.equal((await check(token)).status.code, 0);
    assert.equal(calls() - before, 1);
    idp.tokens.delete(token); // as a real IdP forgets an expired token
    await sleep(2_200);
    const later = await check(token);
    assert.deepEqual([httpStatus(later), denyBody(later).reason], [401, 'token_inactive']);
    assert.equal(calls() - before, 2, 'asked again once exp had passed, not served from the cache for cacheSeconds');
  });

  it('IdP down: a new token is 503 keys_unavailable, a cached one still passes, the opted-in issuer fails open', async () => {
    const cached = activeToken();
    assert.equal((await check(cached)).status.code, 0);
    idp.introspection = 'down';
    try {
      const fresh = await check(activeToken());
      assert.deepEqual([fresh.status.code, httpStatus(fresh), denyBody(fresh).reason], [14, 503, 'keys_unavailable']);
      assert.equal(headerOf(fresh.denied_response?.headers, 'www-authenticate'), undefined, 'not the caller’s fault: no invalid_token');
      assert.equal((await check(cached)).status.code, 0, 'cached answers keep serving');
      const open = await check(activeToken(), '/api/orders', 'x-open-token');
      assert.equal(open.status.code, 0);
      assert.equal(open.dynamic_metadata?.fields.reason?.stringValue, 'fail_open');
      assert.equal(headerOf(open.ok_response?.headers, 'x-auth-subject'), undefined, 'no identity');
      assert.ok(open.ok_response?.headers_to_remove?.includes('x-auth-subject'));
      await sidecar.waitForLog((line) => line.msg?.toString().startsWith('introspection endpoint failing') === true && line.issuer === 'corp');
    } finally {
      idp.introspection = 'normal';
    }
    assert.equal((await check(activeToken())).status.code, 0, 'recovered');
  });

  for (const [mode, what] of [
    ['active-string', '"active": "true" (a string)'],
    ['huge', 'a 10 MiB answer'],
    ['redirect', 'a redirect'],
    ['hang', 'an answer that never finishes'],
  ] as const) {
    it(`${what} is 503 keys_unavailable, never an allow`, async () => {
      idp.introspection = mode;
      const started = Date.now();
      try {
        const result = await check(activeToken());
        assert.deepEqual([httpStatus(result), denyBody(result).reason], [503, 'keys_unavailable']);
        if (mode === 'hang') assert.ok(Date.now() - started < 3_000, 'bounded by introspection.timeoutMs');
      } finally {
        idp.introspection = 'normal';
      }
    });
  }

  it('never logs a token or the client secret', () => {
    const text = sidecar.logs.map((line) => JSON.stringify(line)).join('\n');
    assert.ok(text.length > 0);
    assert.ok(!text.includes(SECRET), 'client secret');
    for (const token of idp.tokens.keys()) assert.ok(!text.includes(token), 'token');
    assert.ok(!text.includes('never-issued-token'));
  });
});
