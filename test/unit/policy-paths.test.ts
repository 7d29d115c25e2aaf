import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuleIndex } from '../../src/policy/index-tree.js';
import {
  matchPath,
  matchTemplate,
  MAX_TEMPLATE_VARIABLES,
  MAX_VARIABLE_NAME_LENGTH,
  parsePathPattern,
  pathPatternError,
  type PathTemplate,
} from '../../src/policy/paths.js';
import {
  hostPatternError,
  matchHost,
  matchPrincipal,
  methodError,
  parseHostPattern,
  parsePrincipalPattern,
  principalPatternError,
} from '../../src/policy/patterns.js';
import { grants, permissionError, permissionPatternError, rolesOf } from '../../src/policy/permissions.js';
import type { VerifiedToken } from '../../src/tokens/types.js';

const matches = (pattern: string, path: string) => matchPath(parsePathPattern(pattern), path);

describe('path patterns', () => {
  it('accepts the four forms', () => {
    for (const p of ['*', '/', '/api/orders', '/api/orders/', '/api/orders/*', '/*', '*.png', '*/edit', "/a-b_c~d/e.f/!$&'()+,=:@"]) {
      assert.equal(pathPatternError(p), null, p);
    }
  });

  it('rejects patterns a normalised path can never match, with the reason', () => {
    const cases: Array<[string, string]> = [
      ['', 'must not be empty'],
      ['api/orders', 'must start with "/" or "*"'],
      ['/api//orders', 'must not contain "//"'],
      ['/api/../admin', 'must not contain ".."'],
      ['/api/./orders', 'must not contain "." segments'],
      ['/files/a%2Fb', 'must not contain "%"'],
      ['/a;b', 'must not contain ";"'],
      ['/a?b=1', 'must not contain "?"'],
      ['/a#b', 'must not contain "#"'],
      ['/a b', 'must not contain " "'],
      ['/a\\b', 'must not contain "\\\\"'],
      ['/é', 'must not contain "é"'],
      ['/api/orders*', STAR_IN_SEGMENT('orders*')],
      ['/api/**x', STAR_IN_SEGMENT('**x')],
      ['*/a/*', '"*" may appear only once'],
      ['**', 'a template ("{name}", "**") must start with "/"'],
    ];
    for (const [pattern, reason] of cases) assert.equal(pathPatternError(pattern), reason, pattern);
    assert.throws(() => parsePathPattern('/a/*b'), TypeError);
  });

  it('matches exactly, by prefix at segment boundaries, by suffix, and anything', () => {
    assert.ok(matches('/api/orders', '/api/orders'));
    assert.ok(!matches('/api/orders', '/api/orders/'));
    assert.ok(!matches('/api/orders', '/API/orders'));

    assert.ok(matches('/api/orders/*', '/api/orders/'));
    assert.ok(matches('/api/orders/*', '/api/orders/1'));
    assert.ok(matches('/api/orders/*', '/api/orders/1/items'));
    assert.ok(!matches('/api/orders/*', '/api/orders'), 'the collection itself is not below it');
    assert.ok(!matches('/api/*', '/apix'));
    assert.ok(!matches('/api/*', '/apix/1'));
    assert.ok(matches('/*', '/'));
    assert.ok(matches('/*', '/anything/at/all'));

    assert.ok(matches('*.png', '/img/a.png'));
    assert.ok(!matches('*.png', '/img/a.png/x'));
    assert.ok(matches('*', '/x'));
    assert.ok(matches('*', '*'));
  });
});

const STAR_IN_SEGMENT = (segment: string) =>
  `"*" must be a whole segment ("/a/*/b"), "**" the last one ("/a/**"), or the first character ("*.png"), not part of ${JSON.stringify(segment)}`;

const template = (pattern: string): PathTemplate => {
  const parsed = parsePathPattern(pattern);
  if (parsed.kind !== 'template') assert.fail(`${pattern} is a ${parsed.kind} pattern`);
  return parsed;
};

/** The captures when `path` matches `pattern`, else null. */
function captures(pattern: string, path: string): Record<string, string> | null {
  const out = Object.create(null) as Record<string, string>;
  const hit = matchTemplate(template(pattern), path, out);
  assert.equal(matchPath(template(pattern), path), hit, `matchPath agrees for ${pattern} ${path}`);
  return hit ? { ...out } : null;
}

describe('URI template patterns', () => {
  it('tells templates from the older forms, which keep their meaning', () => {
    assert.equal(parsePathPattern('/api/*').kind, 'prefix');
    assert.equal(parsePathPattern('/*').kind, 'prefix');
    assert.equal(parsePathPattern('*.png').kind, 'suffix');
    assert.equal(parsePathPattern('/api/orders').kind, 'exact');
    assert.equal(parsePathPattern('/a=b/c').kind, 'exact', '"=" alone is a literal character');
    for (const p of ['/api/*/items', '/api/**', '/**', '/{id}', '/v1/{id=*}/x', '/v1/{rest=**}', '/*/a', '/a/{id}/']) {
      assert.equal(parsePathPattern(p).kind, 'template', p);
    }
  });

  it('parses segments, variables and the rest', () => {
    assert.deepEqual(template('/v1/payments/{id}/refund'), {
      kind: 'template',
      segments: [
        { literal: 'v1', name: null },
        { literal: 'payments', name: null },
        { literal: null, name: 'id' },
        { literal: 'refund', name: null },
      ],
      rest: false,
      restName: null,
      names: ['id'],
    });
    assert.deepEqual(template('/a/*/{b=*}/{c=**}'), {
      kind: 'template',
      segments: [
        { literal: 'a', name: null },
        { literal: null, name: null },
        { literal: null, name: 'b' },
      ],
      rest: true,
      restName: 'c',
      names: ['b', 'c'],
    });
    assert.deepEqual(template('/a/**'), { kind: 'template', segments: [{ literal: 'a', name: null }], rest: true, restName: null, names: [] });
    assert.deepEqual(template('/{id}/').segments, [
      { literal: null, name: 'id' },
      { literal: '', name: null },
    ]);
  });

  it('refuses each malformed template with its reason', () => {
    const cases: Array<[string, string]> = [
      ['/a/{id', 'unbalanced "{": no "}" closes it'],
      ['/a/id}', 'unbalanced "}": no "{" opens it'],
      ['/a/{{id}}', 'unbalanced "{": a "{" inside "{…}"'],
      ['/a/{}', 'empty variable name in "{…}"'],
      ['/a/{=*}', 'empty variable name in "{…}"'],
      ['/a/{1d}', 'invalid variable name "1d": letters, digits and "_", starting with a letter'],
      ['/a/{_id}', 'invalid variable name "_id": letters, digits and "_", starting with a letter'],
      ['/a/{order-id}', 'invalid variable name "order-id": letters, digits and "_", starting with a letter'],
      ['/a/{id}/b/{id}', 'variable "id" appears twice'],
      ['/a/{id}/{id=**}', 'variable "id" appears twice'],
      ['/a/**/b', '"**" must be the last segment'],
      ['/**/', '"**" must be the last segment'],
      ['/a/{rest=**}/b', '"{rest=**}" must be the last segment'],
      ['/a/{id=x}', '"{id=x}": a variable matches "*" (one segment) or "**" (the rest of the path), not "x"'],
      ['/a/{id=}', '"{id=}": a variable matches "*" (one segment) or "**" (the rest of the path), not ""'],
      ['/a/{id=***}', '"{id=***}": a variable matches "*" (one segment) or "**" (the rest of the path), not "***"'],
      ['/a/{id=b/*}', '"{id=b/*}": a variable is one segment ({name}, {name=*}) or the rest of the path ({name=**}), with no "/" inside'],
      ['/a/{x/y}', '"{x/y}": a variable is one segment ({name}, {name=*}) or the rest of the path ({name=**}), with no "/" inside'],
      ['/x{id}', 'a variable must be a whole segment, not part of "x{id}"'],
      ['/{id}x/y', 'a variable must be a whole segment, not part of "{id}x"'],
      ['/a/{a}{b}', 'a variable must be a whole segment, not part of "{a}{b}"'],
      ['/a*b', STAR_IN_SEGMENT('a*b')],
      ['/a/{id}/b*', STAR_IN_SEGMENT('b*')],
      ['/a/***', STAR_IN_SEGMENT('***')],
      [
        '/a/{id}/*',
        'a trailing "/*" means "anything below" only in a pattern without "{…}" or other "*": write "/**" (anything below) or "/{name}" (one segment)',
      ],
      ['/*/*', 'a trailing "/*" means "anything below" only in a pattern without "{…}" or other "*": write "/**" (anything below) or "/{name}" (one segment)'],
      ['*/{id}', 'a template ("{name}", "**") must start with "/"'],
      ['*{id}', 'a template ("{name}", "**") must start with "/"'],
      ['{id}/a', 'must start with "/" or "*"'],
      ['/a/{id}/../b', 'must not contain ".."'],
      ['/a/{id}//b', 'must not contain "//"'],
      ['/a/./{id}', 'must not contain "." segments'],
      ['/a/{id}/%2F', 'must not contain "%"'],
    ];
    for (const [pattern, reason] of cases) {
      assert.equal(pathPatternError(pattern), reason, pattern);
      assert.throws(() => parsePathPattern(pattern), { name: 'TypeError', message: `invalid path pattern ${JSON.stringify(pattern)}: ${reason}` });
    }
  });

  it(`allows ${MAX_TEMPLATE_VARIABLES} variables and names of ${MAX_VARIABLE_NAME_LENGTH} characters, no more`, () => {
    const vars = (n: number) => '/' + Array.from({ length: n }, (_, i) => `{v${i}}`).join('/');
    assert.equal(pathPatternError(vars(MAX_TEMPLATE_VARIABLES)), null);
    assert.equal(pathPatternError(vars(MAX_TEMPLATE_VARIABLES - 1) + '/{rest=**}'), null);
    assert.equal(pathPatternError(vars(MAX_TEMPLATE_VARIABLES + 1)), `has more than ${MAX_TEMPLATE_VARIABLES} variables`);
    assert.equal(pathPatternError(vars(MAX_TEMPLATE_VARIABLES) + '/{rest=**}'), `has more than ${MAX_TEMPLATE_VARIABLES} variables`);
    assert.equal(pathPatternError(vars(MAX_TEMPLATE_VARIABLES) + '/*/**'), null, '"*" and "**" capture nothing and do not count');
    const name = 'n' + '_'.repeat(MAX_VARIABLE_NAME_LENGTH - 1);
    assert.equal(pathPatternError(`/a/{${name}}`), null);
    assert.equal(pathPatternError(`/a/{${name}x}`), `variable name "${name}x" is longer than ${MAX_VARIABLE_NAME_LENGTH} characters`);
    // Sixteen variables capture sixteen segments.
    const path = '/' + Array.from({ length: MAX_TEMPLATE_VARIABLES }, (_, i) => `s${i}`).join('/');
    assert.deepEqual(
      captures(vars(MAX_TEMPLATE_VARIABLES), path),
      Object.fromEntries(Array.from({ length: MAX_TEMPLATE_VARIABLES }, (_, i) => [`v${i}`, `s${i}`])),
    );
  });

  it('matches "{name}" and "*" to exactly one non-empty segment, literals exactly', () => {
    const refund = '/v1/payments/{id}/refund';
    assert.deepEqual(captures(refund, '/v1/payments/pay_42/refund'), { id: 'pay_42' });
    assert.deepEqual(captures('/v1/payments/{id=*}/refund', '/v1/payments/pay_42/refund'), { id: 'pay_42' }, '{id=*} is {id}');
    assert.equal(captures(refund, '/v1/payments//refund'), null, 'an empty segment is not one');
    assert.equal(captures(refund, '/v1/payments/a/b/refund'), null, 'two segments are not one');
    assert.equal(captures(refund, '/v1/payments/refund'), null);
    assert.equal(captures(refund, '/v1/payments/7/refunds'), null);
    assert.equal(captures(refund, '/v1/payments/7/Refund'), null, 'literals are case-sensitive');
    assert.equal(captures(refund, '/v1/payment/7/refund'), null);
    assert.equal(captures(refund, '/v1/payments/7/refund/x'), null);
    assert.equal(captures(refund, 'v1/payments/7/refund'), null);
    assert.deepEqual(captures('/v1/*/refund', '/v1/x/refund'), {}, '"*" captures nothing');
    assert.equal(captures('/v1/*/refund', '/v1/refund'), null);
    assert.deepEqual(captures('/{a}/{b}', '/x/y'), { a: 'x', b: 'y' });
    assert.deepEqual(captures('/{a}', '/%7Bid%7D'), { a: '%7Bid%7D' }, 'captures are the normalised text, not decoded');
    assert.deepEqual(captures('/{a}', '/{id}'), { a: '{id}' }, 'a literal "{" in a path is an ordinary character');
    assert.deepEqual(captures('/{a}/x', '/*/x'), { a: '*' });
  });

  it('matches "**" and "{name=**}" to zero or more segments after the "/" before them, as Envoy does', () => {
    const rest = '/v1/files/{path=**}';
    assert.equal(captures(rest, '/v1/files'), null, 'zero segments still need the "/": /v1/files is not below /v1/files/');
    assert.deepEqual(captures(rest, '/v1/files/'), { path: '' }, 'zero segments');
    assert.deepEqual(captures(rest, '/v1/files/a'), { path: 'a' }, 'one');
    assert.deepEqual(captures(rest, '/v1/files/a/b/c.txt'), { path: 'a/b/c.txt' }, 'many');
    assert.deepEqual(captures(rest, '/v1/files/a/b/'), { path: 'a/b/' }, 'with the trailing "/"');
    assert.equal(captures(rest, '/v1/filesx/a'), null);
    assert.deepEqual(captures('/v1/files/**', '/v1/files/a/b'), {});
    assert.equal(captures('/v1/files/**', '/v1/files'), null);
    assert.deepEqual(captures('/**', '/'), {});
    assert.deepEqual(captures('/**', '/a/b'), {});
    assert.deepEqual(captures('/{all=**}', '/'), { all: '' });
    assert.deepEqual(captures('/v1/{id}/{rest=**}', '/v1/7/a/b'), { id: '7', rest: 'a/b' });
    assert.equal(captures('/v1/{id}/{rest=**}', '/v1/7'), null);
    // "/a/**" and the older "/a/*" match the same paths.
    for (const path of ['/a', '/a/', '/a/b', '/a/b/c/', '/ab', '/b/a/']) {
      assert.equal(matchPath(parsePathPattern('/a/**'), path), matchPath(parsePathPattern('/a/*'), path), path);
    }
  });

  it('treats a trailing "/" as a literal: it must be there, and only there', () => {
    assert.equal(captures('/v1/{id}', '/v1/7/'), null);
    assert.deepEqual(captures('/v1/{id}/', '/v1/7/'), { id: '7' });
    assert.equal(captures('/v1/{id}/', '/v1/7'), null);
    assert.equal(captures('/v1/{id}/x', '/v1/7/x/'), null);
    assert.equal(captures('/v1/*/x', '/v1/7/x/'), null);
  });

  it('leaves no captures behind for a template without variables, and fills nothing without an object', () => {
    assert.equal(matchTemplate(template('/v1/*/x'), '/v1/7/x', null), true);
    assert.equal(matchTemplate(template('/v1/{id}/x'), '/v1/7/x', null), true);
  });

  it('stays linear on hostile paths: very long, very deep, near the limits', () => {
    const deep = '/a'.repeat(2048); // 4096 bytes, the longest path the sidecar accepts
    assert.deepEqual(captures('/a/{x}/{rest=**}', deep), { x: 'a', rest: 'a/'.repeat(2045) + 'a' });
    assert.equal(captures('/a/{x}', deep), null);
    assert.equal(captures('/{a}/*/{b}', deep), null);
    const many = '/' + Array.from({ length: 2048 }, () => '{').join('/');
    assert.deepEqual(captures('/{a}/{b=**}', many), { a: '{', b: '{/'.repeat(2046) + '{' });
    const segments = Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? '*' : `s${i}`));
    const long = template('/' + segments.join('/') + '/**');
    const matching = '/' + segments.map((s) => (s === '*' ? 'x' : s)).join('/') + '/';
    assert.equal(matchTemplate(long, matching, null), true);
    assert.equal(matchTemplate(long, matching.slice(0, -1), null), false);
    const huge = 'x'.repeat(100_000);
    assert.deepEqual(captures('/v1/{id}/refund', `/v1/${huge}/refund`), { id: huge });
  });
});

describe('method, host and principal patterns', () => {
  it('validates methods as tokens', () => {
    assert.equal(methodError('GET'), null);
    assert.equal(methodError('PROPFIND'), null);
    assert.equal(methodError('*'), 'omit "methods" to match any method');
    assert.equal(methodError('GET POST'), 'must be an HTTP method token (e.g. GET)');
  });

  it('matches hosts case-insensitively, with wildcards and ports', () => {
    const host = (p: string, h: string) => matchHost(parseHostPattern(p), h);
    assert.ok(host('Orders.Example.Test', 'orders.example.test'));
    assert.ok(host('orders.example.test', 'orders.example.test:8443'), 'no port in the pattern: any port');
    assert.ok(host('orders.example.test:8443', 'orders.example.test:8443'));
    assert.ok(!host('orders.example.test:8443', 'orders.example.test'));
    assert.ok(!host('orders.example.test:8443', 'orders.example.test:9000'));
    assert.ok(host('*.example.test', 'a.example.test'));
    assert.ok(host('*.example.test', 'a.b.example.test:80'));
    assert.ok(!host('*.example.test', 'example.test'));
    assert.ok(!host('*.example.test', 'evilexample.test'));
    assert.ok(host('[::1]', '[::1]:8080'));
    assert.ok(!host('[::1]:9000', '[::1]:8080'));
    for (const bad of ['*', 'orders.*.test', 'a..b', '-a.test', 'a b', 'a.test:port']) {
      assert.notEqual(hostPatternError(bad), null, bad);
    }
    assert.equal(hostPatternError('*'), 'omit "hosts" to match any host');
  });

  it('matches principals exactly, by "/*" prefix, or "*" for any principal', () => {
    const principal = (p: string, id: string) => matchPrincipal(parsePrincipalPattern(p), id);
    assert.ok(principal('spiffe://td/ns/shop/sa/a', 'spiffe://td/ns/shop/sa/a'));
    assert.ok(!principal('spiffe://td/ns/shop/sa/a', 'spiffe://td/ns/shop/sa/ab'));
    assert.ok(principal('spiffe://td/ns/shop/*', 'spiffe://td/ns/shop/sa/a'));
    assert.ok(!principal('spiffe://td/ns/shop/*', 'spiffe://td/ns/shopping/sa/a'));
    assert.ok(!principal('spiffe://td/ns/shop/*', 'spiffe://td/ns/shop/'));
    assert.ok(principal('*', 'spiffe://td/x'));
    assert.ok(!principal('*', ''));
    assert.equal(principalPatternError('spiffe://td/*/sa/a'), '"*" is allowed only as the whole pattern or last after "/"');
    assert.equal(principalPatternError('spiffe://td/a b'), 'must be a non-empty id without spaces');
  });
});

describe('permissions', () => {
  it('grants by exact match and "*" segments', () => {
    assert.ok(grants('*', 'orders:read'));
    assert.ok(grants('orders:read', 'orders:read'));
    assert.ok(grants('orders:*', 'orders:read'));
    assert.ok(grants('orders:*', 'orders:items:write'), 'a trailing * covers the rest');
    assert.ok(!grants('orders:*', 'orders'));
    assert.ok(!grants('orders:*', 'ordersx:read'));
    assert.ok(grants('orders:*:write', 'orders:items:write'));
    assert.ok(!grants('orders:*:write', 'orders:items:read'));
    assert.ok(!grants('orders:*:write', 'orders:a:b:write'), 'a middle * is one segment');
    assert.ok(!grants('orders:read', 'orders:read:own'));
    assert.ok(!grants('orders:read:own', 'orders:read'));
  });

  it('validates permissions and patterns', () => {
    assert.equal(permissionError('orders:read'), null);
    assert.equal(permissionError('orders:*'), 'must be a concrete permission (wildcards belong in spec.roles)');
    assert.equal(permissionError('orders::read'), 'must be ":"-separated segments of letters, digits, ".", "_", "-", "/"');
    assert.equal(permissionPatternError('orders:*'), null);
    assert.equal(permissionPatternError('*'), null);
    assert.notEqual(permissionPatternError('orders:re*'), null);
    assert.notEqual(permissionPatternError(''), null);
  });

  it('reads roles from an array, a separated string, a dotted path or a namespaced claim', () => {
    const token = (claims: Record<string, unknown>) => ({ claims }) as unknown as VerifiedToken;
    assert.deepEqual(rolesOf(token({ roles: ['a', 'b', 3, ''] }), 'roles'), ['a', 'b']);
    assert.deepEqual(rolesOf(token({ roles: 'a b,c , d' }), 'roles'), ['a', 'b', 'c', 'd']);
    assert.deepEqual(rolesOf(token({ realm_access: { roles: ['admin'] } }), 'realm_access.roles'), ['admin']);
    assert.deepEqual(rolesOf(token({ 'https://ex.test/roles': ['x'] }), 'https://ex.test/roles'), ['x']);
    assert.deepEqual(rolesOf(token({ roles: 5 }), 'roles'), []);
    assert.deepEqual(rolesOf(token({}), 'a.b'), []);
    assert.deepEqual(rolesOf(token({ a: { toString: ['x'] } }), 'a.constructor'), []);
    assert.deepEqual(rolesOf(null, 'roles'), []);
  });
});

describe('RuleIndex', () => {
  const index = new RuleIndex();
  const p = parsePathPattern;
  index.add(0, null, [p('/api/orders')]);
  index.add(1, ['GET'], [p('/api/orders/*'), p('/api/orders')]);
  index.add(2, ['POST'], [p('/api/*')]);
  index.add(3, null, [p('*.png')]);
  index.add(4, ['DELETE'], null);
  index.add(5, null, [p('/*')]);
  index.add(6, ['GET', 'HEAD'], [p('*')]);
  index.add(7, null, [p('/api/orders/*')]);

  it('returns the rules that can match, in ascending order, without duplicates', () => {
    assert.deepEqual(index.candidates('GET', '/api/orders'), [0, 1, 5, 6]);
    assert.deepEqual(index.candidates('GET', '/api/orders/'), [1, 5, 6, 7]);
    assert.deepEqual(index.candidates('POST', '/api/orders/1.png'), [2, 3, 5, 7]);
    assert.deepEqual(index.candidates('POST', '/apix'), [5]);
    assert.deepEqual(index.candidates('POST', '/api'), [5]);
    assert.deepEqual(index.candidates('DELETE', 'x.png'), [3, 4]);
    assert.deepEqual(index.candidates('PUT', '*'), []);
    assert.deepEqual(index.candidates('HEAD', '/'), [5, 6]);
  });
});

describe('RuleIndex with URI templates', () => {
  const p = parsePathPattern;
  const index = new RuleIndex();
  index.add(0, null, [p('/v1/payments/{id}/refund')]);
  index.add(1, ['POST'], [p('/v1/payments/*/capture')]);
  index.add(2, null, [p('/v1/customers/{customer}/orders/**')]);
  index.add(3, null, [p('/v1/{version}/payments/{id}/refund')]);
  index.add(4, null, [p('/{any}')]);
  index.add(5, null, [p('/v1/payments/{id}/')]);
  index.add(6, null, [p('/**')]);
  index.add(7, ['GET'], [p('/v1/payments/*')]);
  index.add(8, null, [p('/v1/payments/{id}')]);
  index.add(9, null, [p('/v1/{rest=**}')]);

  it('finds templates by their segments, a variable or "*" being any non-empty segment', () => {
    assert.deepEqual(index.candidates('GET', '/v1/payments/7/refund'), [0, 6, 7, 9]);
    assert.deepEqual(index.candidates('POST', '/v1/payments/7/capture'), [1, 6, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/payments/7/capture'), [6, 7, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/payments/refund/refund'), [0, 6, 7, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/v1/payments/7/refund'), [3, 6, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/customers/alice/orders/'), [2, 6, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/customers/alice/orders/7/items'), [2, 6, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/customers/alice/orders'), [6, 9], '"/**" needs the "/" before it');
    assert.deepEqual(index.candidates('GET', '/v1'), [4, 6]);
    assert.deepEqual(index.candidates('GET', '/v1/'), [6, 9]);
    assert.deepEqual(index.candidates('GET', '/'), [6], 'no empty segment for "{any}"');
  });

  it('tells a trailing "/" apart, and empty segments never match a variable', () => {
    assert.deepEqual(index.candidates('PUT', '/v1/payments/7'), [6, 8, 9]);
    assert.deepEqual(index.candidates('PUT', '/v1/payments/7/'), [5, 6, 9]);
    assert.deepEqual(index.candidates('GET', '/v1/payments/'), [6, 7, 9]);
  });

  it('is a pre-filter that agrees with matchPath on every combination of literals and wildcards', () => {
    // Every pattern over {a, *} of depth 1–6, some ending in "/**": a trie where each node has
    // both a literal and a wildcard edge, the walk's worst shape.
    const patterns: string[] = [];
    for (let depth = 1; depth <= 6; depth++) {
      for (let bits = 0; bits < 1 << depth; bits++) {
        const segments = Array.from({ length: depth }, (_, k) => (bits & (1 << k) ? 'a' : `{v${k}}`));
        patterns.push('/' + segments.join('/'), '/' + segments.join('/') + '/**', '/' + segments.join('/') + '/');
      }
    }
    const deep = new RuleIndex();
    const parsed = patterns.map(p);
    parsed.forEach((pattern, i) => deep.add(i, null, [pattern]));
    const paths = ['/', '/a', '/b', '/a/', '/a/a', '/a/b/a', '/b/b/b/b/b/b', '/a/a/a/a/a/a/', '/a/a/a/a/a/a/a/a', '/a'.repeat(2048), '/a/b/c/d/e/f/g'];
    for (const path of paths) {
      const expected = parsed.flatMap((pattern, i) => (matchPath(pattern, path) ? [i] : []));
      assert.deepEqual(deep.candidates('GET', path), expected, path);
    }
    assert.equal(deep.candidates('GET', '/a/a/a/a/a/a').length, 64 + 62, 'the 64 of depth 6, and the 2 + 4 + … + 32 of depth 1–5 ending in "/**"');
  });
});
