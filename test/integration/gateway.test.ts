/**
 * Gateway mode end to end: the real sidecar binary holding the policies of several services,
 * driven with Envoy's protos. The service of each Check comes from the route's
 * `context_extensions.service` or from the host; each service decides with its own policy,
 * realm and counters; an unknown service is denied; one service's policy changes without
 * touching the others. Over a real nats-server: each service's policy and shadow from its own
 * signed key, `authzctl status` showing each key, the shadow report and the decision log per
 * service.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { CONVENTIONS, ForwardAuthClient } from '../../testkit/forward-auth.js';
import { EnvoyClient, denyBody, envoyRequest, headerOf, httpStatus, type CheckResult, type RequestShape } from '../../testkit/envoy-client.js';
import { versionedPolicy } from '../../testkit/fleet.js';
import { authzctlWith } from '../../testkit/authzctl.js';
import { createBucket, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { replaceFile, startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { CALLER_CLAIMS, mint } from '../../testkit/tokens.js';
import { until } from '../../testkit/wait.js';

const ISSUER = `issuers:
  - name: idp
    issuer: https://idp.example.test
    audiences: [orders]
    algorithms: [ES256]
    keys: { file: keys/idp.jwks.json }
`;

/** A directory with the example keys, the given files and config. */
function gatewayDir(config: string, files: Record<string, string>): { dir: string; configPath: string } {
  const dir = tempDir();
  cpSync(join(EXAMPLES, 'keys'), join(dir, 'keys'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, configPath: writeConfig(dir, config) };
}

/** Decision, HTTP status and reason of a Check's answer. */
function outcome(result: CheckResult): [string, number, string] {
  const allowed = result.status?.code === 0;
  return [allowed ? 'allow' : 'deny', allowed ? 200 : httpStatus(result), allowed ? 'allowed' : denyBody(result).reason];
}

async function metricsText(sidecar: SidecarProcess): Promise<string> {
  return (await fetch(`${sidecar.adminUrl}/metrics`)).text();
}

describe('gateway mode: services chosen by context_extensions.service, policies from files', () => {
  let dir: string;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let reader: string;
  const check = (service: string | null, path: string, shape: RequestShape = {}) =>
    client.check(envoyRequest({ path, ...shape, contextExtensions: service === null ? {} : { service, ...shape.contextExtensions } }));

  before(async () => {
    ({ dir } = gatewayDir(
      `service: ingress
${ISSUER}gateway:
  services:
    - { name: orders, policy: { file: orders.yaml } }
    - { name: billing, policy: { file: billing.yaml } }
watch: { intervalMs: 100 }
log: { level: info }
http: { address: "127.0.0.1:0" }
`,
      { 'orders.yaml': versionedPolicy(1, 'orders'), 'billing.yaml': versionedPolicy(2, 'billing') },
    ));
    sidecar = await startSidecar(join(dir, 'config.yaml'));
    client = new EnvoyClient(sidecar.grpcAddress);
    reader = `Bearer ${await mint(CALLER_CLAIMS)}`;
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it('says what it serves in the serving line, and is ready once every service has its policy', async () => {
    const serving = sidecar.logs.find((l) => l.msg === 'serving')!;
    assert.deepEqual(
      [serving.gateway, serving.protected_services, serving.select_by, serving.protected_service],
      ['ingress', ['orders', 'billing'], 'contextExtension', undefined],
    );
    const ready = await fetch(`${sidecar.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    const loaded = sidecar.logs.filter((l) => l.msg === 'policy loaded').map((l) => [l.protected_service, l.policy]);
    assert.deepEqual(loaded.sort(), [
      ['billing', 'billing'],
      ['orders', 'orders'],
    ]);
  });

  it("decides each Check with the named service's policy, and denies a Check for no or an unknown service", async () => {
    assert.deepEqual(outcome(await check('orders', '/v1/a')), ['allow', 200, 'allowed']);
    assert.deepEqual(outcome(await check('billing', '/v2/a')), ['allow', 200, 'allowed']);
    const elsewhere = await check('billing', '/v1/a');
    assert.deepEqual(outcome(elsewhere), ['deny', 401, 'credentials_missing'], "orders' rule is not billing's");
    assert.equal(headerOf(elsewhere.denied_response?.headers, 'www-authenticate'), 'Bearer realm="billing"');
    const line = await sidecar.waitForLog((l) => l.msg === 'deny' && l.request_id === denyBody(elsewhere).request_id);
    assert.deepEqual([line.protected_service, line.reason, line.path], ['billing', 'credentials_missing', '/v1/a']);
    assert.deepEqual(outcome(await check('orders', '/v2/a')), ['deny', 401, 'credentials_missing']);
    for (const service of [null, 'shipping', 'Orders', 'ingress'])
      assert.deepEqual(outcome(await check(service, '/v1/a')), ['deny', 403, 'unknown_service'], String(service));
    // A token is checked the same for every service; the rule that lets it in is the service's own.
    for (const service of ['orders', 'billing'])
      assert.deepEqual(outcome(await check(service, '/api/orders/7', { headers: { authorization: reader } })), ['allow', 200, 'allowed'], service);
  });

  it('over HTTP mode, the service the endpoint URL names decides, in every convention', async () => {
    const http = new ForwardAuthClient(sidecar.httpUrl!);
    try {
      for (const convention of CONVENTIONS) {
        const answer = async (service: string | undefined, path: string) => {
          const a = await http.check(convention, { method: 'GET', path, host: 'gw.example.test', service });
          return [a.status, a.headers['x-authz-reason']];
        };
        assert.deepEqual(await answer('billing', '/v2/a'), [200, 'allowed_by_rule'], convention);
        assert.deepEqual(await answer('orders', '/v2/a'), [401, 'credentials_missing'], convention);
        assert.deepEqual(await answer(undefined, '/v2/a'), [403, 'unknown_service'], convention);
        assert.deepEqual(await answer('shipping', '/v1/a'), [403, 'unknown_service'], convention);
      }
    } finally {
      http.close();
    }
  });

  it('counts per service: authz_checks_total and authz_policy_info carry a service label', async () => {
    const text = await metricsText(sidecar);
    assert.match(text, /^authz_checks_total\{service="orders",decision="allow",reason="allowed_by_rule"\} [1-9]/m);
    assert.match(text, /^authz_checks_total\{service="billing",decision="deny",reason="credentials_missing"\} [1-9]/m);
    assert.match(text, /^authz_checks_total\{service="ingress",decision="deny",reason="unknown_service"\} 10$/m, 'four over gRPC, two per HTTP convention');
    assert.match(text, /^authz_policy_info\{service="orders",name="orders",revision="[^"]+"\} 1$/m);
    assert.match(text, /^authz_policy_info\{service="billing",name="billing",revision="[^"]+"\} 1$/m);
  });

  it("a changed policy file changes that service alone; a refused one leaves the service's last good policy", async () => {
    const revision = (text: string, service: string) =>
      new RegExp(`^authz_policy_info\\{service="${service}",name="[^"]+",revision="([^"]+)"`, 'm').exec(text)![1];
    const before = await metricsText(sidecar);
    replaceFile(join(dir, 'orders.yaml'), versionedPolicy(3, 'orders'));
    await until(
      'orders opens /v3',
      () =>
        sidecar.logs.some(
          (l) =>
            l.msg === 'policy loaded' &&
            l.protected_service === 'orders' &&
            l.policy === 'orders' &&
            l.rules === 2 &&
            l.revision !== revision(before, 'orders'),
        ),
      5_000,
    );
    assert.deepEqual(outcome(await check('orders', '/v3/a')), ['allow', 200, 'allowed']);
    assert.deepEqual(outcome(await check('orders', '/v1/a')), ['deny', 401, 'credentials_missing']);
    assert.deepEqual(outcome(await check('billing', '/v3/a')), ['deny', 401, 'credentials_missing']);
    const after = await metricsText(sidecar);
    assert.notEqual(revision(after, 'orders'), revision(before, 'orders'));
    assert.equal(revision(after, 'billing'), revision(before, 'billing'), 'billing untouched');

    // billing's file now holds orders' policy: refused, billing keeps its own.
    replaceFile(join(dir, 'billing.yaml'), versionedPolicy(4, 'orders'));
    const rejected = await sidecar.waitForLog((l) => l.msg === 'policy rejected; keeping the previous policy', 5_000);
    assert.deepEqual([rejected.protected_service, rejected.code], ['billing', 'policy_wrong_service']);
    assert.deepEqual(outcome(await check('billing', '/v2/a')), ['allow', 200, 'allowed']);
    assert.match(await metricsText(sidecar), /^authz_policy_rejections_total\{service="billing"\} 1$/m);
  });
});

describe('gateway mode: services chosen by host', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;

  before(async () => {
    const { configPath } = gatewayDir(
      `service: edge
${ISSUER}gateway:
  selectBy: host
  services:
    - { name: orders, hosts: [orders.example.test, "*.orders.example.test"], policy: { file: orders.yaml } }
    - { name: billing, hosts: [billing.example.test], policy: { file: billing.yaml } }
`,
      { 'orders.yaml': versionedPolicy(1, 'orders'), 'billing.yaml': versionedPolicy(2, 'billing') },
    );
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it("each host is its service's; the route's context extension is not consulted", async () => {
    const cases: Array<[string, string, [string, number, string]]> = [
      ['orders.example.test', '/v1/a', ['allow', 200, 'allowed']],
      ['ORDERS.example.test:8443', '/v1/a', ['allow', 200, 'allowed']],
      ['eu.orders.example.test', '/v1/a', ['allow', 200, 'allowed']],
      ['orders.example.test', '/v2/a', ['deny', 401, 'credentials_missing']],
      ['billing.example.test', '/v2/a', ['allow', 200, 'allowed']],
      ['billing.example.test', '/v1/a', ['deny', 401, 'credentials_missing']],
      ['eu.billing.example.test', '/v2/a', ['deny', 403, 'unknown_service']],
      ['example.test', '/v1/a', ['deny', 403, 'unknown_service']],
      ['orders.example.test.evil.test', '/v1/a', ['deny', 403, 'unknown_service']],
    ];
    for (const [host, path, expected] of cases)
      assert.deepEqual(outcome(await client.check(envoyRequest({ host, path, contextExtensions: { service: 'billing' } }))), expected, `${host}${path}`);
  });
});

describe('gateway mode: a config or policy mistake is one line naming the service', () => {
  it('a policy file of another service stops the start, on its gateway.services field', async () => {
    const { configPath } = gatewayDir(
      `service: ingress
${ISSUER}gateway:
  services:
    - { name: orders, policy: { file: orders.yaml } }
    - { name: billing, policy: { file: billing.yaml } }
`,
      { 'orders.yaml': versionedPolicy(1, 'orders'), 'billing.yaml': versionedPolicy(1, 'orders') },
    );
    await assert.rejects(startSidecar(configPath), (error: Error) => {
      assert.match(error.message, /billing\.yaml/);
      assert.match(error.message, /"billing"/);
      return true;
    });
    const { configPath: missing } = gatewayDir(
      `service: ingress
${ISSUER}gateway:
  services:
    - { name: orders, policy: { file: orders.yaml } }
    - { name: billing, policy: { file: nowhere.yaml } }
`,
      { 'orders.yaml': versionedPolicy(1, 'orders') },
    );
    await assert.rejects(startSidecar(missing), /config\.yaml:11:40: gateway\.services\[1\]\.policy\.file: cannot read nowhere\.yaml: no such file/);
  });
});

describe('gateway mode over NATS: each service its own signed policy and shadow keys', () => {
  let nats: NatsServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let listener: NatsConnection;
  const decisions: Array<{ on: string; service: string; reason: string }> = [];
  const ctl = (...args: string[]) => authzctlWith(env, ...args);
  const check = (service: string, path: string) => client.check(envoyRequest({ path, contextExtensions: { service } }));
  const publish = async (service: string, text: string, ...flags: string[]) => {
    const file = join(dir, `${service}-${Date.now()}.yaml`);
    writeFileSync(file, text);
    const run = await ctl('publish', 'policy', file, '--service', service, ...flags);
    assert.equal(run.code, 0, run.stderr);
  };

  before(async () => {
    nats = await startNatsServer();
    await createBucket(nats.url, 'authz');
    dir = tempDir();
    cpSync(join(EXAMPLES, 'keys'), join(dir, 'keys'), { recursive: true });
    env = { AUTHZ_NATS_URL: nats.url, AUTHZ_SIGNING_KEY: join(dir, 'cp.jwk.json') };
    const keygen = await ctl('keygen', '--out', join(dir, 'cp.jwk.json'), '--kid', 'cp-test');
    assert.equal(keygen.code, 0, keygen.stderr);
    writeFileSync(join(dir, 'static.yaml'), versionedPolicy(9, 'static'));
    writeConfig(
      dir,
      `service: ingress
${ISSUER}gateway:
  services:
    - { name: orders, policy: { nats: true } }
    - { name: billing, policy: { nats: true } }
    - { name: static, policy: { file: static.yaml } }
nats:
  servers: ["${nats.url}"]
  signers: [cp.pub.jwk.json]
  cacheDir: cache
  instance: gw-1
  statusIntervalSeconds: 1
  decisions: { enabled: true, sampleAllows: 1 }
`,
    );
    listener = await connect({ servers: nats.url });
    listener.subscribe('authz.decisions.>', {
      callback: (error, msg) => {
        if (error === null) decisions.push({ ...msg.json<{ service: string; reason: string }>(), on: msg.subject });
      },
    });
    sidecar = await startSidecar(join(dir, 'config.yaml'));
    client = new EnvoyClient(sidecar.grpcAddress);
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
    await listener?.close();
    await nats?.stop();
  });

  it('is not ready, naming each service without a policy, until both are published', async () => {
    const body = await (await fetch(`${sidecar.adminUrl}/readyz`)).json();
    assert.deepEqual(body.reasons, ['policy not loaded: orders', 'policy not loaded: billing']);
    assert.deepEqual(outcome(await check('static', '/v9/a')), ['allow', 200, 'allowed'], 'a service whose policy is here is served meanwhile');
    assert.deepEqual(outcome(await check('orders', '/v1/a')), ['deny', 503, 'not_ready']);
    await publish('orders', versionedPolicy(1, 'orders'));
    await publish('billing', versionedPolicy(2, 'billing'));
    await until('ready', () => sidecar.logs.some((l) => l.msg === 'ready'), 5_000);
    assert.deepEqual(outcome(await check('orders', '/v1/a')), ['allow', 200, 'allowed']);
    assert.deepEqual(outcome(await check('billing', '/v2/a')), ['allow', 200, 'allowed']);
    assert.deepEqual(outcome(await check('billing', '/v1/a')), ['deny', 401, 'credentials_missing']);
  });

  it("refuses a document signed for one service under another service's key", async () => {
    // Published for billing's key but written as orders' policy: refused, billing keeps revision 1.
    const file = join(dir, 'wrong.yaml');
    writeFileSync(file, versionedPolicy(5, 'orders'));
    const run = await ctl('publish', 'policy', file, '--service', 'billing');
    assert.notEqual(run.code, 0, 'authzctl refuses it before publishing');
    assert.deepEqual(outcome(await check('billing', '/v2/a')), ['allow', 200, 'allowed']);
  });

  it('authzctl status lists each service key with its revision against the bucket', async () => {
    await publish('orders', versionedPolicy(3, 'orders'));
    await until(
      'orders at /v3',
      () => sidecar.logs.some((l) => l.msg === 'control document applied' && l.kv_key === 'policy.orders' && l.revision === 2),
      5_000,
    );
    const run = await ctl('status', '--expect', '1', '--json');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const status = JSON.parse(run.stdout);
    const [row] = status.sidecars;
    assert.equal(row.service, 'ingress');
    const keys = Object.fromEntries(row.keys.map((k: { key: string; applied: number; latest: number | null }) => [k.key, [k.applied, k.latest]]));
    assert.deepEqual(keys['policy.orders'], [2, 2]);
    assert.deepEqual(keys['policy.billing'], [1, 1]);
    assert.deepEqual(keys['shadow.orders'], [0, null]);
    assert.deepEqual(keys['shadow.billing'], [0, null]);
    assert.equal(keys['policy.static'], undefined, 'a file-fed service has no key to follow');
  });

  it("a shadow for one service is that service's: reported on its subject, other services' answers untouched", async () => {
    await publish('billing', versionedPolicy(7, 'billing'), '--shadow');
    await until('billing shadow applied', () => sidecar.logs.some((l) => l.msg === 'control document applied' && l.kv_key === 'shadow.billing'), 5_000);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(outcome(await check('billing', '/v2/a')), ['allow', 200, 'allowed']);
      assert.deepEqual(outcome(await check('orders', '/v3/a')), ['allow', 200, 'allowed']);
    }
    const billing = await ctl('shadow', 'report', '--service', 'billing', '--expect', '1', '--json');
    const report = JSON.parse(billing.stdout);
    assert.equal(report.sidecars.length, 1, billing.stdout + billing.stderr);
    assert.deepEqual([report.totals.evaluated, report.totals.divergent], [5, 5], "billing's five Checks, all allowed where the shadow denies");
    const orders = await ctl('shadow', 'report', '--service', 'orders', '--expect', '1', '--json');
    const ordersReport = JSON.parse(orders.stdout);
    assert.equal(ordersReport.sidecars.length, 1, orders.stdout + orders.stderr);
    assert.equal(ordersReport.sidecars[0].shadow, null, 'orders has no shadow');
  });

  it("publishes each decision on its service's subject, and a refused service on the gateway's own", async () => {
    decisions.length = 0;
    await check('orders', '/nowhere');
    await check('billing', '/nowhere');
    await check('shipping', '/nowhere');
    await until('three decisions', () => decisions.length >= 3, 5_000);
    assert.deepEqual(decisions.map((d) => [d.on, d.service, d.reason]).sort(), [
      ['authz.decisions.billing', 'billing', 'credentials_missing'],
      ['authz.decisions.ingress', 'ingress', 'unknown_service'],
      ['authz.decisions.orders', 'orders', 'credentials_missing'],
    ]);
  });
});
