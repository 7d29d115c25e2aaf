import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { RuleIndex } from '../../src/policy/index-tree.js';
import { compilePolicy, loadPolicyFile, validatePolicyDocument, type Decision } from '../../src/policy/index.js';
import { parsePathPattern } from '../../src/policy/paths.js';
import type { RequestView } from '../../src/request/types.js';
import type { AuthContext, VerifiedToken } from '../../src/tokens/types.js';

const IDP = 'https://idp.example.test';
const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout';

function request(overrides: Partial<RequestView> = {}): RequestView {
  const path = overrides.path ?? '/api/orders';
  return {
    id: 'req-1',
    method: 'GET',
    host: 'orders.example.test',
    path,
    rawPath: path,
    query: {},
    headers: { 'x-tenant-id': 't1' },
    repeatedHeaders: new Set(),
    sourceAddress: '10.0.0.9:41000',
    sourcePrincipal: '',
    contextExtensions: {},
    ...overrides,
  };
}

function token(overrides: Partial<VerifiedToken> & { claims?: Record<string, unknown> } = {}): VerifiedToken {
  const { claims, ...rest } = overrides;
  return {
    issuerName: 'idp',
    issuer: IDP,
    subject: 'user-1',
    audience: ['orders'],
    jti: undefined,
    expiresAt: 2_000_000_000,
    scopes: ['orders:read'],
    claims: Object.freeze({ tenant: 't1', roles: ['customer'], ...claims }),
    ...rest,
  };
}

function auth(overrides: Partial<AuthContext> = {}): AuthContext {
  return { user: token(), service: null, principal: null, ...overrides };
}

const ANON: AuthContext = { user: null, service: null, principal: null };

function policy(spec: Record<string, unknown>) {
  const doc = { apiVersion: 'authz-sidecar/v1', kind: 'Policy', metadata: { name: 't', service: 't' }, spec };
  return compilePolicy(validatePolicyDocument(doc, 't.yaml'), { revision: 'r1' });
}

/** `callerIndependent`: the rule looks at no identity (no from, require or identity-reading when). */
const allowedBy = (rule: string, callerIndependent = false): Decision => ({
  allow: true,
  rule,
  reason: 'allowed_by_rule',
  missingScopes: [],
  callerIndependent,
});
const deniedBy = (rule: string, callerIndependent = false): Decision => ({
  allow: false,
  rule,
  reason: 'denied_by_rule',
  missingScopes: [],
  callerIndependent,
});
const DEFAULT_DENY: Decision = { allow: false, rule: null, reason: 'default_deny', missingScopes: [], callerIndependent: false };

describe('the example policy (orders.yaml)', () => {
  const orders = loadPolicyFile(fileURLToPath(new URL('../../../test/fixtures/policies/orders.yaml', import.meta.url)), 'r1');
  const check = (req: Partial<RequestView>, who: AuthContext = auth()) => orders.evaluate(request(req), who);

  it('allows a customer reading their tenant’s orders, collection and members', () => {
    assert.deepEqual(check({}), allowedBy('read-orders'));
    assert.deepEqual(check({ path: '/api/orders/' }), allowedBy('read-orders'));
    assert.deepEqual(check({ path: '/api/orders/42/items' }), allowedBy('read-orders'));
    assert.deepEqual(check({ host: 'eu.example.test:8443' }), allowedBy('read-orders'));
    assert.deepEqual(check({ path: '/api/ordersx' }), DEFAULT_DENY);
    assert.deepEqual(check({ method: 'POST' }), DEFAULT_DENY);
    assert.deepEqual(check({ host: 'example.test' }), DEFAULT_DENY);
    assert.deepEqual(check({ host: 'orders.evil.test' }), DEFAULT_DENY);
  });

  it('says what was missing when only `require` failed', () => {
    assert.deepEqual(check({}, auth({ user: token({ scopes: ['profile'] }) })), {
      allow: false,
      rule: 'read-orders',
      reason: 'missing_scope',
      missingScopes: ['orders:read'],
      callerIndependent: false,
    });
    assert.deepEqual(check({}, auth({ user: token({ claims: { roles: 'guest' } }) })), {
      allow: false,
      rule: 'read-orders',
      reason: 'missing_permission',
      missingScopes: [],
      callerIndependent: false,
    });
    assert.deepEqual(check({}, auth({ user: token({ claims: { roles: 'guest,admin' } }) })), allowedBy('read-orders'), '`orders:*` grants orders:read');
  });

  it('does not blame `require` when `when` or `from` fails too', () => {
    const noScopeOtherTenant = auth({ user: token({ scopes: [], claims: { tenant: 't2' } }) });
    assert.deepEqual(check({}, noScopeOtherTenant), DEFAULT_DENY);
    assert.deepEqual(check({}, ANON), DEFAULT_DENY, 'anonymous does not match from.issuers');
    assert.deepEqual(check({}, auth({ user: token({ issuer: 'https://other.test' }) })), DEFAULT_DENY);
  });

  it('denies legacy paths to everyone, before any ALLOW rule', () => {
    const admin = auth({ user: token({ claims: { roles: ['admin'] } }) });
    assert.deepEqual(check({ path: '/legacy/x' }, admin), deniedBy('block-legacy', true));
    assert.deepEqual(check({ path: '/legacy/' }, ANON), deniedBy('block-legacy', true));
    assert.deepEqual(check({ path: '/legacy' }, ANON), DEFAULT_DENY);
  });

  it('allows services by principal, exact or by prefix', () => {
    const post = { method: 'POST', path: '/internal/refund' };
    assert.deepEqual(check(post, { user: null, service: null, principal: CHECKOUT }), allowedBy('checkout-service'));
    assert.deepEqual(check(post, { user: null, service: null, principal: 'spiffe://cluster.local/ns/payments/sa/x' }), allowedBy('checkout-service'));
    assert.deepEqual(check(post, { user: null, service: null, principal: 'spiffe://cluster.local/ns/shop/sa/cart' }), DEFAULT_DENY);
    assert.deepEqual(check(post, ANON), DEFAULT_DENY);
  });

  it('matches subjects, suffix paths and exact methods; no `from` lets anonymous in', () => {
    const support = auth({ user: token({ subject: 'user-support', scopes: [] }) });
    assert.deepEqual(check({ path: '/exports/day.json' }, support), allowedBy('support-user'));
    assert.deepEqual(check({ path: '/exports/day.json' }), DEFAULT_DENY);
    assert.deepEqual(check({ path: '/healthz', method: 'HEAD' }, ANON), allowedBy('health', true));
  });
});

describe('evaluation order and defaults', () => {
  it('lets any DENY rule win over an earlier ALLOW rule', () => {
    const p = policy({
      defaultAction: 'ALLOW',
      rules: [
        { name: 'allow-all', action: 'ALLOW' },
        { name: 'deny-delete', action: 'DENY', to: [{ methods: ['DELETE'] }] },
      ],
    });
    assert.deepEqual(p.evaluate(request({ method: 'DELETE' }), ANON), deniedBy('deny-delete', true));
    assert.deepEqual(p.evaluate(request(), ANON), allowedBy('allow-all', true));
  });

  it('names the first matching ALLOW rule in document order', () => {
    const p = policy({
      defaultAction: 'DENY',
      rules: [
        { name: 'specific', action: 'ALLOW', to: [{ paths: ['/api/orders/*'] }] },
        { name: 'exact', action: 'ALLOW', to: [{ paths: ['/api/orders/1'] }] },
        { name: 'everything', action: 'ALLOW', to: [{ paths: ['*'] }] },
      ],
    });
    assert.equal(p.evaluate(request({ path: '/api/orders/1' }), ANON).rule, 'specific');
    assert.equal(p.evaluate(request({ path: '/x' }), ANON).rule, 'everything');
  });

  it('falls back to defaultAction, reporting `require` failures only under DENY', () => {
    const rules = [{ name: 'scoped', action: 'ALLOW', require: { scopes: ['a', 'b', 'c'] } }];
    const who = auth({ user: token({ scopes: ['b'] }) });
    assert.deepEqual(policy({ defaultAction: 'DENY', rules }).evaluate(request(), who).missingScopes, ['a', 'c']);
    assert.deepEqual(policy({ defaultAction: 'ALLOW', rules }).evaluate(request(), who), {
      allow: true,
      rule: null,
      reason: 'default_allow',
      missingScopes: [],
      callerIndependent: false,
    });
    assert.deepEqual(policy({ defaultAction: 'DENY', rules: [] }).evaluate(request(), ANON), DEFAULT_DENY);
  });

  it('reports the first near miss, prefers missing_scope, and lets a later full match win', () => {
    const p = policy({
      defaultAction: 'DENY',
      roles: { writer: ['orders:write'] },
      rules: [
        { name: 'needs-both', action: 'ALLOW', require: { scopes: ['w'], permission: 'orders:write' } },
        { name: 'needs-role', action: 'ALLOW', require: { permission: 'orders:write' } },
        { name: 'post-only', action: 'ALLOW', to: [{ methods: ['POST'] }] },
      ],
    });
    const nobody = auth({ user: token({ scopes: [], claims: { roles: [] } }) });
    assert.deepEqual(p.evaluate(request(), nobody), {
      allow: false,
      rule: 'needs-both',
      reason: 'missing_scope',
      missingScopes: ['w'],
      callerIndependent: false,
    });
    const scoped = auth({ user: token({ scopes: ['w'], claims: { roles: [] } }) });
    assert.equal(p.evaluate(request(), scoped).reason, 'missing_permission');
    assert.deepEqual(p.evaluate(request({ method: 'POST' }), nobody), allowedBy('post-only', true));
  });
});

describe('callerIndependent: whether signing in could change a DENY', () => {
  const denyWhen = (when: string | undefined, extra: Record<string, unknown> = {}) =>
    policy({ defaultAction: 'ALLOW', rules: [{ name: 'd', action: 'DENY', to: [{ paths: ['/x'] }], ...(when === undefined ? {} : { when }), ...extra }] });
  const decide = (p: ReturnType<typeof policy>, who: AuthContext = ANON) => p.evaluate(request({ path: '/x' }), who);

  it('is true for a rule that reads no identity: none, or request fields other than auth, source.address, context', () => {
    for (const when of [
      undefined,
      'request.path == "/x"',
      'request.method == "GET" && !("x-debug" in request.headers)',
      'source.address == "" || true',
      'size(context) >= 0',
    ]) {
      assert.deepEqual(decide(denyWhen(when)), deniedBy('d', true), String(when));
    }
  });

  it('is false when the rule has a from, or its when reads request.auth or source.principal anywhere', () => {
    for (const when of [
      'request.auth.subject == ""',
      'has(request.auth.claims.sub) || request.path == "/x"',
      'source.principal == ""',
      'request.auth.roles.all(r, r != "admin")',
    ]) {
      assert.deepEqual(decide(denyWhen(when)), deniedBy('d', false), when);
    }
    const withFrom = denyWhen(undefined, { from: [{ issuers: [IDP] }] });
    assert.deepEqual(decide(withFrom, auth()), deniedBy('d', false));
  });
});

describe('from, to and roles', () => {
  it('ORs alternatives and ANDs the fields of one entry', () => {
    const p = policy({
      defaultAction: 'DENY',
      rules: [
        {
          name: 'r',
          action: 'ALLOW',
          to: [
            { methods: ['GET'], paths: ['/a'], hosts: ['h1.test'] },
            { methods: ['POST'], paths: ['/b'] },
          ],
          from: [{ issuers: [IDP], subjects: ['alice'] }, { principals: [CHECKOUT] }],
        },
      ],
    });
    const alice = auth({ user: token({ subject: 'alice' }) });
    assert.equal(p.evaluate(request({ path: '/a', host: 'h1.test' }), alice).allow, true);
    assert.equal(p.evaluate(request({ path: '/a', host: 'h2.test' }), alice).allow, false);
    assert.equal(p.evaluate(request({ path: '/b', method: 'POST', host: 'h2.test' }), alice).allow, true);
    assert.equal(p.evaluate(request({ path: '/b', method: 'GET' }), alice).allow, false, 'GET /b mixes two entries');
    assert.equal(p.evaluate(request({ path: '/b', method: 'POST' }), auth({ user: token({ subject: 'bob' }) })).allow, false);
    assert.equal(p.evaluate(request({ path: '/b', method: 'POST' }), { user: null, service: null, principal: CHECKOUT }).allow, true);
  });

  it('compares methods exactly: extension methods match only their own spelling', () => {
    const p = policy({
      defaultAction: 'DENY',
      rules: [
        { name: 'read', action: 'ALLOW', to: [{ methods: ['GET'] }] },
        { name: 'webdav', action: 'ALLOW', to: [{ methods: ['PROPFIND', 'M-SEARCH'] }] },
        { name: 'any', action: 'ALLOW', to: [{ paths: ['/open'] }] },
      ],
    });
    const decide = (method: string, path = '/x') => p.evaluate(request({ method, path }), ANON);
    assert.deepEqual(decide('GET'), allowedBy('read', true));
    assert.deepEqual(decide('PROPFIND'), allowedBy('webdav', true));
    assert.deepEqual(decide('M-SEARCH'), allowedBy('webdav', true));
    assert.deepEqual(decide('GETX'), DEFAULT_DENY);
    assert.deepEqual(decide('HEAD'), DEFAULT_DENY, 'GET does not imply HEAD');
    assert.deepEqual(decide('BREW', '/open'), allowedBy('any', true), 'a rule without methods matches any method');
  });

  it('refuses a methods entry with a lower-case letter instead of upper-casing it', () => {
    for (const method of ['get', 'Delete', 'propFind']) {
      assert.throws(() => policy({ defaultAction: 'ALLOW', rules: [{ name: 'no', action: 'DENY', to: [{ methods: [method] }] }] }), {
        message: `t.yaml: spec.rules[0] (no).to[0].methods[0]: must be upper-case ("${method.toUpperCase()}"): methods are case-sensitive and requests with lower-case ones are refused`,
      });
    }
  });

  it('matches issuers on the user token only', () => {
    const p = policy({ defaultAction: 'DENY', rules: [{ name: 'idp', action: 'ALLOW', from: [{ issuers: [IDP] }] }] });
    const serviceOnly = { user: null, service: token({ issuerName: 'service', subject: CHECKOUT }), principal: CHECKOUT };
    assert.equal(p.evaluate(request(), serviceOnly).allow, false);
  });

  it('reads roles from the user token, else the service token, via rolesFrom', () => {
    const p = policy({
      defaultAction: 'DENY',
      roles: { 'orders-admin': ['*'] },
      rolesFrom: 'realm_access.roles',
      rules: [{ name: 'admin', action: 'ALLOW', require: { permission: 'orders:delete' } }],
    });
    const admin = { realm_access: { roles: ['orders-admin'] } };
    const svc = token({ issuerName: 'service', subject: CHECKOUT, claims: admin });
    assert.equal(p.evaluate(request(), { user: null, service: svc, principal: CHECKOUT }).allow, true);
    assert.equal(p.evaluate(request(), { user: token(), service: svc, principal: CHECKOUT }).allow, false, 'the user token is the caller');
    assert.equal(p.evaluate(request(), auth({ user: token({ claims: admin }) })).allow, true);
  });
});

// ---- property: the index decides exactly like a linear scan over the document ----

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'api',
  'orders',
  'items',
  'users',
  'v1',
  'v2',
  'admin',
  'legacy',
  'img',
  'docs',
  'a',
  'b',
  'c',
  'x',
  'y',
  'carts',
  'pay',
  'ship',
  'tax',
  'z1',
  ...Array.from({ length: 180 }, (_, i) => `w${i}`),
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'];
const SUFFIXES = ['.png', '.json', '/edit', 's', '/items', 'rs'];
const HOSTS = ['h1.test', 'a.example.test', 'example.test'];
const ISSUERS = [IDP, 'https://other.test'];

interface GenTarget {
  methods?: string[];
  paths?: string[];
  hosts?: string[];
}
interface GenRule {
  name: string;
  action: 'ALLOW' | 'DENY';
  to?: GenTarget[];
  from?: Array<{ issuers?: string[]; principals?: string[] }>;
  require?: { scopes?: string[]; permission?: string };
  when?: string;
}

/** The two generated conditions: one on a header, one on the rule's path captures. */
const FLAG_WHEN = 'request.headers["x-flag"] == "on"';
const PARAMS_WHEN = 'request.params.id != "b"';
/** Values a template's variables are filled with in requests: few, so `PARAMS_WHEN` goes both ways. */
const CAPTURE_VALUES = ['a', 'b', 'c'];

/**
 * Mostly narrow rules (exact paths, prefixes at least one segment deep, and URI templates with
 * at least one literal segment) with varied methods, hosts, `from`, `require` and `when`;
 * 0.5% broad rules (`*`, `/*`, suffixes, no `to`) limited to one service principal, so that
 * no handful of rules decides everything. A template's second path is sometimes the first
 * with its variables swapped, so which pattern's captures `request.params` holds matters.
 */
function generateRules(rand: () => number, count: number, templateShare = 0.1): GenRule[] {
  // Mostly templates: more variables, and more second paths that are the first rotated.
  const dense = templateShare > 0.5;
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
  const segments = (min: number, max: number) => Array.from({ length: min + Math.floor(rand() * (max - min + 1)) }, () => pick(WORDS));
  const templatePath = () => {
    const parts = segments(1, 4);
    const names = ['id', 'v', 'w', 'x', 'y'];
    const literal = Math.floor(rand() * parts.length);
    let wild = false;
    for (let k = 0; k < parts.length; k++) {
      if (k === literal || rand() < (dense ? 0.3 : 0.6)) continue;
      const last = k === parts.length - 1;
      // A trailing "*" would be the old prefix form (or refused in a template): "{name}" there.
      parts[k] = rand() < 0.6 || last ? `{${names.shift()}}` : '*';
      wild = true;
    }
    const end = rand();
    if (end < 0.15) parts.push('**');
    else if (end < 0.25) parts.push('{rest=**}');
    else if (end < 0.3 || !wild) parts.push(`{${names.shift()}}` + (rand() < 0.3 ? '/' : ''));
    return '/' + parts.join('/');
  };
  // The same template with its one-segment wildcards ("{name}", "*") rotated: it matches the same paths, capturing differently.
  const swapped = (template: string) => {
    const parts = template.split('/');
    // Not the last segment, where a "*" would be refused.
    const wild = parts.flatMap((part, k) => ((part === '*' || /^\{\w+\}$/.test(part)) && k < parts.length - 1 ? [k] : []));
    if (wild.length < 2) return template;
    const rotated = [...parts];
    wild.forEach((k, j) => (rotated[k] = parts[wild[(j + 1) % wild.length]]));
    return rotated.join('/');
  };
  const narrowPath = () => {
    if (rand() < templateShare) return templatePath();
    if (rand() < 0.5) return '/' + segments(1, 4).join('/') + (rand() < 0.1 ? '/' : '');
    return '/' + [...segments(rand() < 0.05 ? 1 : 2, 3), '*'].join('/');
  };
  const broadPath = () => pick(['*', '/*', ...SUFFIXES.map((s) => '*' + s)]);
  const target = (path: () => string): GenTarget => {
    const t: GenTarget = { paths: Array.from({ length: rand() < (dense ? 0.8 : 0.5) ? 2 : 1 }, path) };
    if (t.paths!.length === 2 && isTemplate(t.paths![0]) && rand() < (dense ? 0.9 : 0.5)) t.paths![1] = swapped(t.paths![0]);
    if (rand() < 0.5) t.methods = [pick(METHODS), ...(rand() < 0.3 ? [pick(METHODS)] : [])];
    if (rand() < 0.1) t.hosts = [rand() < 0.5 ? 'h1.test' : '*.example.test'];
    return t;
  };
  return Array.from({ length: count }, (_, i) => {
    const rule: GenRule = { name: `r${i}`, action: rand() < 0.05 ? 'DENY' : 'ALLOW' };
    if (rule.action === 'ALLOW' && rand() < 0.005) {
      if (rand() < 0.8) rule.to = [target(broadPath)];
      rule.from = [{ principals: [CHECKOUT] }];
    } else {
      rule.to = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => target(narrowPath));
      const f = rand();
      if (f < 0.4) rule.from = [{ issuers: [pick(ISSUERS)] }];
      else if (f < 0.6) rule.from = [{ principals: [rand() < 0.5 ? CHECKOUT : 'spiffe://cluster.local/ns/shop/*'] }];
    }
    if (rule.action === 'ALLOW' && rand() < 0.4) {
      rule.require = rand() < 0.5 ? { scopes: ['s1', 's2'].slice(0, 1 + Math.floor(rand() * 2)) } : { permission: 'orders:read' };
    }
    const capturesId = rule.to?.some((t) => t.paths?.some((p) => p.includes('{id}')));
    if (capturesId && rand() < 0.5) rule.when = PARAMS_WHEN;
    else if (rand() < 0.03) rule.when = FLAG_WHEN;
    return rule;
  });
}

/** Whether a (valid) pattern is a URI template rather than one of the four older forms. */
function isTemplate(pattern: string): boolean {
  return pattern.startsWith('/') && /[*{]/.test(pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern);
}

const templateRegexes = new Map<string, RegExp>();

/**
 * A template as a regular expression, the way Envoy's uri_template compiles one: `{x}` and
 * `*` are one non-empty segment, `**` (last) anything after the "/" before it; named groups
 * hold the captures.
 */
function templateRegex(pattern: string): RegExp {
  let regex = templateRegexes.get(pattern);
  if (regex === undefined) {
    const body = pattern
      .slice(1)
      .split('/')
      .map((segment) => {
        if (segment === '**') return '.*';
        if (segment === '*') return '[^/]+';
        const variable = /^\{(\w+)(?:=(\*\*?))?\}$/.exec(segment);
        if (variable) return `(?<${variable[1]}>${variable[2] === '**' ? '.*' : '[^/]+'})`;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    templateRegexes.set(pattern, (regex = new RegExp(`^/${body}$`)));
  }
  return regex;
}

const matchers = new Map<string, (path: string) => boolean>();

/** Path patterns as the document describes them, independent of src/policy/paths.ts. */
function pathMatches(pattern: string, path: string): boolean {
  let matcher = matchers.get(pattern);
  if (matcher === undefined) {
    if (isTemplate(pattern)) {
      const regex = templateRegex(pattern);
      matcher = (p) => regex.test(p);
    } else if (pattern === '*') matcher = () => true;
    else if (pattern.startsWith('*')) matcher = (p) => p.endsWith(pattern.slice(1));
    else if (pattern.endsWith('/*')) matcher = (p) => p.startsWith(pattern.slice(0, -1));
    else matcher = (p) => p === pattern;
    matchers.set(pattern, matcher);
  }
  return matcher(path);
}

/**
 * `request.params` as the document describes it: the first matching `to` entry's first
 * matching path's captures (`last`: the last entry's last path's, to measure whether the choice mattered).
 */
function paramsOf(rule: GenRule, req: RequestView, hostMatches: (h: string) => boolean, last = false): Record<string, string> {
  const order = <T>(items: readonly T[]) => (last ? [...items].reverse() : items);
  for (const t of order(rule.to ?? [])) {
    if ((t.methods && !t.methods.includes(req.method)) || (t.hosts && !t.hosts.some(hostMatches))) continue;
    if (!t.paths) return {};
    const first = order(t.paths).find((p) => pathMatches(p, req.path));
    if (first === undefined) continue;
    return isTemplate(first) ? { ...templateRegex(first).exec(req.path)!.groups } : {};
  }
  return {};
}

function hostMatcher(req: RequestView): (h: string) => boolean {
  return (h) => (h.startsWith('*.') ? req.host.endsWith(h.slice(1)) && req.host !== h.slice(2) : req.host === h);
}

/** The document's semantics written as plainly as possible: every rule, in order. */
function linearScan(rules: readonly GenRule[], req: RequestView, who: AuthContext): Decision {
  const hostMatches = hostMatcher(req);
  const toMatches = (r: GenRule) =>
    !r.to ||
    r.to.some(
      (t) =>
        (!t.methods || t.methods.includes(req.method)) &&
        (!t.paths || t.paths.some((p) => pathMatches(p, req.path))) &&
        (!t.hosts || t.hosts.some(hostMatches)),
    );
  const principalMatches = (p: string) => (p.endsWith('/*') ? (who.principal ?? '').startsWith(p.slice(0, -1)) : who.principal === p);
  const fromMatches = (r: GenRule) =>
    !r.from ||
    r.from.some((f) => (!f.issuers || (who.user !== null && f.issuers.includes(who.user.issuer))) && (!f.principals || f.principals.some(principalMatches)));
  const flag = req.headers['x-flag'];
  const when = (r: GenRule, failClosed: boolean) => {
    if (r.when === FLAG_WHEN) return flag === undefined ? failClosed : flag === 'on';
    if (r.when === PARAMS_WHEN) {
      const id = paramsOf(r, req, hostMatches).id;
      return id === undefined ? failClosed : id !== 'b';
    }
    return true;
  };
  const roles = (who.user?.claims.roles as string[] | undefined) ?? [];

  // The generated `when` reads a header or the path: a rule is caller-independent when it has no from or require.
  const callerIndependent = (r: GenRule) => !r.from && !r.require;
  for (const r of rules) if (r.action === 'DENY' && toMatches(r) && fromMatches(r) && when(r, true)) return deniedBy(r.name, callerIndependent(r));
  let nearMiss: Decision | null = null;
  for (const r of rules) {
    if (r.action !== 'ALLOW' || !toMatches(r) || !fromMatches(r)) continue;
    const missing = (r.require?.scopes ?? []).filter((s) => !(who.user?.scopes ?? []).includes(s));
    const permitted = !r.require?.permission || roles.includes('reader');
    if (missing.length === 0 && permitted) {
      if (when(r, false)) return allowedBy(r.name, callerIndependent(r));
    } else if (!nearMiss && when(r, false)) {
      nearMiss =
        missing.length > 0
          ? { allow: false, rule: r.name, reason: 'missing_scope', missingScopes: missing, callerIndependent: false }
          : { allow: false, rule: r.name, reason: 'missing_permission', missingScopes: [], callerIndependent: false };
    }
  }
  return nearMiss ?? DEFAULT_DENY;
}

function randomRequest(rand: () => number, rules: readonly GenRule[]): { req: RequestView; who: AuthContext } {
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
  let path: string;
  const pattern = pick(pick(rules).to ?? [{ paths: ['/x'] }]).paths?.[0] ?? '/x';
  const r = rand();
  if (r < 0.6) {
    // A path near a rule's pattern: inside it, at its boundary, or just beside it.
    if (pattern === '*') path = '/' + pick(WORDS);
    else if (pattern.startsWith('*')) path = '/' + pick(WORDS) + (rand() < 0.8 ? pattern.slice(1) : '');
    else if (isTemplate(pattern)) path = nearTemplate(rand, pattern);
    else if (pattern.endsWith('/*')) {
      const base = pattern.slice(0, -1);
      path = pick([base, base + pick(WORDS), base + pick(WORDS) + '/' + pick(WORDS), base.slice(0, -1), base.slice(0, -1) + 'x']);
    } else path = pick([pattern, pattern + '/', pattern + 'x']);
    if (path === '') path = '/';
  } else {
    path = '/' + Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(WORDS)).join('/') + (rand() < 0.1 ? '/' : '');
  }
  const headers: Record<string, string> = rand() < 0.5 ? {} : { 'x-flag': rand() < 0.5 ? 'on' : 'off' };
  const user =
    rand() < 0.3 ? null : token({ issuer: pick(ISSUERS), scopes: ['s1', 's2'].filter(() => rand() < 0.6), claims: { roles: rand() < 0.5 ? ['reader'] : [] } });
  const principal = rand() < 0.1 ? CHECKOUT : pick([null, 'spiffe://cluster.local/ns/shop/sa/cart', 'spiffe://cluster.local/ns/other/sa/x']);
  return { req: request({ method: pick(METHODS), path, host: pick(HOSTS), headers }), who: { user, service: null, principal } };
}

/** A path the template matches, or one changed a little: a segment more or less, a trailing "/", another literal. */
function nearTemplate(rand: () => number, pattern: string): string {
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)];
  const value = () => (rand() < 0.8 ? pick(CAPTURE_VALUES) : pick(WORDS));
  const parts = pattern
    .slice(1)
    .split('/')
    .flatMap((segment) => {
      if (segment === '**' || segment.endsWith('=**}')) return Array.from({ length: Math.floor(rand() * 3) }, value);
      if (segment === '*' || segment.startsWith('{')) return [value()];
      return [segment];
    });
  const r = rand();
  if (r < 0.1) parts.pop();
  else if (r < 0.2) parts.push(value());
  else if (r < 0.3) parts[Math.floor(rand() * parts.length)] = pick(WORDS);
  let path = '/' + parts.join('/');
  if (rand() < 0.15) path = path.endsWith('/') ? path.slice(0, -1) || '/' : path + '/';
  return path;
}

describe('the rule index (property)', () => {
  const rand = prng(20240611);
  const rules = generateRules(rand, 10_000);
  const compiled = policy({ defaultAction: 'DENY', roles: { reader: ['orders:read'] }, rules });
  const samples = Array.from({ length: 1_000 }, () => randomRequest(rand, rules));

  it('decides like a linear scan over 10,000 rules for 1,000 random requests', () => {
    const seen = new Map<string, number>();
    for (const { req, who } of samples) {
      const expected = linearScan(rules, req, who);
      assert.deepEqual(compiled.evaluate(req, who), expected, `${req.method} ${req.path} ${req.host}`);
      seen.set(expected.reason, (seen.get(expected.reason) ?? 0) + 1);
      const decider = expected.rule === null ? undefined : rules[Number(expected.rule.slice(1))];
      if (decider?.to?.some((t) => t.paths?.some(isTemplate))) seen.set('template', (seen.get('template') ?? 0) + 1);
      if (decider?.when === PARAMS_WHEN) seen.set('params', (seen.get('params') ?? 0) + 1);
      if (expected.allow && rand() < 0.01) console.log(req.method, req.path, JSON.stringify(rules[Number(expected.rule?.slice(1))]));
    }
    // The sample must exercise every outcome, or the comparison proves little.

    // "template": decided by a rule with a URI template; "params": by one whose `when` reads request.params.
    for (const reason of ['allowed_by_rule', 'denied_by_rule', 'default_deny', 'missing_scope', 'missing_permission', 'template', 'params']) {
      assert.ok((seen.get(reason) ?? 0) >= 10, `${reason}: ${seen.get(reason) ?? 0} of ${samples.length}`);
    }
  });

  it('returns exactly the rules whose methods and paths match', () => {
    const index = new RuleIndex();
    rules.forEach((rule, i) => {
      if (!rule.to) index.add(i, null, null);
      else for (const t of rule.to) index.add(i, t.methods ?? null, t.paths?.map(parsePathPattern) ?? null);
    });
    for (const { req } of samples) {
      const expected = rules.flatMap((rule, i) => {
        const hit = !rule.to || rule.to.some((t) => (!t.methods || t.methods.includes(req.method)) && (t.paths ?? ['*']).some((p) => pathMatches(p, req.path)));
        return hit ? [i] : [];
      });
      assert.deepEqual(index.candidates(req.method, req.path), expected, `${req.method} ${req.path}`);
    }
  });
});

describe('URI templates and request.params against a linear scan (property)', () => {
  const rand = prng(20260301);
  const rules = generateRules(rand, 2_000, 0.9);
  const compiled = policy({ defaultAction: 'DENY', roles: { reader: ['orders:read'] }, rules });
  const samples = Array.from({ length: 2_000 }, () => randomRequest(rand, rules));
  // Rules where another pattern's captures than the first could change the `when`.
  const ambiguous = rules.filter((r) => r.when === PARAMS_WHEN && r.to?.some((t) => (t.paths?.length ?? 0) > 1));

  it('decides like a linear scan, captures from the first matching pattern', () => {
    let firstMatters = 0;
    let params = 0;
    for (const { req, who } of samples) {
      const expected = linearScan(rules, req, who);
      assert.deepEqual(compiled.evaluate(req, who), expected, `${req.method} ${req.path} ${req.host}`);
      if (expected.rule !== null && rules[Number(expected.rule.slice(1))].when === PARAMS_WHEN) params++;
      const hostMatches = hostMatcher(req);
      const differs = ambiguous.some(
        (r) => r.when === PARAMS_WHEN && (paramsOf(r, req, hostMatches).id === 'b') !== (paramsOf(r, req, hostMatches, true).id === 'b'),
      );
      if (differs) firstMatters++;
    }
    // Requests where taking another pattern's captures than the first would change a `when`.
    assert.ok(firstMatters >= 10, `first pattern mattered for ${firstMatters} of ${samples.length}`);
    assert.ok(params >= 50, `decided by a request.params rule: ${params} of ${samples.length}`);
  });
});
