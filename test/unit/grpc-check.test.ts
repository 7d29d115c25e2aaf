import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { issuerSchema } from '../../src/config/schema.js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';
import { createCheckHandler, policyDeny, type CheckDependencies, type CheckHandler, type CheckTarget } from '../../src/grpc/check.js';
import type { DecisionRecord } from '../../src/grpc/check-sinks.js';
import { IdentityHeaders } from '../../src/grpc/identity-headers.js';
import { KeyStore } from '../../src/keys/index.js';
import { compilePolicyText, PolicyUsage, ServiceTable, ShadowPolicy, type CompiledPolicy, type Decision } from '../../src/policy/index.js';
import { buildRequestView } from '../../src/request/index.js';
import { ANONYMOUS, createAuthenticator, TokenError, type Authenticator, type VerifiedToken } from '../../src/tokens/index.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { mint } from '../../testkit/tokens.js';

const POLICY = `
apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: public
      action: ALLOW
      to: [{ paths: ["/public"] }]
    - name: read-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders"] }]
      from: [{ issuers: ["https://idp.example.test"] }]
      require: { scopes: ["orders:read"] }
`;

const issuer = issuerSchema.parse({
  name: 'idp',
  issuer: 'https://idp.example.test',
  audiences: ['orders'],
  algorithms: ['ES256'],
  keys: { file: `${EXAMPLES}/keys/idp.jwks.json` },
  claimsToHeaders: { tenant: 'x-tenant-id' },
});

function request(shape: { path?: string; method?: string; headers?: Record<string, string>; id?: string } = {}): CheckRequest__Output {
  const http = {
    id: '77',
    method: shape.method ?? 'GET',
    path: shape.path ?? '/api/orders',
    host: 'orders.example.test',
    headers: { 'x-request-id': shape.id ?? 'req-1', ...shape.headers },
  };
  return { attributes: { request: { http }, source: { principal: '' }, context_extensions: {} } };
}

const body = (r: CheckResponse) => JSON.parse(r.denied_response?.body ?? '{}');
const httpStatus = (r: CheckResponse) => r.denied_response?.status?.code;
const meta = (r: CheckResponse, field: string) => r.dynamic_metadata?.fields?.[field]?.stringValue;
const challenge = (r: CheckResponse) => r.denied_response?.headers?.find((h) => h.header?.key === 'www-authenticate')?.header?.value;

describe('createCheckHandler (real request view, tokens, keys and policy)', () => {
  const store = new KeyStore({ name: 'idp', source: issuer.keys!, algorithms: issuer.algorithms, pollIntervalMs: 60_000 });
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const metrics = new Metrics();
  let policy: CompiledPolicy | null;
  let authenticator: Authenticator;
  let check: CheckHandler;

  /** The handler for service orders; `policy`, `usage` and `shadow` are the one service's. */
  function handler(
    overrides: Partial<CheckDependencies> & Partial<Pick<CheckTarget, 'usage' | 'shadow'>> & { policy?: () => CompiledPolicy | null } = {},
  ): CheckHandler {
    const { policy: current = () => policy, usage, shadow, ...rest } = overrides;
    const target: CheckTarget = { name: 'orders', policies: { current }, usage, shadow };
    return createCheckHandler({
      service: 'orders',
      buildView: (r) => buildRequestView(r, { maxHeaders: 10 }),
      authenticate: (view) => authenticator.authenticate(view),
      services: { select: () => target },
      identity: new IdentityHeaders([issuer]),
      metrics,
      log: createLogger('info', sink),
      logAllows: false,
      ...rest,
    });
  }
  const count = async (decision: string, reason: string) =>
    (await Promise.resolve(metrics.checks.get())).values.find((v) => v.labels.decision === decision && v.labels.reason === reason)?.value ?? 0;
  const logFor = (r: CheckResponse) => lines.filter((l) => l.decision_id === meta(r, 'decision_id'));

  before(async () => {
    await store.start();
    authenticator = createAuthenticator({ issuers: [issuer], service: 'orders', keyStores: { issuers: new Map([['idp', store]]) }, cacheMaxEntries: 100 });
    policy = compilePolicyText(POLICY, 'inline.yaml', { service: 'orders' });
    check = handler();
  });
  after(() => store.stop());

  it('allows a valid token, synchronously once the token is cached', async () => {
    const token = await mint({ scope: 'orders:read', tenant: 'acme' });
    const first = check(request({ headers: { authorization: `Bearer ${token}` } }));
    assert.ok(!(first instanceof Promise), 'a cache miss whose key is in the current set verifies synchronously too');
    const allowed = first;
    const second = check(request({ headers: { authorization: `Bearer ${token}`, 'x-auth-subject': 'mallory' } }));
    assert.ok(!(second instanceof Promise), 'a cache hit answers synchronously');
    for (const response of [allowed, second]) {
      assert.equal(response.status?.code, 0);
      assert.equal(response.denied_response, undefined);
      const set = Object.fromEntries((response.ok_response?.headers ?? []).map((h) => [h.header?.key, h.header?.value]));
      assert.deepEqual(set, { 'x-auth-subject': 'alice', 'x-auth-issuer': 'https://idp.example.test', 'x-tenant-id': 'acme' });
      assert.deepEqual(response.ok_response?.headers_to_remove, ['x-auth-principal']);
      assert.equal(meta(response, 'decision'), 'allow');
      assert.equal(meta(response, 'rule'), 'read-orders');
      assert.equal(meta(response, 'reason'), 'allowed_by_rule');
      assert.equal(meta(response, 'policy'), 'orders');
      assert.equal(meta(response, 'policy_revision'), policy!.revision);
    }
    assert.notEqual(meta(allowed, 'decision_id'), meta(second, 'decision_id'));
    assert.equal(await count('allow', 'allowed_by_rule'), 2);
    assert.equal(logFor(second).length, 0, 'allows are not logged unless log.allows');
  });

  it('an anonymous allow strips client-sent identity headers', () => {
    const response = check(request({ path: '/public', headers: { 'x-auth-subject': 'mallory' } }));
    assert.ok(!(response instanceof Promise));
    assert.equal(response.status?.code, 0);
    assert.deepEqual(response.ok_response?.headers, []);
    assert.deepEqual(response.ok_response?.headers_to_remove, ['x-auth-issuer', 'x-auth-principal', 'x-auth-subject', 'x-tenant-id']);
  });

  it('no policy loaded: 503 not_ready, before any token work', () => {
    const response = handler({ policy: () => null, authenticate: () => assert.fail('must not authenticate') })(request());
    assert.ok(!(response instanceof Promise));
    assert.deepEqual([response.status?.code, httpStatus(response)], [14, 503]);
    assert.deepEqual(body(response), { error: 'unavailable', reason: 'not_ready', request_id: 'req-1' });
    assert.equal(meta(response, 'policy'), '');
  });

  it('a malformed request: 400 malformed_request', async () => {
    const response = check({});
    assert.ok(!(response instanceof Promise));
    assert.deepEqual([response.status?.code, httpStatus(response)], [3, 400]);
    assert.deepEqual(body(response), { error: 'bad_request', reason: 'malformed_request', request_id: '' });
    const traversal = check(request({ path: '/public/../../admin' })) as CheckResponse;
    assert.deepEqual([httpStatus(traversal), body(traversal).reason], [400, 'path_traversal']);
    assert.equal(await count('deny', 'malformed_request'), 1);
  });

  it('too many headers: 431 too_many_headers, still INVALID_ARGUMENT', () => {
    const headers = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x-h${i}`, 'v']));
    const response = check(request({ headers })) as CheckResponse;
    assert.deepEqual([response.status?.code, httpStatus(response)], [3, 431]);
    assert.equal(body(response).reason, 'too_many_headers');
  });

  it('an invalid token: 401 invalid_token, logged without the token', async () => {
    const expired = await mint({ scope: 'orders:read' }, { ttlSeconds: -3600 });
    for (const [token, reason] of [
      ['not-a-jwt', 'token_malformed'],
      [expired, 'token_expired'],
    ] as const) {
      const response = await check(request({ path: '/public', headers: { authorization: `Bearer ${token}` } }));
      assert.deepEqual([response.status?.code, httpStatus(response)], [16, 401], reason);
      assert.deepEqual(body(response), { error: 'unauthenticated', reason, request_id: 'req-1' });
      assert.equal(challenge(response), 'Bearer realm="orders", error="invalid_token"');
      const [line] = logFor(response);
      assert.equal(line?.reason, reason);
      assert.equal(line?.msg, 'deny');
      assert.equal(line?.request_id, 'req-1');
      assert.equal(line?.path, '/public', 'a token failure is logged with the path it was for');
      assert.ok(!raw.some((text) => text.includes(token)), 'the token never reaches the log');
    }
  });

  it('a policy deny without credentials: 401 credentials_missing, challenge without error', () => {
    const response = check(request()) as CheckResponse;
    assert.deepEqual([response.status?.code, httpStatus(response)], [16, 401]);
    assert.equal(body(response).reason, 'credentials_missing');
    assert.equal(challenge(response), 'Bearer realm="orders"');
    assert.equal(meta(response, 'reason'), 'credentials_missing');
    const [line] = logFor(response);
    assert.deepEqual([line?.reason, line?.path, line?.decision], ['credentials_missing', '/api/orders', 'deny']);
  });

  it('a policy deny with an identity: 403, naming a missing scope', async () => {
    const token = await mint({ scope: 'orders:write' });
    const response = await check(request({ headers: { authorization: `Bearer ${token}` } }));
    assert.deepEqual([response.status?.code, httpStatus(response)], [7, 403]);
    assert.deepEqual(body(response), { error: 'forbidden', reason: 'missing_scope', request_id: 'req-1' });
    assert.equal(challenge(response), 'Bearer realm="orders", error="insufficient_scope", scope="orders:read"');
    const other = await check(request({ method: 'DELETE', headers: { authorization: `Bearer ${token}` } }));
    assert.deepEqual([httpStatus(other), body(other).reason, challenge(other)], [403, 'default_deny', undefined]);
  });

  it('a policy that throws: 500 internal_error and an error log line, never an allow', async () => {
    const broken: CompiledPolicy = {
      ...policy!,
      name: 'broken',
      revision: 'r1',
      evaluate: () => {
        throw new Error('boom');
      },
    };
    const failing = handler({ policy: () => broken });
    const token = await mint({ scope: 'orders:read' });
    const sync = failing(request({ path: '/public' }));
    assert.ok(!(sync instanceof Promise));
    const fresh = failing(request({ headers: { authorization: `Bearer ${token}` } }));
    assert.ok(!(fresh instanceof Promise), 'the verifying (cache miss) path too');
    for (const response of [sync, fresh]) {
      assert.deepEqual([response.status?.code, httpStatus(response)], [13, 500]);
      assert.equal(response.ok_response, undefined);
      assert.equal(body(response).reason, 'internal_error');
      assert.equal(meta(response, 'decision'), 'deny');
      assert.equal(meta(response, 'policy'), 'broken');
      const logged = logFor(response);
      const error = logged.find((l) => l.level === 50);
      assert.equal(error?.msg, 'check failed');
      assert.equal((error?.err as { message?: string })?.message, 'boom');
      assert.equal(logged.find((l) => l.msg === 'deny')?.reason, 'internal_error');
    }
    assert.ok(!JSON.stringify(fresh).includes('boom'), 'the error stays out of the response');
  });

  describe('fail-open (opt-in per issuer or per policy)', () => {
    const unavailable = () => Promise.reject(new TokenError('keys_unavailable', 'no keys', { issuerName: 'idp' }));
    const failOpenCount = async (labels: Record<string, string>) =>
      (await metrics.failOpen.get()).values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k as keyof typeof v.labels] === val))?.value ?? 0;

    it('off by default: keys_unavailable is a 503 without a challenge, never an allow', async () => {
      const response = await handler({ authenticate: unavailable })(request());
      assert.deepEqual([response.status?.code, httpStatus(response), body(response).reason], [14, 503, 'keys_unavailable']);
      assert.equal(response.ok_response, undefined);
      assert.equal(challenge(response), undefined, "not the caller's fault: no invalid_token challenge");
    });

    it('an issuer switch allows without identity, counts and logs it; other issuers stay closed', async () => {
      const before = await failOpenCount({ scope: 'issuer', name: 'idp', cause: 'keys_unavailable' });
      const response = await handler({ authenticate: unavailable, failOpenIssuers: new Set(['idp']) })(request({ headers: { 'x-auth-subject': 'spoofed' } }));
      assert.equal(response.status?.code, 0);
      const ok = response.ok_response;
      assert.ok(ok);
      assert.deepEqual(ok.headers ?? [], [], 'no identity header is set');
      assert.ok(ok.headers_to_remove?.includes('x-auth-subject'), 'spoofed identity headers are removed');
      assert.deepEqual([meta(response, 'decision'), meta(response, 'reason')], ['allow', 'fail_open']);
      assert.equal(await failOpenCount({ scope: 'issuer', name: 'idp', cause: 'keys_unavailable' }), before + 1);
      const warned = logFor(response).find((l) => l.msg === 'fail-open allow');
      assert.deepEqual([warned?.scope, warned?.name, warned?.cause, warned?.level], ['issuer', 'idp', 'keys_unavailable', 40]);
      const other = await handler({ authenticate: unavailable, failOpenIssuers: new Set(['other-idp']) })(request());
      assert.equal(httpStatus(other), 503);
    });

    it('the switch never turns an invalid token into an allow', async () => {
      const bad = () => Promise.reject(new TokenError('token_signature_invalid', 'bad', { issuerName: 'idp' }));
      const response = await handler({ authenticate: bad, failOpenIssuers: new Set(['idp']) })(request());
      assert.deepEqual([httpStatus(response), body(response).reason], [401, 'token_signature_invalid']);
    });

    it('a policy switch covers keys_unavailable and internal errors, not policy denies', async () => {
      const open = compilePolicyText(POLICY.replace('defaultAction: DENY', 'defaultAction: DENY\n  failOpen: true'), 'open.yaml', { service: 'orders' });
      assert.equal(open.failOpen, true);
      const response = await handler({ authenticate: unavailable, policy: () => open })(request());
      assert.deepEqual([response.status?.code, meta(response, 'reason'), meta(response, 'policy')], [0, 'fail_open', 'orders']);
      const throwing: CompiledPolicy = {
        ...open,
        evaluate: () => {
          throw new Error('boom');
        },
      };
      const before = await failOpenCount({ scope: 'policy', name: 'orders', cause: 'internal_error' });
      const internal = await handler({ policy: () => throwing })(request({ path: '/public' }));
      assert.equal(internal.status?.code, 0);
      assert.equal(await failOpenCount({ scope: 'policy', name: 'orders', cause: 'internal_error' }), before + 1);
      const denied = await handler({ policy: () => open })(request({ method: 'DELETE' }));
      assert.deepEqual([httpStatus(denied), body(denied).reason], [401, 'credentials_missing'], 'an ordinary deny is still a deny');
      const unready = await handler({ policy: () => null })(request());
      assert.equal(httpStatus(unready), 503, 'no policy loaded is always closed');
    });
  });

  it('an authenticator that throws something unexpected is an internal error too', async () => {
    const response = await handler({ authenticate: () => Promise.reject(new TypeError('bug')) })(request());
    assert.deepEqual([httpStatus(response), body(response).reason], [500, 'internal_error']);
  });

  it('a failure after the policy decided is a 500 deny on the async path too, not a rejected promise', async () => {
    // Synchronously (cache hit / anonymous) the outer try turns this into a 500 deny; after an
    // async verification nothing catches it, and server.ts answers a gRPC INTERNAL error instead
    // of a CheckResponse (an allow when Envoy runs with failure_mode_allow).
    class BrokenIdentity extends IdentityHeaders {
      override forCaller(): never {
        throw new Error('identity bug');
      }
    }
    const failing = handler({ identity: new BrokenIdentity([issuer]) });
    const sync = failing(request({ path: '/public' })) as CheckResponse;
    assert.deepEqual([httpStatus(sync), body(sync).reason], [500, 'internal_error']);
    const token = await mint({ scope: 'orders:read', tenant: 'acme' });
    const response = await failing(request({ headers: { authorization: `Bearer ${token}` } }));
    assert.deepEqual([httpStatus(response), body(response).reason], [500, 'internal_error']);
  });

  it('caps deny log lines per second, counts every deny, and reports how many lines it held back', async () => {
    let now = 1_700_000_000_000;
    const check = handler({ denyLinesPerSecond: 2, clock: { monotonicMs: () => now, epochMs: () => now } });
    const before = lines.length;
    const metricBefore = await count('deny', 'credentials_missing');
    for (let i = 0; i < 5; i++) void check(request({ id: `flood-${i}` }));
    const logged = lines.slice(before).filter((l) => l.msg === 'deny');
    assert.equal(logged.length, 2);
    assert.equal(await count('deny', 'credentials_missing'), metricBefore + 5);
    now += 999;
    void check(request({ id: 'same-window' }));
    assert.equal(lines.slice(before).filter((l) => l.msg === 'deny').length, 2, 'still the same one-second window');
    now += 1;
    void check(request({ id: 'after-window' }));
    const next = lines
      .slice(before)
      .filter((l) => l.msg === 'deny')
      .at(-1)!;
    assert.equal(next.request_id, 'after-window');
    assert.equal(next.suppressed, 4);
  });

  it('a shadow that denies everything changes no answer; its divergence is logged and recorded with a shadow field', async () => {
    const shadow = new ShadowPolicy();
    const denyAll = `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - { name: never, action: ALLOW, to: [{ paths: ["/never"] }] }
`;
    shadow.swap(compilePolicyText(denyAll, 'shadow.yaml', { service: 'orders' }));
    const records: DecisionRecord[] = [];
    const audit = { wants: (allow: boolean) => !allow, record: (r: DecisionRecord) => records.push(r) };
    const token = await mint({ scope: 'orders:read', tenant: 'acme' });
    const requests = [
      request({ headers: { authorization: `Bearer ${token}` }, id: 'with-token' }),
      request({ path: '/public', id: 'public' }),
      request({ path: '/elsewhere', headers: { authorization: `Bearer ${token}` }, id: 'nowhere' }),
    ];
    const plain = handler({ decisionLog: audit });
    const shadowed = handler({ decisionLog: audit, shadow });
    const strip = (r: CheckResponse) =>
      JSON.stringify({ ...r, dynamic_metadata: { ...r.dynamic_metadata, fields: { ...r.dynamic_metadata?.fields, decision_id: undefined } } });
    for (const r of requests) assert.equal(strip(await plain(r)), strip(await shadowed(r)));
    // The plain handler recorded the one deny; the shadowed one that deny and both divergent allows.
    const withShadow = records.filter((r) => r.shadow !== undefined);
    assert.deepEqual(
      withShadow.map((r) => [r.request_id, r.decision, r.shadow]),
      [
        ['with-token', 'allow', { decision: 'deny', reason: 'default_deny', rule: null }],
        ['public', 'allow', { decision: 'deny', reason: 'default_deny', rule: null }],
      ],
    );
    assert.equal(records.filter((r) => r.request_id === 'nowhere').length, 2, 'a deny both agree on is recorded as before, without a shadow field');
    assert.ok(
      records.every((r) => !JSON.stringify(r).includes(token)),
      'no record holds the token',
    );
    assert.deepEqual(
      lines.filter((l) => l.msg === 'shadow diverged').map((l) => [l.request_id, l.decision, (l.shadow as { decision: string }).decision]),
      [
        ['with-token', 'allow', 'deny'],
        ['public', 'allow', 'deny'],
      ],
    );
    assert.equal(shadow.report()!.divergent, 2);
  });

  it('counts the rules the enforced policy decided with', async () => {
    const usage = new PolicyUsage();
    await handler({ usage })(request({ path: '/public' }));
    await handler({ usage })(request({ path: '/nowhere' }));
    const report = usage.report(policy);
    assert.equal(report.checks, 2);
    assert.deepEqual(
      report.rules.map((r) => `${r.name} ${r.hits}`),
      ['public 1', 'read-orders 0'],
    );
  });

  it('logs allows when asked to', () => {
    const response = handler({ logAllows: true })(request({ path: '/public' })) as CheckResponse;
    const [line] = logFor(response);
    assert.deepEqual([line?.msg, line?.decision, line?.reason, line?.rule], ['allow', 'allow', 'allowed_by_rule', 'public']);
  });
});

describe('createCheckHandler in a gateway (the service chosen per Check)', () => {
  const policyOf = (service: string, path: string) =>
    compilePolicyText(
      `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: ${service}-policy, service: ${service} }
spec:
  defaultAction: DENY
  rules:
    - { name: ${service}-public, action: ALLOW, to: [{ paths: ["${path}"] }] }
`,
      `${service}.yaml`,
      { service },
    );
  const gatewayRequest = (path: string, extensions: Record<string, string>, id: string): CheckRequest__Output => {
    const base = request({ path, id });
    return { ...base, attributes: { ...base.attributes!, context_extensions: extensions } };
  };

  it("decides with the named service's policy, realm and counters; an unknown service is 403 unknown_service", async () => {
    const table = new ServiceTable([{ name: 'orders' }, { name: 'billing' }, { name: 'users' }], 'contextExtension');
    table.get('orders')!.policies.swap(policyOf('orders', '/orders'));
    table.get('billing')!.policies.swap(policyOf('billing', '/billing'));
    const metrics = new Metrics();
    const records: DecisionRecord[] = [];
    const check = createCheckHandler({
      service: 'ingress',
      buildView: (r) => buildRequestView(r),
      authenticate: () => ANONYMOUS,
      services: table,
      identity: new IdentityHeaders([]),
      metrics,
      log: createLogger('silent'),
      logAllows: false,
      decisionLog: { wants: () => true, record: (r) => records.push(r) },
    });
    const answer = async (path: string, extensions: Record<string, string>) => {
      const r = await check(gatewayRequest(path, extensions, `${extensions.service ?? '-'}${path}`));
      return [r.status?.code, httpStatus(r) ?? 200, meta(r, 'reason'), meta(r, 'policy'), challenge(r) ?? null];
    };
    assert.deepEqual(await answer('/billing', { service: 'billing' }), [0, 200, 'allowed_by_rule', 'billing-policy', null]);
    assert.deepEqual(await answer('/orders', { service: 'billing' }), [16, 401, 'credentials_missing', 'billing-policy', 'Bearer realm="billing"']);
    assert.deepEqual(await answer('/orders', { service: 'orders' }), [0, 200, 'allowed_by_rule', 'orders-policy', null]);
    assert.deepEqual(await answer('/orders', { service: 'users' }), [14, 503, 'not_ready', '', null], 'a known service whose policy has not loaded');
    assert.deepEqual(await answer('/orders', { service: 'shipping' }), [7, 403, 'unknown_service', '', null]);
    assert.deepEqual(await answer('/orders', {}), [7, 403, 'unknown_service', '', null]);
    const series = (await Promise.resolve(metrics.checks.get())).values.map((v) => `${v.labels.service} ${v.labels.decision} ${v.labels.reason} ${v.value}`);
    assert.deepEqual(series.sort(), [
      'billing allow allowed_by_rule 1',
      'billing deny credentials_missing 1',
      'ingress deny unknown_service 2',
      'orders allow allowed_by_rule 1',
      'users deny not_ready 1',
    ]);
    assert.deepEqual(
      records.map((r) => [r.request_id, r.service]),
      [
        ['billing/billing', 'billing'],
        ['billing/orders', 'billing'],
        ['orders/orders', 'orders'],
        ['users/orders', 'users'],
        ['shipping/orders', 'ingress'],
        ['-/orders', 'ingress'],
      ],
    );
  });
});

describe('policyDeny', () => {
  const decision: Decision = { allow: false, rule: 'r', reason: 'denied_by_rule', missingScopes: [], callerIndependent: false };
  const user = { issuerName: 'idp', issuer: 'i', subject: 's', audience: [], jti: undefined, expiresAt: 0, scopes: [], claims: {} } as VerifiedToken;

  it('no identity at all → 401 credentials_missing; any identity → 403 with the policy reason', () => {
    assert.deepEqual(policyDeny(decision, ANONYMOUS), { kind: 'unauthenticated', reason: 'credentials_missing' });
    assert.deepEqual(policyDeny({ ...decision, reason: 'default_deny' }, { user: null, service: null, principal: null }), {
      kind: 'unauthenticated',
      reason: 'credentials_missing',
    });
    assert.deepEqual(policyDeny(decision, { user, service: null, principal: null }), { kind: 'forbidden', reason: 'denied_by_rule' });
    assert.deepEqual(policyDeny({ ...decision, reason: 'missing_permission' }, { user: null, service: null, principal: 'spiffe://cluster.local/ns/a/sa/b' }), {
      kind: 'forbidden',
      reason: 'missing_permission',
    });
  });

  it('a DENY rule that looks at no identity → 403 denied_by_rule, for anonymous callers too', () => {
    const everyone = { ...decision, callerIndependent: true };
    assert.deepEqual(policyDeny(everyone, ANONYMOUS), { kind: 'forbidden', reason: 'denied_by_rule' });
    assert.deepEqual(policyDeny(everyone, { user, service: null, principal: null }), { kind: 'forbidden', reason: 'denied_by_rule' });
  });
});
