import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authzctlWith, type Run } from '../../testkit/authzctl.js';
import { denyBody, EnvoyClient, envoyRequest, headerOf, type CheckResult } from '../../testkit/envoy-client.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy } from '../../testkit/sidecar-dir.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { apiKeyId } from '../../src/keys/index.js';

/** API key callers read orders; the policy comes from a file, the key set from the bucket. */
const POLICY = ordersPolicy({ issuers: ['api-key'] });

describe('API keys over the control plane: a real nats-server, authzctl and the sidecar', () => {
  let nats: NatsServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let configPath: string;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let file: string;
  let alice: string;
  let bob: string;
  let carol: string;

  const ctl = async (...args: string[]): Promise<Run> => authzctlWith(env, ...args);
  const create = async (subject: string): Promise<string> => {
    const run = await ctl('apikey', 'create', '--file', file, '--subject', subject);
    assert.equal(run.code, 0, run.stderr);
    return run.stdout.trim();
  };
  const check = (key: string): Promise<CheckResult> => client.check(envoyRequest({ path: '/api/orders', headers: { 'x-api-key': key } }));
  /** Checks until `done` holds; the control plane promises well under a second. */
  const converge = async (key: string, done: (r: CheckResult) => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const result = await check(key);
      if (done(result)) return;
      if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(denyBody(result))}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const allowed = (r: CheckResult) => r.status.code === 0;
  const reason = (code: string) => (r: CheckResult) => denyBody(r).reason === code;

  before(async () => {
    nats = await startNatsServer();
    dir = tempDir();
    env = { AUTHZ_NATS_URL: nats.url, AUTHZ_SIGNING_KEY: join(dir, 'cp.jwk.json') };
    const keygen = await ctl('keygen', '--out', join(dir, 'cp.jwk.json'), '--kid', 'cp-test');
    assert.equal(keygen.code, 0, keygen.stderr);
    mkdirSync(join(dir, 'sidecar'));
    writeFileSync(join(dir, 'sidecar', 'policy.yaml'), POLICY);
    configPath = writeConfig(
      join(dir, 'sidecar'),
      `service: orders
issuers:
  - { name: idp, issuer: https://idp.example.test, audiences: [orders], algorithms: [ES256], keys: { file: ${EXAMPLES}/keys/idp.jwks.json } }
apiKeys:
  name: partners
  keys: { nats: true }
policy: { file: policy.yaml }
nats:
  servers: ["${nats.url}"]
  signers: [../cp.pub.jwk.json]
  cacheDir: cache
  instance: orders-0
  statusIntervalSeconds: 1
log: { level: debug, allows: true }
`,
    );
    file = join(dir, 'partners.json');
    alice = await create('alice');
    bob = await create('bob');
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
  });

  after(async () => {
    client?.close();
    await sidecar?.stop();
    await nats?.stop();
  });

  it('is not ready, and answers keys_unavailable, until the API key set arrives', async () => {
    const readyz = await fetch(`${sidecar.adminUrl}/readyz`);
    assert.equal(readyz.status, 503);
    assert.deepEqual(((await readyz.json()) as { reasons: string[] }).reasons, ['API keys not loaded: partners']);
    const result = await check(alice);
    assert.equal(denyBody(result).reason, 'keys_unavailable');
    assert.equal(result.denied_response?.status.code, 'ServiceUnavailable');
  });

  it('publish apikeys refuses a file holding a key, and names the set with --name', async () => {
    writeFileSync(join(dir, 'leaky.json'), readFileSync(file, 'utf8').replace('"subject"', `"key": "${alice}", "subject"`));
    const leaky = await ctl('publish', 'apikeys', join(dir, 'leaky.json'), '--name', 'partners');
    assert.equal(leaky.code, 2);
    assert.match(leaky.stderr, /^authzctl: .*leaky\.json: keys\[0\]\.key: unknown field \(store the hash only: .*\)\n$/);
    assert.ok(!leaky.stderr.includes(alice));
    const noName = await ctl('publish', 'apikeys', file);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /--name NAME is required for publish apikeys/);
  });

  it('applies a published set: the key allows, and status lists apikeys.partners', async () => {
    const published = await ctl('publish', 'apikeys', file, '--name', 'partners');
    assert.equal(published.code, 0, published.stderr);
    assert.equal(published.stdout, 'published apikeys.partners revision 1\n');
    await converge(alice, allowed, 'alice allowed');
    const result = await check(alice);
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-subject'), 'alice');
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-issuer'), 'api-key');
    assert.equal((await fetch(`${sidecar.adminUrl}/readyz`)).status, 200);

    const status = await ctl('status', '--expect', '1', '--wait', '1500ms');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /^orders\s+orders-0\s+yes\s+yes\s+yes\s+.*apikeys\.partners 1\/1/m);
    const history = await ctl('history', 'apikeys.partners', '--json');
    assert.equal(history.code, 0, history.stderr);
    assert.deepEqual(
      (JSON.parse(history.stdout) as Array<{ revision: number }>).map((r) => r.revision),
      [1],
    );
  });

  it('revokes by subject and by key id at once, without touching the set', async () => {
    await converge(bob, allowed, 'bob allowed');
    const bySubject = await ctl('revoke', '--sub', 'alice', '--until', '1h');
    assert.equal(bySubject.code, 0, bySubject.stderr);
    await converge(alice, reason('token_revoked'), 'alice revoked');
    assert.equal((await check(bob)).status.code, 0, 'bob is another subject');
    const byId = await ctl('revoke', '--jti', apiKeyId(bob)!, '--until', '1h');
    assert.equal(byId.code, 0, byId.stderr);
    await converge(bob, reason('token_revoked'), 'bob revoked by key id');
  });

  it('removes a key with the next revision: the new set replaces the old one whole', async () => {
    carol = await create('carol');
    const removed = await ctl('apikey', 'remove', '--file', file, '--id', apiKeyId(alice)!);
    assert.equal(removed.code, 0, removed.stderr);
    const published = await ctl('publish', 'apikeys', file, '--name', 'partners');
    assert.equal(published.stdout, 'published apikeys.partners revision 2\n');
    await converge(carol, allowed, 'carol allowed');
    await converge(alice, reason('api_key_unknown'), 'alice gone');
  });

  it('serves the last good set from its cache after a restart with NATS down', async () => {
    const entries = JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ subject: string }> };
    assert.deepEqual(
      entries.keys.map((k) => k.subject),
      ['bob', 'carol'],
    );
    await nats.stop();
    client.close();
    await sidecar.stop();
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
    const applied = await sidecar.waitForLog((l) => l.msg === 'control document applied' && l.kv_key === 'apikeys.partners');
    assert.equal(applied.source, 'cache');
    assert.equal(applied.revision, 2);
    assert.equal((await check(carol)).status.code, 0, 'carol, from the cached revision 2');
    assert.equal(denyBody(await check(alice)).reason, 'api_key_unknown', 'alice stays removed');
    assert.equal(denyBody(await check(bob)).reason, 'token_revoked', 'and bob revoked: the revocations are cached too');
    const text = sidecar.logs.map((l) => JSON.stringify(l)).join('\n');
    for (const key of [alice, bob, carol]) assert.ok(!text.includes(key.slice(20)), 'no key in the log');
  });
});
