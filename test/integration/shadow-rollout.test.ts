/**
 * Safe roll-out end to end: 3 sidecars on a real nats-server, a 10,000-request corpus built
 * with Envoy's protos. A shadow policy never changes an answer; what the fleet reports it
 * would decide differently equals what `policy replay` computes offline; `policy unused` names
 * the rules the corpus never hit; promote makes the shadow enforced everywhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startFleet, type Fleet } from '../../testkit/fleet.js';
import { envoyRequest, type CheckResult } from '../../testkit/envoy-client.js';
import { minterFor } from '../../testkit/tokens.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { sleep } from '../../testkit/wait.js';

const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout';
const ENFORCED = readFileSync(`${EXAMPLES}/policy.yaml`, 'utf8');

/**
 * The shadow: read-orders without its tenant condition, create-orders also requiring
 * orders:admin, a new read-invoices rule, and no block-legacy rule.
 */
const SHADOW = ENFORCED.replace('      when: \'request.auth.claims.tenant == request.headers["x-tenant-id"]\'\n', '')
  .replace('require: { scopes: ["orders:write"], permission: "orders:create" }', 'require: { scopes: ["orders:write"], permission: "orders:admin" }')
  .replace(/ {4}- name: block-legacy\n {6}action: DENY\n {6}to: \[\{ paths: \["\/legacy\/\*"\] \}\]\n/, '')
  .replace(
    '    - name: checkout-service',
    `    - name: read-invoices
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/invoices/*"] }]
      from: [{ issuers: ["https://idp.example.test"] }]
      require: { scopes: ["invoices:read"] }
    - name: checkout-service`,
  );

/** Denies everything, and its one rule's condition fails at run time (no such claim). */
const HOSTILE_SHADOW = `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: broken
      action: ALLOW
      when: request.auth.claims.nothing.here == "x"
`;

/** A deterministic mix: every rule of the enforced policy but admin-everything, anonymous callers, a refused token. */
function corpus(count: number): unknown[] {
  const minter = minterFor();
  const token = (claims: Record<string, unknown>) => `Bearer ${minter.mint(claims)}`;
  const reader = token({ scope: 'orders:read', roles: ['customer'], tenant: 'acme' });
  const writer = token({ scope: 'orders:read orders:write', roles: ['customer'], tenant: 'acme' });
  const invoices = token({ scope: 'invoices:read', roles: [], tenant: 'acme' });
  const kinds: Array<(i: number) => unknown> = [
    () => envoyRequest({ path: '/healthz' }),
    (i) => envoyRequest({ path: `/legacy/${i}` }),
    (i) => envoyRequest({ path: `/api/orders/${i}`, headers: { authorization: reader, 'x-tenant-id': 'acme' } }),
    (i) => envoyRequest({ path: `/api/orders/${i}`, headers: { authorization: reader, 'x-tenant-id': 'globex' } }),
    (i) => envoyRequest({ path: `/api/customers/alice/orders/${i}`, headers: { authorization: reader } }),
    (i) => envoyRequest({ path: `/api/customers/bob/orders/${i}`, headers: { authorization: reader } }),
    () => envoyRequest({ method: 'POST', path: '/api/orders', headers: { authorization: writer } }),
    () => envoyRequest({ method: 'POST', path: '/api/orders', headers: { authorization: reader } }),
    (i) => envoyRequest({ method: 'POST', path: `/internal/${i}`, principal: CHECKOUT }),
    (i) => envoyRequest({ path: `/api/invoices/${i}`, headers: { authorization: invoices } }),
    (i) => envoyRequest({ path: `/api/orders/${i}` }),
    (i) => envoyRequest({ path: `/api/orders/${i}`, headers: { authorization: 'Bearer not.a.token' } }),
  ];
  return Array.from({ length: count }, (_, i) => {
    const request = kinds[(i * 7) % kinds.length](i) as { attributes: { request: { http: { id: string } } } };
    request.attributes.request.http.id = `req-${i}`;
    return request;
  });
}

/** An answer without what differs between two Checks of the same request (the decision id). */
function canonical(result: CheckResult): string {
  const fields = { ...(result.dynamic_metadata?.fields ?? {}) };
  delete fields.decision_id;
  return JSON.stringify({ ...result, dynamic_metadata: { fields } });
}

interface PairJson {
  enforced: string;
  enforcedReason: string;
  enforcedRule: string | null;
  shadow: string;
  shadowReason: string;
  shadowRule: string | null;
  count: number;
}
const pairKeys = (pairs: PairJson[]) =>
  pairs.map((p) => `${p.enforced} ${p.enforcedReason} ${p.enforcedRule} → ${p.shadow} ${p.shadowReason} ${p.shadowRule}: ${p.count}`).sort();

describe('shadow policies: 3 sidecars, a 10,000-request corpus', () => {
  let nats: NatsServer;
  let fleet: Fleet;
  const requests = corpus(10_000);
  let baseline: string[];

  /** Sends the corpus (or its first `count` requests) round robin over the fleet, 48 in flight. */
  async function send(count = requests.length): Promise<string[]> {
    const answers = new Array<string>(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        answers[i] = canonical(await fleet.members[i % fleet.members.length].client.check(requests[i]));
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    return answers;
  }

  /** Waits until every sidecar has applied revision `revision` of `key`. */
  async function applied(key: string, revision: number): Promise<void> {
    for (let waited = 0; ; waited += 100) {
      const status = await fleet.ctl('status', '--json', '--wait', '500ms');
      const sidecars = (JSON.parse(status.stdout || '{"sidecars":[]}') as { sidecars: Array<{ keys: Array<{ key: string; applied: number }> }> }).sidecars;
      if (sidecars.length === 3 && sidecars.every((s) => s.keys.some((k) => k.key === key && k.applied === revision))) return;
      if (waited > 15_000) assert.fail(`${key} revision ${revision} not applied on all 3: ${status.stdout}`);
      await sleep(100);
    }
  }

  const write = (name: string, text: string) => {
    const path = join(fleet.dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    nats = await startNatsServer();
    fleet = await startFleet(nats.url, 3);
    assert.equal((await fleet.ctl('publish', 'keys', `${EXAMPLES}/keys/idp.jwks.json`, '--issuer', 'idp')).code, 0);
    const published = await fleet.ctl('publish', 'policy', write('enforced.yaml', ENFORCED), '--service', 'orders');
    assert.equal(published.code, 0, published.stderr);
    for (const m of fleet.members) await m.sidecar.waitForLog((l) => l.msg === 'ready' || (l.msg === 'serving' && l.ready === true), 10_000);
    baseline = await send();
  });
  after(async () => {
    await fleet?.close();
    await nats?.stop();
  });

  it('answers exactly as before with a shadow, and the fleet-wide divergence equals an offline replay', async () => {
    const shadowFile = write('shadow.yaml', SHADOW);
    const published = await fleet.ctl('publish', 'policy', shadowFile, '--service', 'orders', '--shadow');
    assert.equal(published.code, 0, published.stderr);
    await applied('shadow.orders', 1);

    const answers = await send();
    const changed = answers.flatMap((a, i) => (a === baseline[i] ? [] : [i]));
    assert.deepEqual(changed, [], `answers changed with a shadow, first: ${answers[changed[0]]} vs ${baseline[changed[0]]}`);

    const report = await fleet.ctl('shadow', 'report', '--service', 'orders', '--expect', '3', '--json');
    assert.equal(report.code, 0, report.stdout + report.stderr);
    const fleetTable = (JSON.parse(report.stdout) as { totals: { evaluated: number; divergent: number; pairs: PairJson[] } }).totals;

    const corpusFile = write('corpus.jsonl', requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const replay = await fleet.ctl(
      'policy',
      'replay',
      '--current',
      join(fleet.dir, 'enforced.yaml'),
      '--policy',
      shadowFile,
      '--requests',
      corpusFile,
      '--json',
    );
    assert.equal(replay.code, 1, `divergent Checks exist, so replay exits 1: ${replay.stderr}`);
    const offline = JSON.parse(replay.stdout) as { evaluated: number; divergent: number; pairs: PairJson[] };

    assert.ok(fleetTable.divergent > 1000, `the shadow decides many Checks differently (${fleetTable.divergent})`);
    assert.equal(fleetTable.evaluated, offline.evaluated);
    assert.equal(fleetTable.divergent, offline.divergent);
    assert.deepEqual(pairKeys(fleetTable.pairs), pairKeys(offline.pairs));
    // Every divergence the corpus was built to cause is there.
    const divergent = pairKeys(fleetTable.pairs.filter((p) => p.enforced !== p.shadow)).join('\n');
    for (const expected of [
      /deny default_deny null → allow allowed_by_rule read-orders/,
      /allow allowed_by_rule create-orders → deny missing_permission create-orders/,
      /deny default_deny null → allow allowed_by_rule read-invoices/,
    ])
      assert.match(divergent, expected);
  });

  it('a shadow that denies everything, with a condition failing at run time, changes no answer', async () => {
    const published = await fleet.ctl('publish', 'policy', write('hostile.yaml', HOSTILE_SHADOW), '--service', 'orders', '--shadow');
    assert.equal(published.code, 0, published.stderr);
    await applied('shadow.orders', 2);
    const answers = await send(3_000);
    assert.deepEqual(answers, baseline.slice(0, 3_000));
    const report = (
      JSON.parse((await fleet.ctl('shadow', 'report', '--service', 'orders', '--expect', '3', '--json')).stdout) as {
        totals: { divergent: number; conditionErrors: number; pairs: PairJson[] };
      }
    ).totals;
    assert.ok(report.divergent > 0 && report.conditionErrors > 0, JSON.stringify({ divergent: report.divergent, conditionErrors: report.conditionErrors }));
    assert.ok(report.pairs.every((p) => p.shadow === 'deny'));
  });

  it('policy unused names exactly the rules, grants and scopes the corpus never used', async () => {
    const unused = await fleet.ctl('policy', 'unused', '--service', 'orders', '--expect', '3', '--json');
    assert.equal(unused.code, 0, unused.stdout + unused.stderr);
    const totals = (
      JSON.parse(unused.stdout) as {
        usage: {
          rules: Array<{ name: string; action: string; hits: number }>;
          grants: Array<{ role: string; permission: string; hits: number }>;
          scopes: Array<{ scope: string; hits: number }>;
        };
      }
    ).usage;
    const zero = <T extends { hits: number }>(items: T[]) => items.filter((x) => x.hits === 0);
    assert.deepEqual(
      zero(totals.rules).map((r) => r.name),
      ['admin-everything'],
    );
    assert.deepEqual(
      zero(totals.grants).map((g) => `${g.role}:${g.permission}`),
      ['admin:orders:*'],
    );
    assert.deepEqual(zero(totals.scopes), []);
  });

  it('promote makes the shadow the enforced policy on all 3 and clears the shadow', async () => {
    // Back to the shadow under test, then promote it.
    assert.equal((await fleet.ctl('publish', 'policy', join(fleet.dir, 'shadow.yaml'), '--service', 'orders', '--shadow')).code, 0);
    await applied('shadow.orders', 3);
    const promoted = await fleet.ctl('policy', 'promote', '--service', 'orders');
    assert.equal(promoted.code, 0, promoted.stderr);
    await applied('policy.orders', 2);
    await applied('shadow.orders', 4);
    const invoice = envoyRequest({ path: '/api/invoices/7', headers: { authorization: `Bearer ${minterFor().mint({ scope: 'invoices:read' })}` } });
    for (const m of fleet.members) assert.equal((await m.client.check(invoice)).status.code, 0, `${m.instance} enforces the promoted policy`);
    const report = await fleet.ctl('shadow', 'report', '--service', 'orders', '--expect', '3', '--json');
    assert.equal(report.code, 1, 'no sidecar holds a shadow after promote');
    assert.equal((JSON.parse(report.stdout) as { totals: { evaluated: number } }).totals.evaluated, 0);
  });
});
