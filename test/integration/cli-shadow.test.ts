import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type KV, type NatsConnection } from 'nats';
import { parse } from 'yaml';
import { signDocument, verifyDocument } from '../../src/control/signed.js';
import { loadSigners, loadSigningKey } from '../../src/control/signers.js';
import type { DivergencePair, PolicyReport } from '../../src/policy/index.js';
import { authzctl, type Run } from '../../testkit/authzctl.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { FIXTURES } from '../../testkit/paths.js';
import { policyReport, reportResponders, shadowReport, type ReportResponders } from '../../testkit/policy-reports.js';

const POLICY = `${FIXTURES}/policies/orders.yaml`;
const NEXT = `${FIXTURES}/policies/orders-shadow.yaml`;

function assertOneLineError(run: Run, pattern: RegExp, code = 2): void {
  assert.equal(run.code, code, run.stdout + run.stderr);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^authzctl: /);
  assert.match(run.stderr, pattern);
}

function assertOk(run: Run, stdout: string): void {
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.stdout, stdout);
}

const sample = (requestId: string, path: string, subject: string | null) => ({ requestId, method: 'GET', path, subject, at: '2026-12-01T08:45:00.000Z' });

/** What the shadow (orders-shadow) decided against the enforced policy on one sidecar. */
function pairs(lostAllows: number, newAllows: number, agreed: number): DivergencePair[] {
  const all: DivergencePair[] = [
    {
      enforced: 'allow',
      enforcedReason: 'allowed_by_rule',
      enforcedRule: 'support-user',
      shadow: 'deny',
      shadowReason: 'default_deny',
      shadowRule: null,
      count: lostAllows,
      samples: [sample('r-1', '/api/orders/7.json', 'user-support')],
    },
    {
      enforced: 'deny',
      enforcedReason: 'default_deny',
      enforcedRule: null,
      shadow: 'allow',
      shadowReason: 'allowed_by_rule',
      shadowRule: 'read-orders',
      count: newAllows,
      samples: [sample('r-2', '/api/orders/9', 'mallory')],
    },
    {
      enforced: 'allow',
      enforcedReason: 'allowed_by_rule',
      enforcedRule: 'health',
      shadow: 'allow',
      shadowReason: 'allowed_by_rule',
      shadowRule: 'health',
      count: agreed,
      samples: [],
    },
  ];
  return all.filter((p) => p.count > 0);
}

/** A report of the orders policy with these hits for its rules, grants and scopes (in orders.yaml's order). */
function usage(instance: string, hits: { rules: number[]; grants: number[]; scopes: number[] }, overrides: Partial<PolicyReport> = {}): PolicyReport {
  const base = policyReport(instance, overrides);
  return {
    ...base,
    rules: base.rules.map((r, i) => ({ ...r, hits: hits.rules[i] })),
    grants: base.grants.map((g, i) => ({ ...g, hits: hits.grants[i] })),
    scopes: base.scopes.map((s, i) => ({ ...s, hits: hits.scopes[i] })),
  };
}

describe('authzctl shadow policies against nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  let cpKey: string;
  let cpPub: string;
  let nats: string[];

  const pub = () => [...nats, '--signing-key', cpKey];
  const revisionsOf = async (key: string) => {
    const run = await authzctl('history', key, ...nats, '--json');
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { revision: number }[]).map((r) => r.revision);
  };
  const documentOf = async (key: string, kind: 'policy' | 'shadow') =>
    verifyDocument((await kv.get(key))!.string(), await loadSigners([cpPub]), { kind, target: 'orders' });

  before(async () => {
    server = await startNatsServer();
    nats = ['--nats', server.url];
    nc = await connect({ servers: server.url });
    const dir = mkdtempSync(join(tmpdir(), 'cli-shadow-'));
    cpKey = join(dir, 'cp.jwk.json');
    cpPub = join(dir, 'cp.pub.jwk.json');
    const keygen = await authzctl('keygen', '--out', cpKey, '--kid', 'cp-1');
    assert.equal(keygen.code, 0, keygen.stderr);
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('prints --help for each command, and lists them under their group', async () => {
    for (const command of ['shadow report', 'shadow clear', 'policy promote', 'policy unused']) {
      const run = await authzctl(...command.split(' '), '--help');
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: authzctl ${command} --service NAME`));
    }
    const group = await authzctl('shadow', '--help');
    assert.equal(group.code, 0, group.stderr);
    assert.match(group.stdout, /^ {2}shadow report {2}.*\n {2}shadow clear {3}/m);
    assert.match((await authzctl('publish', '--help')).stdout, /--shadow {14}policy: publish as shadow\.<service> instead of policy\.<service>/);
  });

  describe('publish --shadow, shadow clear, policy promote', () => {
    it('publishes a shadow policy as shadow.<service>, validated like an enforced one', async () => {
      assertOk(await authzctl('publish', 'policy', POLICY, '--service', 'orders', ...pub()), 'published policy.orders revision 1\n');
      assertOk(await authzctl('publish', 'policy', NEXT, '--service', 'orders', '--shadow', ...pub()), 'published shadow.orders revision 1\n');
      kv = await nc.jetstream().views.kv('authz', { bindOnly: true });

      const history = await authzctl('history', 'shadow.orders', ...nats, '--signers', cpPub);
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout.trimEnd().split('\n')[1], /^\d+\s+PUT\s+\S+Z\s+1\s+shadow\/orders\s+cp-1\s+verified$/);
      assert.deepEqual((await documentOf('shadow.orders', 'shadow')).body, parse(readFileSync(NEXT, 'utf8')));

      assertOneLineError(
        await authzctl('publish', 'policy', `${FIXTURES}/policies/bad-path.yaml`, '--service', 'orders', '--shadow', ...pub()),
        /bad-path\.yaml:\d+:\d+: spec\.rules\[\d+\] \(third\)\.to\[0\]\.paths\[\d+\]: /,
      );
      assertOneLineError(
        await authzctl('publish', 'policy', NEXT, '--service', 'billing', '--shadow', ...pub()),
        /orders-shadow\.yaml: metadata\.service: is "orders" but --service is "billing"/,
      );
      assertOneLineError(
        await authzctl('publish', 'keys', 'deploy/examples/keys/idp.jwks.json', '--issuer', 'idp', '--shadow', ...pub()),
        /--service and --shadow apply to publish policy, not keys/,
      );
      assert.deepEqual(await revisionsOf('shadow.orders'), [1]);
      assert.deepEqual(await revisionsOf('policy.orders'), [1]);
    });

    it('clear publishes a signed null as the next shadow revision, and nothing when there is no shadow', async () => {
      assertOk(await authzctl('shadow', 'clear', '--service', 'orders', ...pub()), 'published shadow.orders revision 2 (clears the shadow)\n');
      const cleared = await documentOf('shadow.orders', 'shadow');
      assert.equal(cleared.revision, 2);
      assert.equal(cleared.body, null);

      assertOk(await authzctl('shadow', 'clear', '--service', 'orders', ...pub()), 'no shadow policy for orders: shadow.orders revision 2 already clears it\n');
      assertOk(await authzctl('shadow', 'clear', '--service', 'billing', ...pub()), 'no shadow policy for billing: shadow.billing was never published\n');
      assert.deepEqual(await revisionsOf('shadow.orders'), [1, 2]);
      assert.deepEqual(await revisionsOf('shadow.billing'), []);
      assertOneLineError(await authzctl('shadow', 'clear', ...pub()), /--service NAME is required/);
    });

    it('promote refuses, publishing nothing, when there is no shadow', async () => {
      assertOneLineError(
        await authzctl('policy', 'promote', '--service', 'orders', ...pub()),
        /^authzctl: nothing to promote: no shadow policy for orders: shadow\.orders revision 2 already clears it$/m,
      );
      assertOneLineError(
        await authzctl('policy', 'promote', '--service', 'billing', ...pub()),
        /nothing to promote: no shadow policy for billing: shadow\.billing was never published/,
      );
      assert.deepEqual(await revisionsOf('policy.orders'), [1]);
    });

    it('promote publishes the shadow as the next policy revision, then clears the shadow', async () => {
      assertOk(await authzctl('publish', 'policy', NEXT, '--service', 'orders', '--shadow', ...pub()), 'published shadow.orders revision 3\n');
      assertOk(
        await authzctl('policy', 'promote', '--service', 'orders', ...pub(), '--signers', cpPub),
        'published policy.orders revision 2 (shadow.orders revision 3, promoted)\npublished shadow.orders revision 4 (clears the shadow)\n',
      );
      const policy = await documentOf('policy.orders', 'policy');
      assert.equal(policy.revision, 2);
      assert.deepEqual(policy.body, parse(readFileSync(NEXT, 'utf8')));
      assert.equal((await documentOf('shadow.orders', 'shadow')).body, null);
      assert.deepEqual(await revisionsOf('shadow.orders'), [1, 2, 3, 4]);

      assertOneLineError(await authzctl('policy', 'promote', '--service', 'orders', ...pub()), /shadow\.orders revision 4 already clears it/);
      assert.deepEqual(await revisionsOf('policy.orders'), [1, 2]);
    });

    it("promote refuses a shadow the enforced policy could not be: another service's, or one that does not compile", async () => {
      const signingKey = await loadSigningKey(cpKey);
      const next = parse(readFileSync(NEXT, 'utf8')) as { metadata: { service: string }; spec: { rules: { to?: { paths: string[] }[] }[] } };
      const put = async (revision: number, body: unknown) =>
        kv.put('shadow.orders', await signDocument({ kind: 'shadow', target: 'orders', revision, issuedAt: Math.floor(Date.now() / 1000), body }, signingKey));

      await put(5, { ...next, metadata: { ...next.metadata, service: 'billing' } });
      assertOneLineError(
        await authzctl('policy', 'promote', '--service', 'orders', ...pub()),
        /^authzctl: shadow\.orders revision 5: metadata\.service: is "billing" but --service is "orders"$/m,
      );
      const broken = structuredClone(next);
      broken.spec.rules[0].to![0].paths = ['no-slash'];
      await put(6, broken);
      assertOneLineError(await authzctl('policy', 'promote', '--service', 'orders', ...pub()), /^authzctl: shadow\.orders revision 6: spec\.rules\[0\]/m);
      assert.deepEqual(await revisionsOf('policy.orders'), [1, 2]);

      assertOk(await authzctl('shadow', 'clear', '--service', 'orders', ...pub()), 'published shadow.orders revision 7 (clears the shadow)\n');
    });
  });

  const ask = (command: 'shadow report' | 'policy unused', ...args: string[]) =>
    authzctl(...command.split(' '), '--service', 'orders', ...nats, '--wait', '400ms', ...args);

  describe('shadow report against report responders', () => {
    let responders: ReportResponders;

    before(async () => {
      responders = await reportResponders(server.url, 'authz.report.orders');
    });

    after(async () => {
      await responders?.close();
    });

    it('exit 2, one line, when no sidecar answers', async () => {
      assertOneLineError(await ask('shadow report'), /^authzctl: no sidecar answered on authz\.report\.orders within 400ms$/m);
      assertOneLineError(
        await ask('policy unused', '--expect', '3'),
        /^authzctl: no sidecar answered on authz\.report\.orders within 400ms \(0 of 3 expected\)$/m,
      );
      assertOneLineError(await ask('shadow report', '--top', '0'), /--top: "0" must be a whole number of at least 1/);
      assertOneLineError(await authzctl('policy', 'unused', ...nats), /--service NAME is required/);
    });

    it('shadow report sums the sidecars that hold the same shadow', async () => {
      await responders.add(policyReport('orders-1', { checks: 120, shadow: shadowReport('3', pairs(7, 2, 100)) }));
      await responders.add(policyReport('orders-2', { checks: 200, shadow: shadowReport('3', pairs(3, 0, 188)) }));

      const run = await ask('shadow report', '--expect', '2');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(
        run.stdout,
        [
          '2 of 2 expected sidecars reported',
          '',
          'INSTANCE  SHADOW             SINCE                     CHECKS  DIVERGENT',
          'orders-1  orders revision 3  2026-12-01T08:30:00.000Z  109     9',
          'orders-2  orders revision 3  2026-12-01T08:30:00.000Z  191     3',
          '',
          '300 Checks: 12 decided differently (4.0 %), 0 shadow evaluation errors, 0 condition errors',
          '',
          'ENFORCED            SHADOW             CHECKS  SAMPLE',
          'allow support-user  deny default_deny  10      GET /api/orders/7.json (user-support, request r-1)',
          'deny default_deny   allow read-orders  2       GET /api/orders/9 (mallory, request r-2)',
          '',
        ].join('\n'),
      );

      const top = await ask('shadow report', '--top', '1');
      assert.equal(top.code, 0, top.stderr);
      assert.match(
        top.stdout,
        /\nallow support-user\s+deny default_deny\s+10\s+GET \/api\/orders\/7\.json \(user-support, request r-1\)\n… and 1 more divergent pairs/,
      );

      const json = await ask('shadow report', '--json', '--expect', '3');
      assert.equal(json.code, 1, json.stderr);
      const body = JSON.parse(json.stdout);
      assert.deepEqual(
        { ...body, sidecars: body.sidecars.length, totals: { ...body.totals, pairs: body.totals.pairs.map((p: DivergencePair) => p.count) } },
        {
          service: 'orders',
          expected: 3,
          answered: 2,
          missing: 1,
          extra: 0,
          malformed: [],
          sidecars: 2,
          warnings: [],
          totals: { evaluated: 300, divergent: 12, errors: 0, conditionErrors: 0, overflow: 0, pairs: [10, 2, 288] },
        },
      );
      assert.deepEqual(body.sidecars[0], {
        instance: 'orders-1',
        startedAt: '2026-12-01T08:00:00.000Z',
        at: '2026-12-01T09:00:00.000Z',
        policy: { name: 'orders', revision: '7' },
        checks: 120,
        shadow: { name: 'orders', revision: '3', since: '2026-12-01T08:30:00.000Z', evaluated: 109, divergent: 9, errors: 0, conditionErrors: 0, overflow: 0 },
      });
    });

    it('shadow report exits 1 on an --expect mismatch, differing shadows, a sidecar without one, or a malformed reply', async () => {
      const missing = await ask('shadow report', '--expect', '3');
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stdout, /^2 of 3 expected sidecars reported: 1 missing \(down, cut off from NATS or slower than --wait/);

      await responders.add(policyReport('orders-3', { checks: 50, shadow: shadowReport('2', pairs(1, 0, 40)) }));
      await responders.add(policyReport('orders-4', { checks: 10 }));
      await responders.add('not json');
      await responders.add(JSON.stringify({ ...policyReport('orders-6'), rules: [{ name: 'health', action: 'ALLOW', hits: 'many' }] }));
      await responders.add(JSON.stringify(policyReport('billing-1', { service: 'billing' })));

      const run = await ask('shadow report', '--expect', '7');
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const lines = run.stdout.split('\n');
      assert.deepEqual(lines.slice(0, 2), ['7 of 7 expected sidecars reported', '3 of those replies are not a usable report, left out of what follows:']);
      // Replies are numbered in the order they arrive, which the responders do not decide.
      assert.deepEqual(
        lines
          .slice(2, 5)
          .map((line) => line.replace(/^ {2}reply \d+/, '  reply N'))
          .sort(),
        [
          '  reply N (instance billing-1): service: is "billing", not "orders"',
          '  reply N (instance orders-6): rules[0].hits: must be a number',
          '  reply N: (document): is not JSON',
        ],
      );
      assert.match(run.stdout, /\norders-3\s+orders revision 2\s+\S+\s+41\s+1\norders-4\s+none\s+-\s+-\s+-\n/);
      assert.match(
        run.stdout,
        /\nwarning: the sidecars hold different shadow revisions, and the sums mix them: orders revision 3 \(orders-1, orders-2\), orders revision 2 \(orders-3\)\n/,
      );
      assert.match(run.stdout, /\nwarning: 1 of 4 sidecars hold no shadow, and their Checks are not in the sums: orders-4\n/);
      assert.match(run.stdout, /\n341 Checks: 13 decided differently \(3\.8 %\)/);

      const json = JSON.parse((await ask('shadow report', '--json')).stdout);
      assert.equal(json.answered, 7);
      assert.deepEqual(
        json.malformed.map((m: { instance: string | null; problem: string }) => [m.instance, m.problem]).sort(),
        [
          [null, '(document): is not JSON'],
          ['billing-1', 'service: is "billing", not "orders"'],
          ['orders-6', 'rules[0].hits: must be a number'],
        ].sort(),
      );
      assert.equal(json.warnings.length, 2);
    });
  });

  describe('policy unused against report responders', () => {
    let responders: ReportResponders;

    before(async () => {
      responders = await reportResponders(server.url, 'authz.report.orders');
    });

    after(async () => {
      await responders?.close();
    });

    it('lists the ALLOW rules, grants and scopes no sidecar used, and when each started counting', async () => {
      await responders.add(usage('orders-1', { rules: [3, 100, 0, 0, 17], grants: [0, 100], scopes: [100] }, { checks: 120 }));
      await responders.add(
        usage('orders-2', { rules: [0, 150, 0, 4, 46], grants: [0, 150], scopes: [150] }, { checks: 200, startedAt: '2026-12-01T08:10:00.000Z' }),
      );

      const run = await ask('policy unused');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(
        run.stdout,
        [
          '2 sidecars reported (--expect N to check that none is missing)',
          '',
          'INSTANCE  POLICY             COUNTED SINCE             CHECKS',
          'orders-1  orders revision 7  2026-12-01T08:00:00.000Z  120',
          'orders-2  orders revision 7  2026-12-01T08:10:00.000Z  200',
          '',
          'ALLOW rules never used (1 of 4):',
          '  checkout-service',
          'role grants never used (1 of 2):',
          '  admin → orders:*',
          'required scopes: every one of 1 used',
          '',
        ].join('\n'),
      );

      const json = await ask('policy unused', '--json', '--expect', '2');
      assert.equal(json.code, 0, json.stderr);
      const body = JSON.parse(json.stdout);
      assert.deepEqual(body.unused, { rules: ['checkout-service'], grants: [{ role: 'admin', permission: 'orders:*' }], scopes: [] });
      assert.deepEqual(
        body.usage.rules.map((r: { name: string; hits: number }) => [r.name, r.hits]),
        [
          ['block-legacy', 3],
          ['read-orders', 250],
          ['checkout-service', 0],
          ['support-user', 4],
          ['health', 63],
        ],
      );
      assert.deepEqual(
        { ...body, sidecars: body.sidecars.map((s: { instance: string }) => s.instance), unused: 'above', usage: 'above' },
        {
          service: 'orders',
          expected: 2,
          answered: 2,
          missing: 0,
          extra: 0,
          malformed: [],
          sidecars: ['orders-1', 'orders-2'],
          warnings: [],
          unused: 'above',
          usage: 'above',
        },
      );
    });

    it('exits 1 when the sidecars hold different policy revisions, or more answer than expected', async () => {
      await responders.add(usage('orders-3', { rules: [0, 0, 0, 0, 0], grants: [0, 0], scopes: [0] }, { policy: { name: 'orders', revision: '8' } }));
      const run = await ask('policy unused', '--expect', '2');
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, /^3 sidecars reported, 2 expected: 1 more than expected/);
      assert.match(run.stdout, /\norders-3\s+orders revision 8\s+2026-12-01T08:00:00\.000Z\s+0\n/);
      assert.match(
        run.stdout,
        /\nwarning: the sidecars do not all hold the same policy revision, and the lists mix them: orders revision 7 \(orders-1, orders-2\), orders revision 8 \(orders-3\)\n/,
      );
      assert.equal((await ask('policy unused', '--expect', '3')).code, 1);
    });
  });
});
