import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuleIndex } from '../../src/policy/index-tree.js';
import { matchPath, parsePathPattern, pathPatternError } from '../../src/policy/paths.js';
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
      ['/api/*/items', '"*" is allowed only as the whole pattern, first ("*.png") or last after "/" ("/api/*")'],
      ['/api/orders*', '"*" is allowed only as the whole pattern, first ("*.png") or last after "/" ("/api/*")'],
      ['/api/**', '"*" is allowed only as the whole pattern, first ("*.png") or last after "/" ("/api/*")'],
      ['*/a/*', '"*" may appear only once'],
      ['**', '"*" may appear only once'],
    ];
    for (const [pattern, reason] of cases) assert.equal(pathPatternError(pattern), reason, pattern);
    assert.throws(() => parsePathPattern('/a/*/b'), TypeError);
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
