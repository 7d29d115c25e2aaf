import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issuerSchema } from '../../src/config/schema.js';
import { IdentityHeaders, headerValue, ISSUER_HEADER, PRINCIPAL_HEADER, SUBJECT_HEADER } from '../../src/grpc/identity-headers.js';
import { ANONYMOUS, type AuthContext, type VerifiedToken } from '../../src/tokens/index.js';

const issuers = [
  issuerSchema.parse({
    name: 'idp',
    issuer: 'https://idp.example.test',
    audiences: ['orders'],
    keys: { file: 'k' },
    claimsToHeaders: { tenant: 'x-tenant-id', roles: 'x-auth-roles', 'realm_access.roles': 'x-realm-roles', org: 'x-org', level: 'x-level', note: 'x-note' },
  }),
  issuerSchema.parse({
    name: 'partner',
    issuer: 'https://partner.test',
    audiences: ['orders'],
    keys: { file: 'k' },
    claimsToHeaders: { partner_id: 'x-partner-id' },
  }),
];
const identity = new IdentityHeaders(issuers);

function user(claims: Record<string, unknown>, issuerName = 'idp', subject = 'alice'): VerifiedToken {
  return {
    issuerName,
    issuer: issuerName === 'idp' ? 'https://idp.example.test' : 'https://partner.test',
    subject,
    audience: ['orders'],
    jti: undefined,
    expiresAt: 0,
    scopes: [],
    claims,
  };
}
const as = (u: VerifiedToken | null, principal: string | null = null): AuthContext => ({ user: u, service: null, principal });

/** Every managed name is set or removed, never both, never neither. */
function assertPartition(result: { set: ReadonlyArray<readonly [string, string]>; remove: readonly string[] }): Map<string, string> {
  const setNames = result.set.map(([name]) => name);
  assert.equal(new Set(setNames).size, setNames.length, 'no header set twice');
  for (const name of setNames) assert.ok(!result.remove.includes(name), `${name} both set and removed`);
  assert.deepEqual([...setNames, ...result.remove].sort(), [...identity.managed], 'set ∪ remove = managed');
  return new Map(result.set);
}

describe('IdentityHeaders', () => {
  it('manages the three fixed headers plus every issuer mapping, sorted', () => {
    assert.deepEqual(identity.managed, [
      'x-auth-issuer',
      'x-auth-principal',
      'x-auth-roles',
      'x-auth-subject',
      'x-level',
      'x-note',
      'x-org',
      'x-partner-id',
      'x-realm-roles',
      'x-tenant-id',
    ]);
    assert.deepEqual([SUBJECT_HEADER, ISSUER_HEADER, PRINCIPAL_HEADER], ['x-auth-subject', 'x-auth-issuer', 'x-auth-principal']);
  });

  it('anonymous: nothing set, every managed header removed', () => {
    const result = identity.forCaller(ANONYMOUS);
    assert.deepEqual(result.set, []);
    assert.deepEqual([...result.remove], [...identity.managed]);
  });

  it('a user: subject, issuer and mapped claims set; the rest removed', () => {
    const result = identity.forCaller(as(user({ tenant: 'acme', roles: ['customer', 'admin'] })));
    const set = assertPartition(result);
    assert.deepEqual(Object.fromEntries(set), {
      'x-auth-subject': 'alice',
      'x-auth-issuer': 'https://idp.example.test',
      'x-tenant-id': 'acme',
      'x-auth-roles': 'customer,admin',
    });
    assert.ok(result.remove.includes('x-auth-principal'));
    assert.ok(result.remove.includes('x-partner-id'), "another issuer's mapping is removed");
  });

  it('follows dotted claim paths, only through own properties of objects', () => {
    const set = assertPartition(identity.forCaller(as(user({ realm_access: { roles: ['a', 'b'] } }))));
    assert.equal(set.get('x-realm-roles'), 'a,b');
    const missing = assertPartition(identity.forCaller(as(user({ realm_access: ['roles'] }))));
    assert.equal(missing.has('x-realm-roles'), false, 'an array is not walked into');
    const proto = assertPartition(identity.forCaller(as(user({ realm_access: {} }))));
    assert.equal(proto.has('x-realm-roles'), false);
    const inherited = assertPartition(identity.forCaller(as(user({ realm_access: Object.create({ roles: ['x'] }) }))));
    assert.equal(inherited.has('x-realm-roles'), false, 'inherited properties are not claims');
  });

  it('renders arrays with ",", objects as JSON, numbers and booleans as text', () => {
    const set = assertPartition(identity.forCaller(as(user({ roles: ['a', 7, { b: 1 }], org: { id: 'o1', name: 'Acme' }, level: 3, note: true }))));
    assert.equal(set.get('x-auth-roles'), 'a,7,{"b":1}');
    assert.equal(set.get('x-org'), '{"id":"o1","name":"Acme"}');
    assert.equal(set.get('x-level'), '3');
    assert.equal(set.get('x-note'), 'true');
    assert.equal(headerValue(['x', 'y']), 'x,y');
    assert.equal(headerValue('plain'), 'plain');
  });

  it('drops values with control characters, empty values and oversized values (the header is removed instead)', () => {
    for (const bad of ['acme\r\nx-injected: 1', 'acme\n', 'a\u0000b', 'a\u001bb', 'a\u007fb', '', 'x'.repeat(8193)]) {
      const result = identity.forCaller(as(user({ tenant: bad })));
      const set = assertPartition(result);
      assert.equal(set.has('x-tenant-id'), false, JSON.stringify(bad.slice(0, 20)));
      assert.ok(result.remove.includes('x-tenant-id'));
    }
    const tab = assertPartition(identity.forCaller(as(user({ tenant: 'a\tb' }))));
    assert.equal(tab.get('x-tenant-id'), 'a\tb', 'a tab is a legal header value character');
    const control = assertPartition(identity.forCaller(as(user({}, 'idp', 'ali\nce'))));
    assert.equal(control.has('x-auth-subject'), false);
  });

  it('omits a null claim instead of sending the text "null"', () => {
    // headerValue's own comment: "null/undefined are omitted". A tenant claim of null must
    // not reach the upstream as `x-tenant-id: null` (a tenant literally named "null").
    const result = identity.forCaller(as(user({ tenant: null })));
    const set = assertPartition(result);
    assert.equal(set.get('x-tenant-id'), undefined);
    assert.ok(result.remove.includes('x-tenant-id'));
  });

  it('uses only the mappings of the issuer that verified the token', () => {
    const set = assertPartition(identity.forCaller(as(user({ tenant: 'acme', partner_id: 'p-9' }, 'partner'))));
    assert.equal(set.get('x-partner-id'), 'p-9');
    assert.equal(set.has('x-tenant-id'), false);
  });

  it('a calling service: principal set, user headers removed; both together when both present', () => {
    const svc = assertPartition(identity.forCaller(as(null, 'spiffe://cluster.local/ns/shop/sa/checkout')));
    assert.deepEqual(Object.fromEntries(svc), { 'x-auth-principal': 'spiffe://cluster.local/ns/shop/sa/checkout' });
    const both = assertPartition(identity.forCaller(as(user({ tenant: 'acme' }), 'spiffe://cluster.local/ns/a/sa/b')));
    assert.equal(both.get('x-auth-principal'), 'spiffe://cluster.local/ns/a/sa/b');
    assert.equal(both.get('x-auth-subject'), 'alice');
  });

  it('a mapping onto a fixed header cannot override the verified subject', () => {
    const sneaky = new IdentityHeaders([
      issuerSchema.parse({ name: 'idp', issuer: 'i', audiences: ['a'], keys: { file: 'k' }, claimsToHeaders: { email: 'x-auth-subject' } }),
    ]);
    const result = sneaky.forCaller(as(user({ email: 'mallory@example.test' })));
    assert.deepEqual(
      result.set.filter(([n]) => n === 'x-auth-subject'),
      [['x-auth-subject', 'alice']],
    );
  });
});
