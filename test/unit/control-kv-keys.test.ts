import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiKeysTarget, issuerKeysTarget, kvKeyFor, parseKvKey, policyTarget, REVOCATIONS_TARGET, trustDomainKeysTarget } from '../../src/control/kv-keys.js';
import type { DocumentKind } from '../../src/control/types.js';

const TABLE: ReadonlyArray<[key: string, kind: DocumentKind, target: string]> = [
  ['policy.orders', 'policy', 'orders'],
  ['policy.billing-v2.eu_1', 'policy', 'billing-v2.eu_1'],
  ['keys.issuer.idp', 'keys', 'issuer/idp'],
  ['keys.trust-domain.cluster.local', 'keys', 'trust-domain/cluster.local'],
  ['keys.trust-domain._internal-1', 'keys', 'trust-domain/_internal-1'],
  ['revocations', 'revocations', '*'],
  ['apikeys.orders', 'apikeys', 'orders'],
  ['apikeys.partners-eu', 'apikeys', 'partners-eu'],
];

describe('KV keys', () => {
  it('maps (kind, target) to the key and back', () => {
    for (const [key, kind, target] of TABLE) {
      assert.equal(kvKeyFor(kind, target), key);
      assert.deepEqual(parseKvKey(key), { kind, target });
    }
  });

  it('builds targets from names', () => {
    assert.equal(policyTarget('orders'), 'orders');
    assert.equal(issuerKeysTarget('idp'), 'issuer/idp');
    assert.equal(trustDomainKeysTarget('cluster.local'), 'trust-domain/cluster.local');
    assert.equal(REVOCATIONS_TARGET, '*');
    assert.equal(apiKeysTarget('orders'), 'orders');
    assert.throws(() => apiKeysTarget('Orders'), TypeError);
    assert.equal(kvKeyFor('keys', issuerKeysTarget('idp')), 'keys.issuer.idp');
  });

  it('ignores keys outside the table and names that do not fit', () => {
    const bad = [
      '',
      'policy',
      'policy.',
      'Policy.orders',
      'policy.Orders',
      'policy.-orders',
      'policy._orders',
      'policy.a..b',
      'policy.a.',
      'policy.a/b',
      'policy.a b',
      'policy.a*',
      'policy.a>',
      `policy.${'a'.repeat(64)}`,
      'keys.issuer.',
      'keys.issuer',
      'keys.idp',
      'keys.other.idp',
      'keys.trust-domain.',
      'keys.trust-domain..x',
      'keys.trust-domain.x.',
      'keys.trust-domain.x..y',
      `keys.trust-domain.${'a'.repeat(256)}`,
      'revocations.',
      'revocations.x',
      'apikeys',
      'apikeys.',
      'apikeys.Orders',
      'apikeys.a..b',
      '.policy.orders',
      'policy.orders\n',
      'policy.ör',
    ];
    for (const key of bad) assert.equal(parseKvKey(key), null, JSON.stringify(key));
    assert.equal(parseKvKey(`policy.${'a'.repeat(63)}`)?.target, 'a'.repeat(63));
  });

  it('refuses a target that does not fit its kind', () => {
    const bad: Array<[DocumentKind, string]> = [
      ['policy', 'issuer/idp'],
      ['policy', '../etc'],
      ['policy', ''],
      ['policy', '*'],
      ['keys', 'orders'],
      ['keys', 'issuer/'],
      ['keys', 'issuer/Idp'],
      ['keys', 'trust-domain/a..b'],
      ['keys', 'spiffe/cluster.local'],
      ['revocations', 'orders'],
      ['revocations', ''],
      ['nope' as DocumentKind, 'orders'],
    ];
    for (const [kind, target] of bad) assert.throws(() => kvKeyFor(kind, target), TypeError, `${kind} ${target}`);
    assert.throws(() => policyTarget('Orders'), /not a valid service name/);
    assert.throws(() => issuerKeysTarget('a/b'), /not a valid issuer name/);
    assert.throws(() => trustDomainKeysTarget('.local'), /not a valid trust domain/);
  });

  it('keeps long names out of the message', () => {
    assert.throws(
      () => kvKeyFor('policy', 'X'.repeat(10_000)),
      (error: Error) => error.message.length < 200,
    );
  });
});
