import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClaims, scopesOf, setPath } from '../../src/cli/claims.js';
import { UsageError } from '../../src/cli/command.js';
import { buildPayload } from '../../src/cli/commands/token-mint.js';
import { jsonOrString, parseDuration, parseHeader, parseKeyValue } from '../../src/cli/values.js';

describe('parseClaims', () => {
  it('parses values as JSON when they are JSON, else keeps the string', () => {
    const claims = parseClaims(['n=3', 'ok=true', 'none=null', 'list=["a","b"]', 'obj={"a":1}', 'tenant=acme', 'id="007"', 'eq=a=b', 'empty=']);
    assert.deepEqual(claims, { n: 3, ok: true, none: null, list: ['a', 'b'], obj: { a: 1 }, tenant: 'acme', id: '007', eq: 'a=b', empty: '' });
  });

  it('builds nested objects from dotted keys and merges siblings', () => {
    const claims = parseClaims(['realm.roles=["a"]', 'realm.name=main', 'a.b.c=1']);
    assert.deepEqual(claims, { realm: { roles: ['a'], name: 'main' }, a: { b: { c: 1 } } });
  });

  it('lets a later claim win', () => {
    assert.deepEqual(parseClaims(['x=1', 'x=2']), { x: 2 });
  });

  it('rejects malformed items with a message naming the option', () => {
    assert.throws(
      () => parseClaims(['novalue']),
      (e: unknown) => e instanceof UsageError && /--claim: "novalue" must be key=value/.test(e.message),
    );
    assert.throws(() => parseClaims(['=x']), UsageError);
    assert.throws(() => parseClaims(['a..b=1']), /non-empty name/);
    assert.throws(() => parseClaims(['__proto__.polluted=1']), UsageError);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('refuses to nest under a value that is not an object', () => {
    assert.throws(() => parseClaims(['realm=x', 'realm.roles=[]']), /realm is already set to a non-object/);
    const target = { list: [1] };
    assert.throws(() => setPath(target, 'list.x', 1), UsageError);
  });
});

describe('option values', () => {
  it('parses signed durations', () => {
    assert.equal(parseDuration('90', '--ttl'), 90);
    assert.equal(parseDuration('30s', '--ttl'), 30);
    assert.equal(parseDuration('15m', '--ttl'), 900);
    assert.equal(parseDuration('2h', '--ttl'), 7200);
    assert.equal(parseDuration('1d', '--ttl'), 86400);
    assert.equal(parseDuration('-1m', '--exp-in'), -60);
    assert.throws(() => parseDuration('5x', '--ttl'), /--ttl: "5x" is not a duration/);
    assert.throws(() => parseDuration('1.5h', '--ttl'), UsageError);
  });

  it('parses headers and key=value pairs', () => {
    assert.deepEqual(parseHeader('X-Tenant-Id: acme'), ['x-tenant-id', 'acme']);
    assert.deepEqual(parseHeader('x-time:  12:30 '), ['x-time', '12:30']);
    assert.deepEqual(parseHeader(':path: /x'), [':path', '/x']);
    assert.throws(() => parseHeader('no colon'), /must be "name: value"/);
    assert.throws(() => parseHeader('bad name: v'), UsageError);
    assert.deepEqual(parseKeyValue('route=a=b', '--context'), ['route', 'a=b']);
    assert.equal(jsonOrString('{oops'), '{oops');
  });

  it('reads scopes from scope or scp', () => {
    assert.deepEqual(scopesOf({ scope: 'a  b' }), ['a', 'b']);
    assert.deepEqual(scopesOf({ scp: ['a', 1, 'b'] }), ['a', 'b']);
    assert.deepEqual(scopesOf({ scp: 'a b' }), ['a', 'b']);
    assert.deepEqual(scopesOf({}), []);
  });
});

describe('token mint payload', () => {
  const base = { iss: 'https://idp.example.test', sub: 'dev-user', claim: [] as string[], ttl: '15m' };

  it('applies the defaults', () => {
    const payload = buildPayload(base, 1000);
    assert.equal(payload.iss, 'https://idp.example.test');
    assert.equal(payload.sub, 'dev-user');
    assert.equal(payload.aud, 'orders');
    assert.equal(payload.iat, 1000);
    assert.equal(payload.exp, 1900);
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.equal(payload.nbf, undefined);
    assert.notEqual(buildPayload(base, 1000).jti, payload.jti);
  });

  it('maps the options onto claims, --claim last', () => {
    const payload = buildPayload(
      {
        ...base,
        aud: ['a', 'b'],
        scope: 'orders:read',
        roles: 'customer, admin,',
        nbf: '-30',
        'exp-in': '-1m',
        claim: ['tenant=acme', 'iss=https://other.test'],
      },
      1000,
    );
    assert.deepEqual(payload.aud, ['a', 'b']);
    assert.equal(payload.scope, 'orders:read');
    assert.deepEqual(payload.roles, ['customer', 'admin']);
    assert.equal(payload.nbf, 970);
    assert.equal(payload.exp, 940);
    assert.equal(payload.tenant, 'acme');
    assert.equal(payload.iss, 'https://other.test');
  });

  it('rejects a non-positive ttl', () => {
    assert.throws(() => buildPayload({ ...base, ttl: '0' }, 1000), /--ttl: must be positive/);
  });
});
