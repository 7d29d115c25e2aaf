import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildActivation, compileCondition, conditionError, toCel } from '../../src/policy/cel.js';
import { regexError } from '../../src/policy/cel-regex.js';
import { compilePolicy, validatePolicyDocument } from '../../src/policy/index.js';
import type { RequestView } from '../../src/request/types.js';
import type { AuthContext, VerifiedToken } from '../../src/tokens/types.js';

function request(overrides: Partial<RequestView> = {}): RequestView {
  return {
    id: 'req-1',
    method: 'GET',
    host: 'orders.example.test',
    path: '/api/orders/7',
    rawPath: '/api/orders/7?x=1',
    query: { x: '1' },
    headers: { 'x-tenant-id': 't1', 'user-agent': 'curl' },
    repeatedHeaders: new Set(),
    sourceAddress: '10.0.0.9:41000',
    sourcePrincipal: 'spiffe://cluster.local/ns/edge/sa/gw',
    contextExtensions: { route: 'orders' },
    ...overrides,
  };
}

function token(claims: Record<string, unknown>, overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    issuerName: 'idp',
    issuer: 'https://idp.example.test',
    subject: 'user-1',
    audience: ['orders'],
    jti: undefined,
    expiresAt: 2_000_000_000,
    scopes: ['orders:read'],
    claims: Object.freeze({ iss: 'https://idp.example.test', sub: 'user-1', exp: 2_000_000_000, ...claims }),
    ...overrides,
  };
}

function auth(user: VerifiedToken | null, principal: string | null = null): AuthContext {
  return { user, service: null, principal };
}

/** Evaluates `source` against a request and user; the roles are passed through as given. */
function run(source: string, user: VerifiedToken | null = token({}), req = request(), roles: string[] = []) {
  return compileCondition(source).evaluate(buildActivation(req, auth(user, 'spiffe://cluster.local/ns/shop/sa/checkout'), roles));
}

describe('CEL variables', () => {
  it('reads the query, the source address and the context extensions from the view only when the expression does', () => {
    const reads: string[] = [];
    const lazy = (name: keyof RequestView, value: unknown) => ({ get: () => (reads.push(name), value), enumerable: true });
    const view = Object.defineProperties(request(), {
      query: lazy('query', { x: '1' }),
      sourceAddress: lazy('sourceAddress', '10.0.0.9:41000'),
      contextExtensions: lazy('contextExtensions', { route: 'orders' }),
    });
    const activation = buildActivation(view, auth(token({ tenant: 't1' })), []);
    assert.equal(compileCondition('request.auth.claims.tenant == request.headers["x-tenant-id"] && request.method == "GET"').evaluate(activation), true);
    assert.deepEqual(reads, []);
    assert.equal(compileCondition('request.query.x == "1" && source.address.startsWith("10.") && context.route == "orders"').evaluate(activation), true);
    assert.deepEqual(reads.sort(), ['contextExtensions', 'query', 'sourceAddress']);
  });

  it('exposes request, request.auth, source and context', () => {
    const user = token({ tenant: 't1' });
    const roles = ['customer'];
    for (const expr of [
      'request.id == "req-1"',
      'request.method == "GET" && request.host == "orders.example.test"',
      'request.path == "/api/orders/7" && request.query.x == "1"',
      'request.headers["user-agent"] == "curl"',
      'request.auth.subject == "user-1" && request.auth.issuer == "https://idp.example.test"',
      'request.auth.claims.tenant == request.headers["x-tenant-id"]',
      '"orders:read" in request.auth.scopes && "customer" in request.auth.roles',
      'request.auth.principal == "spiffe://cluster.local/ns/shop/sa/checkout"',
      'source.address == "10.0.0.9:41000" && source.principal == "spiffe://cluster.local/ns/edge/sa/gw"',
      'context.route == "orders"',
    ]) {
      assert.equal(run(expr, user, request(), roles), true, expr);
    }
  });

  it('gives an anonymous caller empty values', () => {
    assert.equal(
      run('request.auth.subject == "" && request.auth.issuer == "" && size(request.auth.claims) == 0 && size(request.auth.scopes) == 0', null),
      true,
    );
  });

  it('compares JSON numbers in claims as CEL int or double', () => {
    const user = token({ level: 3, ratio: 1.5, big: 2 ** 60, org: { tier: 2 }, groups: [1, 2] });
    for (const expr of [
      'request.auth.claims.exp > 5',
      'request.auth.claims.exp - 60 > 5',
      'request.auth.claims.exp == 2000000000',
      'request.auth.claims.exp > 5.0',
      'request.auth.claims.level + 1 == 4',
      'request.auth.claims.ratio > 1 && request.auth.claims.ratio == 1.5',
      'request.auth.claims.org.tier >= 2',
      '2 in request.auth.claims.groups',
      'request.auth.claims.big > 1000.0',
      'type(request.auth.claims.level) == int && type(request.auth.claims.ratio) == double',
    ]) {
      assert.equal(run(expr, user), true, expr);
    }
    const converted = toCel({ a: [1, 1.5, 'x', null, true] }) as { a: unknown[] };
    assert.deepEqual(converted.a, [1n, 1.5, 'x', null, true]);
  });

  it('supports has() and "in"; reading a missing key is an error, not false', () => {
    const user = token({});
    assert.equal(run('has(request.auth.claims.tenant)', user), false);
    assert.equal(run('"x-missing" in request.headers', user), false);
    assert.equal(run('!has(request.auth.claims.tenant) || request.auth.claims.tenant == "t1"', user), true);
    const missing = run('request.auth.claims.tenant == "t1"', user);
    assert.ok(missing instanceof Error);
    assert.match(missing.message, /No such key: tenant/);
    const header = run('request.headers["x-missing"] == ""', user);
    assert.ok(header instanceof Error);
  });

  it('treats a non-bool result as an error', () => {
    const result = run('request.auth.claims.admin', token({ admin: 'yes' }));
    assert.ok(result instanceof Error);
    assert.equal(result.message, 'result is not a bool');
    assert.equal(run('request.auth.claims.admin', token({ admin: true })), true);
  });
});

describe('CEL compile errors', () => {
  it('rejects syntax, unknown names, type errors and non-bool expressions in one line', () => {
    const cases: Array<[string, string]> = [
      ['request.path ==', 'Unexpected token: EOF (at character 16)'],
      ['requests.path == "/"', 'Unknown variable: requests (at character 1)'],
      ['request.auth.subjects == ""', 'No such key: subjects (at character 14)'],
      ['request.method == 1', 'no such overload: string == int (at character 1)'],
      ['request.path', 'must evaluate to bool, not string'],
      ['size(request.headers)', 'must evaluate to bool, not int'],
    ];
    for (const [source, reason] of cases) assert.equal(conditionError(source), reason, source);
    assert.equal(conditionError('request.method == "GET"'), null);
  });

  it('enforces the parse limits', () => {
    const deep = '('.repeat(40) + 'true' + ')'.repeat(40);
    assert.match(conditionError(deep) ?? '', /^Exceeded maxDepth \(32\)/);
    const wide = Array.from({ length: 400 }, (_, i) => `request.path == "/${i}"`).join(' || ');
    assert.match(conditionError(wide) ?? '', /^Exceeded maxAstNodes \(1000\)/);
    const list = `request.path in [${Array.from({ length: 300 }, (_, i) => `"/${i}"`).join(',')}]`;
    assert.match(conditionError(list) ?? '', /^Exceeded maxListElements \(256\)/);
  });

  it('accepts literal RE2 patterns, including ones that backtrack in JavaScript, and refuses what RE2 cannot do', () => {
    for (const pattern of [
      '^/api/[a-z0-9-]+$',
      '^(GET|HEAD)$',
      '^/v1/.*refund$',
      '.*a.*b',
      '.*refund',
      '^(a+)+$',
      '(a|aa)*',
      '[a-z]+x',
      '(?i)^bearer ',
      '^\\p{L}+$',
    ])
      assert.equal(conditionError(`request.path.matches(${JSON.stringify(pattern)})`), null, pattern);
    assert.equal(conditionError('request.path.matches(request.headers["x-re"])'), 'matches() takes a string literal pattern');
    assert.equal(conditionError('request.path.matches("(a)\\\\1")'), 'matches("(a)\\\\1"): backreferences are not supported (RE2 syntax)');
    assert.equal(regexError('(?<n>a)\\k<n>'), 'backreferences are not supported (RE2 syntax)');
    assert.equal(regexError('a(?=b)'), 'lookarounds are not supported (RE2 syntax)');
    assert.equal(regexError('a(?!b)'), 'lookarounds are not supported (RE2 syntax)');
    assert.equal(regexError('(?<!a)b'), 'lookarounds are not supported (RE2 syntax)');
    assert.equal(regexError('(?<=a)b'), 'lookarounds are not supported (RE2 syntax)');
    assert.equal(regexError('(a'), 'not valid RE2 syntax: missing closing ) "(a"');
    assert.equal(regexError('a**'), 'not valid RE2 syntax: invalid nested repetition operator "**"');
    // JavaScript-only syntax is refused rather than read differently.
    assert.equal(regexError('\\u0041'), 'not valid RE2 syntax: invalid escape sequence "\\\\u"');
    assert.equal(regexError('[^]'), 'not valid RE2 syntax: missing closing ] "[^]"');
  });

  it('matches with RE2 semantics, never with the built-in (JavaScript RegExp) matches', () => {
    // RegExp rejects `(?i)` and reads `\pL` as "pL": only RE2 gives these results.
    assert.equal(run('request.path.matches("(?i)^/API/ORDERS/\\\\d+$")'), true);
    assert.equal(run('request.headers["user-agent"].matches("^\\\\pL+$")'), true);
    // A `dyn` receiver is dispatched at evaluation time, and reaches RE2 too.
    assert.equal(run('request.auth.claims.name.matches("(?i)^bob$")', token({ name: 'BOB' })), true);
    // A search, as in CEL: unanchored unless the pattern anchors.
    assert.equal(run('request.path.matches("orders")'), true);
    assert.equal(run('request.path.matches("^orders")'), false);
    // Evaluation errors name `matches`, as written, at the right place.
    const error = run('request.auth.claims.name.matches("x")', token({ name: 5 }));
    assert.ok(error instanceof Error);
    assert.match(error.message, /^found no matching overload for 'int\.matches\(string\)'/);
    assert.ok(error.message.includes('request.auth.claims.name.matches("x")') && !error.message.includes('re2find'));
  });

  it('renames only the method: comments, parentheses and macros around matches() are kept', () => {
    const source = '(request.path). // matches(\n matches ("/api") && request.auth.roles.exists(r, r.matches("^team-"))';
    assert.equal(run(source, token({}), request(), ['team-a']), true);
    assert.equal(run(source, token({}), request(), ['other']), false);
    assert.equal(conditionError('request.path.re2find("x")'), "found no matching overload for 'string.re2find(string)' (at character 1)");
  });
});

describe('CEL in a policy', () => {
  const policy = (rules: unknown[], onConditionError?: (rule: string, error: Error) => void) =>
    compilePolicy(
      validatePolicyDocument(
        { apiVersion: 'authz-sidecar/v1', kind: 'Policy', metadata: { name: 'p', service: 'p' }, spec: { defaultAction: 'DENY', rules } },
        'p.yaml',
      ),
      { revision: 'r1', onConditionError },
    );

  it('fails closed: an erroring ALLOW rule does not match, an erroring DENY rule does', () => {
    const errors: string[] = [];
    const tenantRule = 'request.auth.claims.tenant == request.headers["x-tenant-id"]';
    const allow = policy([{ name: 'tenant', action: 'ALLOW', when: tenantRule }], (rule) => errors.push(rule));
    assert.equal(allow.evaluate(request(), auth(token({ tenant: 't1' }))).allow, true);
    assert.equal(allow.evaluate(request(), auth(token({}))).reason, 'default_deny');
    assert.deepEqual(errors, ['tenant']);

    const deny = policy([
      { name: 'wrong-tenant', action: 'DENY', when: `!(${tenantRule})` },
      { name: 'all', action: 'ALLOW' },
    ]);
    assert.equal(deny.evaluate(request(), auth(token({ tenant: 't1' }))).reason, 'allowed_by_rule');
    assert.equal(deny.evaluate(request(), auth(token({ tenant: 't2' }))).reason, 'denied_by_rule');
    assert.equal(deny.evaluate(request(), auth(token({}))).rule, 'wrong-tenant', 'missing claim → the DENY rule matches');
  });

  it('builds the activation only when a rule with `when` is reached, and once', () => {
    let reads = 0;
    const counting = (): RequestView => {
      const base = request();
      return Object.defineProperty<RequestView>({ ...base }, 'contextExtensions', {
        get: () => {
          reads++;
          return base.contextExtensions;
        },
      });
    };
    const p = policy([
      { name: 'deny-a', action: 'DENY', to: [{ paths: ['/a'] }], when: 'request.method == "GET"' },
      { name: 'deny-b', action: 'DENY', when: 'request.method == "DELETE"' },
      { name: 'allow-c', action: 'ALLOW', when: 'request.method == "POST"' },
      { name: 'allow-d', action: 'ALLOW', when: 'context.route == "orders"' },
    ]);
    assert.equal(p.evaluate(counting(), auth(null)).rule, 'allow-d');
    assert.equal(reads, 1, 'three conditions evaluated, one activation');

    reads = 0;
    const plain = policy([
      { name: 'a', action: 'ALLOW', to: [{ paths: ['/x'] }], when: 'true' },
      { name: 'b', action: 'ALLOW', to: [{ paths: ['/api/*'] }] },
    ]);
    assert.equal(plain.evaluate(counting(), auth(null)).rule, 'b');
    assert.equal(reads, 0, 'no rule with `when` was reached');
  });
});

describe('request.params: the captures of the rule’s path template', () => {
  const policy = (rules: unknown[], onConditionError?: (rule: string, error: Error) => void) =>
    compilePolicy(
      validatePolicyDocument(
        { apiVersion: 'authz-sidecar/v1', kind: 'Policy', metadata: { name: 'p', service: 'p' }, spec: { defaultAction: 'DENY', rules } },
        'p.yaml',
      ),
      { revision: 'r1', file: 'p.yaml', onConditionError },
    );
  const at = (path: string, method = 'GET') => request({ path, rawPath: path, method });
  const as = (sub: string) => auth(token({ sub }, { subject: sub }));

  it('allows a customer their own orders, in one line, and nobody else’s', () => {
    const p = policy([
      {
        name: 'own-orders',
        action: 'ALLOW',
        to: [{ paths: ['/v1/customers/{customer}/orders/**'] }],
        when: 'request.params.customer == request.auth.claims.sub',
      },
    ]);
    assert.equal(p.evaluate(at('/v1/customers/alice/orders/7'), as('alice')).rule, 'own-orders');
    assert.equal(p.evaluate(at('/v1/customers/alice/orders/'), as('alice')).allow, true);
    assert.deepEqual(p.evaluate(at('/v1/customers/alice/orders/7'), as('bob')), {
      allow: false,
      rule: null,
      reason: 'default_deny',
      missingScopes: [],
      callerIndependent: false,
    });
    assert.equal(p.evaluate(at('/v1/customers/alice/orders'), as('alice')).allow, false, '"/**" needs the "/" before it');
    assert.equal(p.evaluate(at('/v1/customers/bob/orders/alice'), as('alice')).allow, false);
  });

  it('captures "{name=**}" as the rest of the path and "*" not at all', () => {
    const p = policy([
      {
        name: 'files',
        action: 'ALLOW',
        to: [{ paths: ['/v1/*/files/{path=**}'] }],
        when: 'request.params.path.startsWith("public/") && size(request.params) == 1',
      },
    ]);
    assert.equal(p.evaluate(at('/v1/x/files/public/a/b.txt'), auth(null)).allow, true);
    assert.equal(p.evaluate(at('/v1/x/files/private/a'), auth(null)).allow, false);
    assert.equal(p.evaluate(at('/v1/x/files/'), auth(null)).allow, false, 'the rest is "" there');
  });

  it('takes the captures of the first `to` entry, then the first path, that matched', () => {
    const p = policy([
      {
        name: 'first',
        action: 'ALLOW',
        to: [{ methods: ['POST'], paths: ['/{id}/{other}/x'] }, { paths: ['/{other}/{id}/x', '/{id}/{other}/x'] }],
        when: 'request.params.id == "a"',
      },
    ]);
    assert.equal(p.evaluate(at('/b/a/x'), auth(null)).allow, true, 'GET: the second entry, its first path');
    assert.equal(p.evaluate(at('/a/b/x'), auth(null)).allow, false);
    assert.equal(p.evaluate(at('/a/b/x', 'POST'), auth(null)).allow, true, 'POST: the first entry');
    assert.equal(p.evaluate(at('/b/a/x', 'POST'), auth(null)).allow, false);
  });

  it('gives each rule its own captures within one Check', () => {
    const p = policy([
      { name: 'deny-blocked', action: 'DENY', to: [{ paths: ['/v1/{tenant}/orders/{id}'] }], when: 'request.params.tenant == "blocked"' },
      { name: 'allow-even', action: 'ALLOW', to: [{ paths: ['/v1/{t}/orders/{order}'] }], when: 'request.params.order.endsWith("2")' },
      { name: 'allow-odd', action: 'ALLOW', to: [{ paths: ['/v1/{id}/orders/{n}'] }], when: 'request.params.id == "acme"' },
    ]);
    assert.equal(p.evaluate(at('/v1/acme/orders/42'), auth(null)).rule, 'allow-even');
    assert.equal(p.evaluate(at('/v1/acme/orders/41'), auth(null)).rule, 'allow-odd', 'params.id is this rule’s (acme), not deny-blocked’s (41)');
    assert.equal(p.evaluate(at('/v1/blocked/orders/42'), auth(null)).rule, 'deny-blocked');
    assert.equal(p.evaluate(at('/v1/other/orders/41'), auth(null)).reason, 'default_deny');
  });

  it('is empty, not missing, for a rule matched by a pattern without captures; a missing name fails closed', () => {
    const errors: string[] = [];
    const p = policy(
      [
        { name: 'deny-x', action: 'DENY', to: [{ paths: ['/a/{id}', '/b/*'] }], when: 'request.params.id == "x"' },
        { name: 'allow', action: 'ALLOW', to: [{ paths: ['/a/{id}', '/b/*', '/c'] }], when: '!has(request.params.id) || request.params.id != "y"' },
        { name: 'allow-size', action: 'ALLOW', to: [{ paths: ['/d/{id}', '/e'] }], when: 'size(request.params) == 0' },
      ],
      (rule) => errors.push(rule),
    );
    assert.equal(p.evaluate(at('/a/x'), auth(null)).rule, 'deny-x');
    assert.equal(p.evaluate(at('/a/z'), auth(null)).rule, 'allow');
    assert.equal(p.evaluate(at('/a/y'), auth(null)).reason, 'default_deny');
    assert.deepEqual(errors, []);
    assert.equal(p.evaluate(at('/b/q'), auth(null)).rule, 'deny-x', 'no "id" from "/b/*": an evaluation error, and a DENY rule fails closed');
    assert.deepEqual(errors, ['deny-x']);
    assert.equal(p.evaluate(at('/c'), auth(null)).rule, 'allow', 'has() is false there');
    assert.equal(p.evaluate(at('/e'), auth(null)).rule, 'allow-size');
    assert.equal(p.evaluate(at('/d/1'), auth(null)).reason, 'default_deny');

    const allowErrors: string[] = [];
    const allowOnly = policy([{ name: 'allow-id', action: 'ALLOW', to: [{ paths: ['/a/{id}', '/b/*'] }], when: 'request.params.id != "x"' }], (rule) =>
      allowErrors.push(rule),
    );
    assert.equal(allowOnly.evaluate(at('/a/q'), auth(null)).allow, true);
    assert.equal(allowOnly.evaluate(at('/b/q'), auth(null)).allow, false, 'an ALLOW rule fails closed: it does not match');
    assert.deepEqual(allowErrors, ['allow-id']);
  });

  it('refuses at load a name none of the rule’s paths captures, or params where nothing is captured', () => {
    const refused = (to: unknown, when: string) => {
      try {
        policy([{ name: 'r', action: 'ALLOW', to, when }]);
      } catch (error) {
        return (error as Error).message;
      }
      return null;
    };
    const two = [{ paths: ['/a/{id}'] }, { paths: ['/b/{order}/{rest=**}'] }];
    const unknown = (name: string) =>
      `p.yaml: spec.rules[0] (r).when: reads request.params.${name}, which none of the rule's paths captures (they capture: id, order, rest)`;
    assert.equal(refused(two, 'request.params.oder == "1"'), unknown('oder'));
    assert.equal(refused(two, 'request.params["oder"] == "1"'), unknown('oder'));
    assert.equal(refused(two, '"oder" in request.params'), unknown('oder'));
    assert.equal(refused(two, 'has(request.params.oder)'), unknown('oder'));
    assert.equal(refused(two, 'request.params.id == "1" || request.params.Id == "1"'), unknown('Id'));
    assert.equal(refused(two, 'request.params.id == "1" && request.params.order == "2" && request.params.rest == ""'), null);
    assert.equal(refused(two, 'request.params[request.headers["x"]] == "1"'), null, 'a computed key cannot be checked: missing fails closed');
    const none = 'p.yaml: spec.rules[0] (r).when: reads request.params, but none of the rule\'s paths captures a variable ("/orders/{id}")';
    assert.equal(refused([{ paths: ['/a', '/b/*', '/c/*/d', '/e/**'] }], 'size(request.params) == 0'), none);
    assert.equal(refused([{ methods: ['GET'] }], 'request.params.id == "1"'), none);
    assert.equal(refused(undefined, '"id" in request.params'), none);
    assert.equal(refused([{ paths: ['/a'] }], 'request.path == "/a"'), null);
  });

  it('knows which conditions read request.params, and which names', () => {
    const reads = (source: string) => {
      const condition = compileCondition(source);
      if (condition.paramNames !== null) assert.equal(condition.readsParams, true, source);
      return condition.paramNames === null ? null : [...condition.paramNames].sort();
    };
    assert.equal(reads('request.path == "/x" && request.auth.subject == ""'), null);
    assert.equal(reads('request.headers["params"] == "x"'), null);
    assert.equal(compileCondition('request.path == "/x" && request.headers["params"] == "x"').readsParams, false);
    assert.deepEqual(reads('request.params.a == "1" && request.params["b"] == "2" && "c" in request.params && has(request.params.d)'), ['a', 'b', 'c', 'd']);
    assert.deepEqual(reads('size(request.params) > 0'), []);
    assert.deepEqual(reads('request.params.all(k, k != "")'), []);
    // `request` used whole may reach the params without naming them: read, but no names to check.
    const whole = compileCondition('dyn(request).params.id == "7"');
    assert.equal(whole.readsParams, true);
    assert.equal(whole.paramNames, null);
    const p = policy([{ name: 'r', action: 'ALLOW', to: [{ paths: ['/v1/{id}'] }], when: 'dyn(request).params.id == "7"' }]);
    assert.equal(p.evaluate(at('/v1/7'), auth(null)).allow, true, 'the rule’s captures are there');
    assert.equal(p.evaluate(at('/v1/8'), auth(null)).allow, false);
    const none = policy([{ name: 'r', action: 'ALLOW', to: [{ paths: ['/v1'] }], when: '[1].exists(request, request > 0)' }]);
    assert.equal(none.evaluate(at('/v1'), auth(null)).allow, true, 'a comprehension variable named request is not request.params');
    assert.equal(conditionError('request.params.id == 1'), 'no such overload: string == int (at character 1)');
  });

  it('computes the captures only when a condition reads them, once per rule per Check', () => {
    let asked = 0;
    const source = {
      paramsOf: () => {
        asked++;
        return Object.freeze({ id: '7' });
      },
    };
    const activation = buildActivation(request(), auth(null), []);
    assert.equal(compileCondition('request.path != ""').evaluate(activation), true);
    activation.useParams(source);
    assert.equal(compileCondition('request.method == "GET"').evaluate(activation), true);
    assert.equal(asked, 0);
    assert.equal(compileCondition('request.params.id == "7" && request.params.id.size() == 1').evaluate(activation), true);
    assert.equal(compileCondition('"id" in request.params').evaluate(activation), true);
    assert.equal(asked, 1, 'asked once, then kept');
    activation.useParams(source);
    assert.equal(compileCondition('request.params.id == "7"').evaluate(activation), true);
    assert.equal(asked, 1, 'the same rule again: kept');
    activation.useParams({ paramsOf: () => Object.freeze({ other: 'x' }) });
    assert.equal(compileCondition('"id" in request.params').evaluate(activation), false, 'another rule: its own captures');
    activation.useParams(null);
    assert.equal(compileCondition('size(request.params) == 0').evaluate(activation), true);

    // Through a policy: a template rule whose `when` does not read request.params reads the
    // path no more often than one without `when`; one that reads them reads it more.
    const pathReads = (when: string | undefined) => {
      let n = 0;
      const view = Object.defineProperty<RequestView>({ ...request() }, 'path', {
        get: () => {
          n++;
          return '/v1/payments/7/refund';
        },
      });
      const p = policy([{ name: 'r', action: 'ALLOW', to: [{ paths: ['/v1/payments/{id}/refund'] }], ...(when === undefined ? {} : { when }) }]);
      assert.equal(p.evaluate(view, auth(null)).allow, true, String(when));
      return n;
    };
    const bare = pathReads(undefined);
    assert.equal(pathReads('request.method == "GET"'), bare);
    assert.ok(pathReads('request.params.id == "7"') > bare);
  });
});
