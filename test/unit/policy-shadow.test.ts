import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  compilePolicyText,
  DivergenceTable,
  PolicyUsage,
  ShadowPolicy,
  sumShadowReports,
  sumUsage,
  type CompiledPolicy,
  type Decision,
  type PolicyReport,
} from '../../src/policy/index.js';
import type { RequestView } from '../../src/request/types.js';
import type { AuthContext, VerifiedToken } from '../../src/tokens/types.js';
import { EXAMPLES } from '../../testkit/paths.js';

const EXAMPLE = readFileSync(`${EXAMPLES}/policy.yaml`, 'utf8');
const compile = (text: string, onConditionError?: () => void) => compilePolicyText(text, 'inline.yaml', { service: 'orders', onConditionError });

function view(method: string, path: string, headers: Record<string, string> = {}): RequestView {
  return {
    id: `req ${method} ${path}`,
    method,
    host: 'orders.example.test',
    path,
    rawPath: path,
    query: {},
    headers,
    repeatedHeaders: new Set(),
    sourceAddress: '',
    sourcePrincipal: '',
    contextExtensions: {},
  };
}

function caller(claims: Record<string, unknown>, subject = 'alice'): AuthContext {
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  const user: VerifiedToken = {
    issuerName: 'idp',
    issuer: 'https://idp.example.test',
    subject,
    audience: ['orders'],
    jti: undefined,
    expiresAt: 4_000_000_000,
    scopes: scope,
    claims: { sub: subject, iss: 'https://idp.example.test', ...claims },
  };
  return { user, service: null, principal: null };
}
const ANONYMOUS: AuthContext = { user: null, service: null, principal: null };
const customer = caller({ scope: 'orders:read orders:write', roles: ['customer'], tenant: 'acme' });
const admin = caller({ roles: ['admin'] }, 'root');

describe('PolicyUsage', () => {
  function decide(usage: PolicyUsage, policy: CompiledPolicy, v: RequestView, auth: AuthContext): Decision {
    const decision = policy.evaluate(v, auth);
    usage.record(policy, decision, auth);
    return decision;
  }

  it('counts the deciding rule, the grants that gave the permission and the scopes of allows', () => {
    const policy = compile(EXAMPLE);
    const usage = new PolicyUsage(() => Date.UTC(2026, 11, 8));
    assert.equal(decide(usage, policy, view('GET', '/api/orders/1', { 'x-tenant-id': 'acme' }), customer).rule, 'read-orders');
    assert.equal(decide(usage, policy, view('GET', '/api/orders/2', { 'x-tenant-id': 'acme' }), customer).rule, 'read-orders');
    assert.equal(decide(usage, policy, view('GET', '/legacy/x'), ANONYMOUS).reason, 'denied_by_rule');
    assert.equal(decide(usage, policy, view('GET', '/admin/panel'), admin).rule, 'admin-everything');
    // A near miss names a rule but is not that rule's decision: no hit.
    assert.equal(decide(usage, policy, view('GET', '/admin/panel'), customer).reason, 'missing_permission');
    assert.equal(decide(usage, policy, view('GET', '/nowhere'), customer).reason, 'default_deny');

    const report = usage.report(policy);
    assert.equal(report.checks, 6);
    const hits = Object.fromEntries(report.rules.map((r) => [r.name, r.hits]));
    assert.deepEqual(hits, {
      'public-health': 0,
      'block-legacy': 1,
      'read-orders': 2,
      'own-order-history': 0,
      'create-orders': 0,
      'admin-everything': 1,
      'checkout-service': 0,
    });
    assert.deepEqual(
      report.grants.map((g) => `${g.role} ${g.permission} ${g.hits}`),
      ['admin orders:* 1', 'customer orders:read 2', 'customer orders:create 0'],
    );
    assert.deepEqual(
      report.scopes.map((s) => `${s.scope} ${s.hits}`),
      ['orders:read 2', 'orders:write 0'],
    );
    assert.equal(usage.startedAt, '2026-12-08T00:00:00.000Z');
  });

  it('keeps the counts of the rules a new revision keeps, by name', () => {
    const usage = new PolicyUsage();
    const first = compile(EXAMPLE);
    decide(usage, first, view('GET', '/healthz'), ANONYMOUS);
    const second = compile(EXAMPLE.replace('name: public-health', 'name: health'));
    decide(usage, second, view('GET', '/healthz'), ANONYMOUS);
    decide(usage, second, view('GET', '/healthz'), ANONYMOUS);
    const rules = Object.fromEntries(usage.report(second).rules.map((r) => [r.name, r.hits]));
    assert.equal(rules.health, 2);
    assert.equal(rules['public-health'], undefined, 'a rule the policy no longer has is not reported');
    const back = Object.fromEntries(usage.report(first).rules.map((r) => [r.name, r.hits]));
    assert.equal(back['public-health'], 1);
  });

  it('reports no rules before a policy is loaded', () => {
    assert.deepEqual(new PolicyUsage().report(null), { checks: 0, rules: [], grants: [], scopes: [] });
  });
});

describe('ShadowPolicy', () => {
  const enforced = compile(EXAMPLE);

  it('is nothing until a shadow is swapped in, and null removes it', () => {
    const shadow = new ShadowPolicy();
    assert.equal(shadow.observe(view('GET', '/healthz'), ANONYMOUS, enforced.evaluate(view('GET', '/healthz'), ANONYMOUS)), null);
    assert.equal(shadow.report(), null);
    shadow.swap(compile(EXAMPLE));
    assert.equal(shadow.observe(view('GET', '/healthz'), ANONYMOUS, enforced.evaluate(view('GET', '/healthz'), ANONYMOUS)), null, 'an agreeing Check');
    assert.equal(shadow.report()!.evaluated, 1);
    shadow.swap(compile(EXAMPLE));
    assert.notEqual(shadow.report(), null);
    shadow.swap(null);
    assert.equal(shadow.report(), null);
  });

  it('records agreement and divergence, with samples only of divergent Checks and never a token', () => {
    const shadow = new ShadowPolicy(() => Date.UTC(2026, 11, 8, 1));
    shadow.swap(compile(EXAMPLE.replace('      when: \'request.auth.claims.tenant == request.headers["x-tenant-id"]\'\n', '')));
    const cases: Array<[RequestView, AuthContext]> = [
      [view('GET', '/api/orders/1', { 'x-tenant-id': 'acme' }), customer],
      [view('GET', '/api/orders/2', { 'x-tenant-id': 'globex' }), customer],
      [view('GET', '/api/orders/3', { 'x-tenant-id': 'globex' }), customer],
      [view('GET', '/healthz'), ANONYMOUS],
    ];
    const verdicts = cases.map(([v, auth]) => shadow.observe(v, auth, enforced.evaluate(v, auth)));
    assert.deepEqual(
      verdicts.map((v) => v !== null),
      [false, true, true, false],
    );
    const report = shadow.report()!;
    assert.equal(report.evaluated, 4);
    assert.equal(report.divergent, 2);
    assert.equal(report.since, '2026-12-08T01:00:00.000Z');
    const [top] = report.pairs;
    assert.deepEqual(
      { ...top, samples: top.samples.map((s) => s.path) },
      {
        enforced: 'deny',
        enforcedReason: 'default_deny',
        enforcedRule: null,
        shadow: 'allow',
        shadowReason: 'allowed_by_rule',
        shadowRule: 'read-orders',
        count: 2,
        samples: ['/api/orders/2', '/api/orders/3'],
      },
    );
    assert.deepEqual(Object.keys(top.samples[0]).sort(), ['at', 'method', 'path', 'requestId', 'subject']);
    assert.equal(top.samples[0].subject, 'alice');
    assert.ok(
      report.pairs.slice(1).every((p) => p.samples.length === 0),
      'agreeing pairs keep no samples',
    );
    assert.deepEqual(
      shadow.outcomes().sort((a, b) => a.enforced.localeCompare(b.enforced)),
      [
        { enforced: 'allow', shadow: 'allow', count: 2 },
        { enforced: 'deny', shadow: 'allow', count: 2 },
      ],
    );
  });

  it('contains a shadow that throws and counts conditions that fail at run time', () => {
    const shadow = new ShadowPolicy();
    const throwing: CompiledPolicy = {
      ...enforced,
      evaluate: () => {
        throw new Error('boom');
      },
    };
    shadow.swap(throwing);
    const v = view('GET', '/healthz');
    const verdict = shadow.observe(v, ANONYMOUS, enforced.evaluate(v, ANONYMOUS))!;
    assert.deepEqual(verdict, { decision: null });
    assert.equal(shadow.report()!.errors, 1);
    assert.equal(shadow.report()!.pairs[0].shadow, 'error');

    shadow.swap(
      compile(
        `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: broken
      action: ALLOW
      when: request.auth.claims.nothing.here == "x"
`,
        shadow.onConditionError,
      ),
    );
    const read = view('GET', '/api/orders/1', { 'x-tenant-id': 'acme' });
    const answer = shadow.observe(read, customer, enforced.evaluate(read, customer))!;
    assert.equal(answer.decision?.reason, 'default_deny', 'the failing rule fails closed, and the enforced allow makes it a divergence');
    assert.equal(shadow.conditionErrorCount, 1);
    assert.equal(shadow.report()!.conditionErrors, 1);
    assert.equal(shadow.report()!.errors, 0, 'a new revision starts a fresh table');
  });
});

describe('DivergenceTable', () => {
  const allow = (rule: string): Decision => ({ allow: true, rule, reason: 'allowed_by_rule', missingScopes: [], callerIndependent: false });
  const deny: Decision = { allow: false, rule: null, reason: 'default_deny', missingScopes: [], callerIndependent: false };
  const sample = (n: number) => () => ({ requestId: String(n), method: 'GET', path: `/${n}`, subject: null, at: '' });

  it('counts the same pair of decision objects again without a new pair, whether through the key or the object cache', () => {
    const table = new DivergenceTable();
    const a = allow('a');
    for (let i = 0; i < 5; i++) table.record(a, deny, sample(i));
    table.record(allow('a'), deny, sample(9));
    assert.deepEqual(
      table.list().map((p) => [p.count, p.samples.map((s) => s.requestId)]),
      [[6, ['0', '1', '2']]],
    );
  });

  it('bounds the number of pairs: further pairs count as overflow, known pairs keep counting', () => {
    const table = new DivergenceTable(2, 1);
    table.record(allow('a'), deny, sample(1));
    table.record(allow('b'), deny, sample(2));
    table.record(allow('c'), deny, sample(3));
    table.record(allow('a'), deny, sample(4));
    assert.equal(table.evaluated, 4);
    assert.equal(table.divergent, 4);
    assert.equal(table.overflow, 1);
    assert.deepEqual(
      table.list().map((p) => [p.enforcedRule, p.count, p.samples.map((s) => s.requestId)]),
      [
        ['a', 2, ['1']],
        ['b', 1, ['2']],
      ],
    );
  });

  it('sums the reports of several sidecars pair by pair', () => {
    const one = new DivergenceTable();
    const two = new DivergenceTable();
    one.record(allow('a'), deny, sample(1));
    one.record(allow('a'), allow('a'), sample(2));
    two.record(allow('a'), deny, sample(3));
    two.record(deny, allow('x'), sample(4));
    const report = (t: DivergenceTable) => ({
      name: 'orders',
      revision: '1',
      since: '',
      evaluated: t.evaluated,
      divergent: t.divergent,
      errors: t.errors,
      conditionErrors: 1,
      overflow: 0,
      pairs: t.list(),
    });
    const totals = sumShadowReports([report(one), report(two)]);
    assert.equal(totals.evaluated, 4);
    assert.equal(totals.divergent, 3);
    assert.equal(totals.conditionErrors, 2);
    assert.deepEqual(
      totals.table.list().map((p) => [p.enforced, p.enforcedRule, p.shadow, p.shadowRule, p.count, p.samples.length]),
      [
        ['allow', 'a', 'deny', null, 2, 2],
        ['deny', null, 'allow', 'x', 1, 1],
        ['allow', 'a', 'allow', 'a', 1, 0],
      ],
    );
  });

  it('sums usage by name across sidecars running different revisions', () => {
    const base = { service: 'orders', instance: '', startedAt: '', at: '', policy: null, checks: 0, shadow: null };
    const reports: PolicyReport[] = [
      { ...base, rules: [{ name: 'a', action: 'ALLOW', hits: 1 }], grants: [{ role: 'r', permission: 'p', hits: 0 }], scopes: [{ scope: 's', hits: 1 }] },
      {
        ...base,
        rules: [
          { name: 'a', action: 'ALLOW', hits: 2 },
          { name: 'b', action: 'ALLOW', hits: 0 },
        ],
        grants: [{ role: 'r', permission: 'p', hits: 0 }],
        scopes: [],
      },
    ];
    const totals = sumUsage(reports);
    assert.deepEqual(
      totals.rules.map((r) => `${r.name} ${r.hits}`),
      ['a 3', 'b 0'],
    );
    assert.deepEqual(
      totals.grants.map((g) => `${g.role} ${g.permission} ${g.hits}`),
      ['r p 0'],
    );
    assert.deepEqual(
      totals.scopes.map((s) => `${s.scope} ${s.hits}`),
      ['s 1'],
    );
  });
});
