import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { parseConfig, type Config } from '../../src/config/index.js';
import { controlTargets, type ControlStores } from '../../src/control/start.js';
import type { ControlTarget } from '../../src/control/applier.js';
import type { ControlDocument } from '../../src/control/types.js';
import { KeyStore } from '../../src/keys/store.js';
import { RevocationStore } from '../../src/keys/revocations.js';
import { ApiKeyStore, apiKeyId, generateApiKey, hashApiKey } from '../../src/keys/index.js';
import { parsePolicy, ProtectedService } from '../../src/policy/index.js';
import type { RequestView } from '../../src/request/types.js';
import type { AuthContext, VerifiedToken } from '../../src/tokens/types.js';

const CONFIG = `service: orders
issuers:
  - name: idp
    issuer: https://idp.example.test
    audiences: [orders]
    algorithms: [ES256]
    keys: { nats: true }
serviceTokens:
  trustDomain: cluster.local
  keys: { nats: true }
policy: { nats: true }
nats:
  servers: ["nats://127.0.0.1:4222"]
  signers: [keys/cp.pub.jwk.json]
`;

function policyText(service: string, rule: string): string {
  return `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: ${service}, service: ${service} }
spec:
  defaultAction: DENY
  rules:
    - name: ${rule}
      action: ALLOW
      to: [{ paths: ["/${rule}/*"] }]
`;
}

const doc = (kind: ControlDocument['kind'], target: string, revision: number, body: unknown): ControlDocument => ({
  kind,
  target,
  revision,
  issuedAt: 1_700_000_000,
  body,
});

function view(path: string): RequestView {
  return {
    id: 'r1',
    method: 'GET',
    host: 'orders.example.test',
    path,
    rawPath: path,
    query: {},
    headers: {},
    repeatedHeaders: new Set(),
    sourceAddress: '',
    sourcePrincipal: '',
    contextExtensions: {},
  };
}
const ANONYMOUS: AuthContext = { user: null, service: null, principal: null };

/** A fresh public JWK (and the same key with its private half) under `kid`. */
async function jwk(kid: string): Promise<{ pub: JWK; priv: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { pub: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }, priv: { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' } };
}

function setup(text = CONFIG) {
  const config: Config = parseConfig(text, '/etc/authz/config.yaml');
  const idp = new KeyStore({ name: 'idp', source: config.issuers[0].keys!, algorithms: config.issuers[0].algorithms });
  const mesh = new KeyStore({ name: 'cluster.local', source: config.serviceTokens!.keys, algorithms: config.serviceTokens!.algorithms });
  const orders = new ProtectedService('orders');
  const stores: ControlStores = {
    services: [orders],
    issuerKeys: new Map([['idp', idp]]),
    trustDomainKeys: mesh,
    revocations: new RevocationStore(),
  };
  const targets = controlTargets(config, stores);
  const byKey = (key: string): ControlTarget => {
    const target = targets.find((t) => t.key === key);
    assert.ok(target, `no target for ${key}`);
    return target;
  };
  return { config, stores, orders, idp, mesh, targets, byKey };
}

let k1: { pub: JWK; priv: JWK };
let k2: { pub: JWK; priv: JWK };
before(async () => {
  [k1, k2] = [await jwk('idp-1'), await jwk('idp-2')];
});

describe('controlTargets', () => {
  it('follows the policy, each nats key set and the revocations, under the documented KV keys', () => {
    const { targets, config } = setup();
    assert.equal(config.nats?.signers[0], '/etc/authz/keys/cp.pub.jwk.json');
    assert.deepEqual(
      targets.map((t) => [t.key, t.kind, t.target]),
      [
        ['policy.orders', 'policy', 'orders'],
        ['shadow.orders', 'shadow', 'orders'],
        ['keys.issuer.idp', 'keys', 'issuer/idp'],
        ['keys.trust-domain.cluster.local', 'keys', 'trust-domain/cluster.local'],
        ['revocations', 'revocations', '*'],
      ],
    );
  });

  it('follows only revocations when the policy and keys come from files', () => {
    const config = parseConfig(
      `service: orders
issuers:
  - name: idp
    issuer: https://idp.example.test
    audiences: [orders]
    keys: { file: keys/idp.jwks.json }
policy: { file: policy.yaml }
nats:
  servers: ["nats://127.0.0.1:4222"]
  signers: [cp.pub.jwk.json]
`,
      '/etc/authz/config.yaml',
    );
    const targets = controlTargets(config, {
      services: [new ProtectedService('orders')],
      issuerKeys: new Map(),
      trustDomainKeys: undefined,
      revocations: new RevocationStore(),
    });
    assert.deepEqual(
      targets.map((t) => t.key),
      ['revocations'],
    );
  });

  it('a gateway follows policy.<name> and shadow.<name> of each service whose policy is on NATS, into that service', async () => {
    const config = parseConfig(
      `service: ingress
gateway:
  services:
    - { name: orders, policy: { nats: true } }
    - { name: billing, policy: { file: billing.yaml } }
    - { name: users, policy: { nats: true } }
nats:
  servers: ["nats://127.0.0.1:4222"]
  signers: [cp.pub.jwk.json]
`,
      '/etc/authz/config.yaml',
    );
    const services = ['orders', 'billing', 'users'].map((name) => new ProtectedService(name));
    const targets = controlTargets(config, { services, issuerKeys: new Map(), trustDomainKeys: undefined, revocations: new RevocationStore() });
    assert.deepEqual(
      targets.map((t) => t.key),
      ['policy.orders', 'shadow.orders', 'policy.users', 'shadow.users', 'revocations'],
    );
    await targets.find((t) => t.key === 'policy.users')!.apply(doc('policy', 'users', 2, parsePolicy(policyText('users', 'u'), 'x')));
    assert.deepEqual(
      services.map((s) => s.policies.current()?.revision ?? null),
      [null, null, '2'],
    );
    assert.throws(
      () => targets.find((t) => t.key === 'policy.orders')!.apply(doc('policy', 'orders', 3, parsePolicy(policyText('users', 'u'), 'x'))),
      /metadata.service is "users"/,
    );
  });

  it('applies a shadow document to the ShadowPolicy, and a null body removes the shadow', async () => {
    const { orders, byKey } = setup();
    const target = byKey('shadow.orders');
    assert.equal(orders.shadow.current(), null);
    await target.apply(doc('shadow', 'orders', 3, parsePolicy(policyText('orders', 'next'), 'inline.yaml')));
    assert.equal(orders.shadow.current()?.revision, '3');
    assert.equal(orders.policies.current(), null, 'the enforced policy is untouched');
    assert.throws(() => target.apply(doc('shadow', 'orders', 4, parsePolicy(policyText('billing', 'x'), 'inline.yaml'))), /metadata.service is "billing"/);
    assert.equal(orders.shadow.current()?.revision, '3', 'a refused shadow leaves the previous one');
    await target.apply(doc('shadow', 'orders', 5, null));
    assert.equal(orders.shadow.current(), null);
  });

  it('compiles a policy document into the PolicyStore with the document revision', async () => {
    const { orders, byKey } = setup();
    const target = byKey('policy.orders');
    assert.equal(orders.policies.current(), null);
    await target.apply(doc('policy', 'orders', 7, parsePolicy(policyText('orders', 'seven'), 'x')));
    const compiled = orders.policies.current();
    assert.ok(compiled);
    assert.equal(compiled.revision, '7');
    assert.equal(compiled.name, 'orders');
    assert.equal(compiled.service, 'orders');
    assert.equal(compiled.evaluate(view('/seven/x'), ANONYMOUS).allow, true);
    assert.equal(compiled.evaluate(view('/eight/x'), ANONYMOUS).allow, false);

    await target.apply(doc('policy', 'orders', 8, parsePolicy(policyText('orders', 'eight'), 'x')));
    assert.equal(orders.policies.current()?.revision, '8');
    assert.equal(orders.policies.current()?.evaluate(view('/eight/x'), ANONYMOUS).allow, true);
    assert.equal(orders.policies.current()?.evaluate(view('/seven/x'), ANONYMOUS).allow, false);
  });

  it('throws for a policy of another service or an invalid policy, keeping the one in force', async () => {
    const { orders, byKey } = setup();
    const target = byKey('policy.orders');
    await target.apply(doc('policy', 'orders', 1, parsePolicy(policyText('orders', 'one'), 'x')));
    const before = orders.policies.current();
    await assert.rejects(async () => target.apply(doc('policy', 'orders', 2, parsePolicy(policyText('billing', 'two'), 'x'))), /billing/);
    await assert.rejects(async () => target.apply(doc('policy', 'orders', 3, { apiVersion: 'authz-sidecar/v1', kind: 'Policy' })));
    await assert.rejects(async () => target.apply(doc('policy', 'orders', 4, 'not a policy')));
    assert.equal(orders.policies.current(), before);
    assert.equal(orders.policies.current()?.revision, '1');
  });

  it('swaps the issuer KeyStore on a keys document', async () => {
    const { idp, mesh, byKey } = setup();
    const target = byKey('keys.issuer.idp');
    assert.equal(idp.current(), undefined);
    await target.apply(doc('keys', 'issuer/idp', 1, { keys: [k1.pub] }));
    assert.deepEqual(idp.current()?.kids, ['idp-1']);
    await target.apply(doc('keys', 'issuer/idp', 2, { keys: [k2.pub] }));
    assert.deepEqual(idp.current()?.kids, ['idp-2']);
    assert.equal(mesh.current(), undefined, 'the trust domain is a separate store');
  });

  it('throws for a JWKS holding a private key (or no keys) and leaves the old set', async () => {
    const { idp, byKey } = setup();
    const target = byKey('keys.issuer.idp');
    await target.apply(doc('keys', 'issuer/idp', 1, { keys: [k1.pub] }));
    const held = idp.current();
    await assert.rejects(
      async () => target.apply(doc('keys', 'issuer/idp', 2, { keys: [k2.priv] })),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'jwks_private_key');
        assert.ok(!String((error as Error).message).includes(String(k2.priv.d)), 'the message holds no key material');
        return true;
      },
    );
    await assert.rejects(async () => target.apply(doc('keys', 'issuer/idp', 3, { keys: [k2.pub, k1.priv] })));
    await assert.rejects(async () => target.apply(doc('keys', 'issuer/idp', 4, { keys: [] })));
    assert.equal(idp.current(), held);
    assert.deepEqual(idp.current()?.kids, ['idp-1']);
  });

  it('swaps the trust domain KeyStore on a keys document', async () => {
    const { idp, mesh, byKey } = setup();
    await byKey('keys.trust-domain.cluster.local').apply(doc('keys', 'trust-domain/cluster.local', 1, { keys: [k2.pub] }));
    assert.deepEqual(mesh.current()?.kids, ['idp-2']);
    assert.equal(idp.current(), undefined);
  });

  it('swaps the RevocationStore on a revocations document, and keeps it on a bad one', async () => {
    const { stores, byKey } = setup();
    const target = byKey('revocations');
    const now = Math.floor(Date.now() / 1000);
    const token = { jti: 'leaked', subject: 'alice', issuer: 'https://idp.example.test' } as VerifiedToken;
    assert.equal(stores.revocations.current().revokes(token, now), false);
    await target.apply(doc('revocations', '*', 5, { entries: [{ jti: 'leaked', until: now + 3600 }] }));
    const list = stores.revocations.current();
    assert.equal(list.revision, 5);
    assert.equal(list.size, 1);
    assert.equal(list.revokes(token, now), true);
    assert.equal(list.revokes({ ...token, jti: 'other' }, now), false);

    await assert.rejects(async () => target.apply(doc('revocations', '*', 6, { entries: [{ jti: 'x', sub: 'y', until: now + 1 }] })));
    await assert.rejects(async () => target.apply(doc('revocations', '*', 7, { list: [] })));
    assert.equal(stores.revocations.current(), list);

    await target.apply(doc('revocations', '*', 8, { entries: [] }));
    assert.equal(stores.revocations.current().revision, 8);
    assert.equal(stores.revocations.current().revokes(token, now), false);
  });

  it('follows apikeys.<name> when the API key set is on NATS, and swaps it whole or not at all', async () => {
    const config = parseConfig(`${CONFIG}apiKeys: { name: partners, keys: { nats: true } }\n`, '/etc/authz/config.yaml');
    const apiKeys = new ApiKeyStore({ name: 'partners', source: { nats: true } });
    const { stores } = setup();
    const targets = controlTargets(config, { ...stores, apiKeys });
    const target = targets.find((t) => t.key === 'apikeys.partners');
    assert.deepEqual(target && [target.kind, target.target], ['apikeys', 'partners']);
    const key = generateApiKey().key;
    await target!.apply(doc('apikeys', 'partners', 1, { keys: [{ id: apiKeyId(key), hash: hashApiKey(key), subject: 'partner-a' }] }));
    const set = apiKeys.current();
    assert.equal(set?.match(key, 0).result, 'ok');
    await assert.rejects(async () => target!.apply(doc('apikeys', 'partners', 2, { keys: [{ id: apiKeyId(key), key, subject: 'x' }] })), /unknown field/);
    assert.equal(apiKeys.current(), set);
    assert.equal(
      controlTargets(config, stores).some((t) => t.kind === 'apikeys'),
      false,
      'no store for it (a file source): not followed',
    );
  });
});
