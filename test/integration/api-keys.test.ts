import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authzctl } from '../../testkit/authzctl.js';
import { denyBody, EnvoyClient, envoyRequest, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { runSidecar, replaceFile, startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy, writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';
import { until } from '../../testkit/wait.js';
import { apiKeyId, hashApiKey, generateApiKey } from '../../src/keys/index.js';

/** Partners with an API key read orders of their tenant; an admin key reaches /admin through its role. */
const POLICY = ordersPolicy({
  rules: `    - name: partners-read
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/partner-orders"] }]
      from: [{ issuers: ["api-key"] }]
      require: { scopes: ["orders:read"] }
      when: request.auth.claims.tenant == request.headers["x-tenant-id"]
    - name: admin
      action: ALLOW
      to: [{ paths: ["/admin/*"] }]
      require: { permission: "orders:admin" }
`,
}).replace('spec:\n', 'spec:\n  roles: { operator: ["orders:*"] }\n');

const KEY_FORMAT = /^ak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

describe('API keys from a file: the real sidecar and authzctl apikey', () => {
  let dir: string;
  let file: string;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  /** Every key created here: none may ever show up in a log line or an answer. */
  const keys: string[] = [];

  const create = async (...args: string[]): Promise<string> => {
    const run = await authzctl('apikey', 'create', '--file', file, ...args);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.deepEqual(lines.length, 2, 'one line: the key alone');
    assert.match(lines[0], KEY_FORMAT);
    assert.match(run.stderr, new RegExp(`^created API key ${apiKeyId(lines[0])} for .* the key above is shown once; the file holds only its hash\\n$`));
    keys.push(lines[0]);
    return lines[0];
  };
  const check = (path: string, headers: Record<string, string>): Promise<CheckResult> => client.check(envoyRequest({ path, headers }));
  const reasonOf = async (key: string, path = '/api/partner-orders') => denyBody(await check(path, { 'x-api-key': key, 'x-tenant-id': 'acme' })).reason;

  let partner: string;
  let operator: string;

  before(async () => {
    ({ dir } = writeSidecarDir({
      policy: POLICY,
      watchIntervalMs: 100,
      log: { allows: 'true' },
      extra: 'apiKeys: { keys: { file: api-keys.json } }\n',
    }));
    file = join(dir, 'api-keys.json');
    // The file does not exist yet: create makes it.
    partner = await create('--subject', 'partner-a', '--scopes', 'orders:read', '--claim', 'tenant=acme', '--description', 'partner A');
    operator = await create('--subject', 'ops-robot', '--roles', 'operator', '--claim', 'tenant=acme', '--expires', '1h');
    sidecar = await startSidecar(join(dir, 'config.yaml'));
    client = new EnvoyClient(sidecar.grpcAddress);
  });

  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it('apikey create writes only hashes; apikey list shows ids and subjects, never a hash', async () => {
    const text = readFileSync(file, 'utf8');
    for (const key of keys) {
      assert.ok(!text.includes(key.slice(20)), 'the secret part is not in the file');
      assert.ok(text.includes(hashApiKey(key)), 'its hash is');
    }
    const list = await authzctl('apikey', 'list', file);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+SUBJECT\s+ROLES\s+SCOPES\s+EXPIRES\s+DESCRIPTION\n/);
    assert.match(list.stdout, new RegExp(`^${apiKeyId(partner)}  partner-a\\s+-\\s+orders:read\\s+never\\s+partner A$`, 'm'));
    assert.match(list.stdout, new RegExp(`^${apiKeyId(operator)}  ops-robot\\s+operator\\s+-\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\s+-$`, 'm'));
    assert.ok(!list.stdout.includes('sha256:'));
    const json = JSON.parse((await authzctl('apikey', 'list', file, '--json')).stdout) as { keys: Array<{ id: string; expired: boolean }> };
    assert.deepEqual(
      json.keys.map((k) => [k.id, k.expired]),
      [
        [apiKeyId(partner), false],
        [apiKeyId(operator), false],
      ],
    );
  });

  it('allows a created key: the entry subject and the api-key issuer go upstream', async () => {
    const result = await check('/api/partner-orders', { 'x-api-key': partner, 'x-tenant-id': 'acme' });
    assert.equal(result.status.code, 0, JSON.stringify(result));
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-subject'), 'partner-a');
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-issuer'), 'api-key');
    assert.equal(result.dynamic_metadata?.fields.rule?.stringValue, 'partners-read');
    const admin = await check('/admin/reindex', { 'x-api-key': operator });
    assert.equal(admin.status.code, 0, 'the entry roles grant permissions');
    assert.equal(await reasonOf(partner, '/admin/reindex'), 'missing_permission', 'partner-a holds no role granting orders:admin');
  });

  it('policy rules reach an API key caller: a scope the entry lacks, a tenant claim that differs', async () => {
    assert.equal(await reasonOf(operator), 'missing_scope', 'ops-robot has the tenant, not the scope');
    const otherTenant = await check('/api/partner-orders', { 'x-api-key': partner, 'x-tenant-id': 'globex' });
    assert.equal(denyBody(otherTenant).reason, 'default_deny');
    assert.equal(httpStatus(otherTenant), 403);
  });

  it('refuses malformed, unknown and expired keys with 401 and their reason, and a key with a bearer token', async () => {
    const expired = generateApiKey();
    keys.push(expired.key);
    const entries = JSON.parse(readFileSync(file, 'utf8')) as { keys: unknown[] };
    entries.keys.push({ id: expired.id, hash: expired.hash, subject: 'old-partner', scopes: ['orders:read'], expiresAt: '2020-01-01T00:00:00Z' });
    replaceFile(file, JSON.stringify(entries));
    await until('the expired entry loaded', () => sidecar.logs.filter((l) => l.msg === 'API key set loaded').length >= 2, 5_000);

    const cases: Array<[string, string]> = [
      ['hunter2', 'api_key_malformed'],
      [generateApiKey().key, 'api_key_unknown'],
      [`ak_${apiKeyId(partner)}_${'A'.repeat(43)}`, 'api_key_unknown'],
      [expired.key, 'api_key_expired'],
    ];
    for (const [key, reason] of cases) {
      const result = await check('/api/partner-orders', { 'x-api-key': key, 'x-tenant-id': 'acme' });
      assert.equal(httpStatus(result), 401, key);
      assert.equal(result.status.code, 16);
      assert.equal(denyBody(result).reason, reason, key);
      assert.equal(headerOf(result.denied_response?.headers, 'www-authenticate'), 'Bearer realm="orders", error="invalid_token"');
      assert.ok(!result.denied_response!.body.includes(key), 'the deny body never echoes the key');
    }
    const token = await mint({ scope: 'orders:read' });
    assert.equal(denyBody(await check('/api/orders', { 'x-api-key': partner, authorization: `Bearer ${token}` })).reason, 'credentials_duplicated');
  });

  it('rotates without a restart: a new key works once added, the old one is refused once removed; a bad file keeps the set', async () => {
    const next = await create('--subject', 'partner-a', '--scopes', 'orders:read', '--claim', 'tenant=acme');
    await waitForDecision(
      () => check('/api/partner-orders', { 'x-api-key': next, 'x-tenant-id': 'acme' }),
      (r) => r.status.code === 0,
    );
    assert.equal((await check('/api/partner-orders', { 'x-api-key': partner, 'x-tenant-id': 'acme' })).status.code, 0, 'both keys during the roll');

    const removed = await authzctl('apikey', 'remove', '--file', file, '--id', apiKeyId(partner)!);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`^removed API key ${apiKeyId(partner)} \\(partner-a\\) from .*; 3 left\\n$`));
    await waitForDecision(
      () => check('/api/partner-orders', { 'x-api-key': partner, 'x-tenant-id': 'acme' }),
      (r) => denyBody(r).reason === 'api_key_unknown',
    );

    const good = readFileSync(file, 'utf8');
    replaceFile(file, good.replace('"keys"', '"keyz"'));
    const rejected = await sidecar.waitForLog((l) => l.msg === 'API key set rejected; keeping the previous set', 5_000);
    assert.equal(rejected.code, 'api_keys_malformed');
    assert.equal((await check('/api/partner-orders', { 'x-api-key': next, 'x-tenant-id': 'acme' })).status.code, 0, 'the previous set stays');
    const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    assert.match(metrics, /^authz_key_set_rejections_total\{name="apikeys\.orders",code="api_keys_malformed"\} 1$/m);
    assert.match(metrics, /^authz_key_set_revision\{name="apikeys\.orders"\} [3-9]$/m);
    replaceFile(file, good);
  });

  it('never writes a key to the log, allowed or denied (and the header is redacted by path)', () => {
    const text = sidecar.logs.map((l) => JSON.stringify(l)).join('\n');
    assert.ok(
      sidecar.logs.some((l) => l.reason === 'allowed_by_rule'),
      'allows are logged here (log.allows)',
    );
    assert.ok(
      sidecar.logs.some((l) => l.reason === 'api_key_unknown'),
      'denies too',
    );
    for (const key of keys) {
      assert.ok(!text.includes(key), `a key in the log: ${key.slice(0, 8)}…`);
      assert.ok(!text.includes(key.slice(20)), 'nor its secret part');
      assert.ok(!text.includes(hashApiKey(key).slice(7)), 'nor its hash');
    }
  });

  it('refuses an unusable key set file at start: one line on apiKeys.keys.file, exit 2', async () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, readFileSync(join(dir, 'config.yaml'), 'utf8').replace('file: api-keys.json', 'file: missing.json'));
    const missing = await runSidecar(['--config', config, '--check-config']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^authz-sidecar: .*bad\.yaml:\d+:\d+: apiKeys\.keys\.file: cannot read missing\.json: no such file\n$/);
    const key = generateApiKey().key;
    writeFileSync(join(dir, 'stored-key.json'), JSON.stringify({ keys: [{ id: apiKeyId(key), hash: hashApiKey(key), subject: 's', key }] }));
    writeFileSync(config, readFileSync(join(dir, 'config.yaml'), 'utf8').replace('file: api-keys.json', 'file: stored-key.json'));
    const stored = await runSidecar(['--config', config, '--check-config']);
    assert.equal(stored.code, 2);
    assert.match(
      stored.stderr,
      /^authz-sidecar: .*bad\.yaml:\d+:\d+: apiKeys\.keys\.file: stored-key\.json: keys\[0\]\.key: unknown field \(store the hash only: authzctl apikey create writes it\)\n$/,
    );
    assert.ok(!stored.stderr.includes(key));
  });

  it('authzctl apikey: a duplicate id, a reserved claim, a missing file or id are one-line errors (exit 2), and the file is untouched', async () => {
    const before = readFileSync(file, 'utf8');
    const reserved = await authzctl('apikey', 'create', '--file', file, '--subject', 's', '--claim', 'sub=root');
    assert.equal(reserved.code, 2);
    assert.equal(reserved.stdout, '', 'no key printed when nothing was stored');
    assert.match(reserved.stderr, /^authzctl: .*api-keys\.json: the result would be refused: keys\[\d+\]\.claims\.sub: reserved .*\n$/);
    const noSubject = await authzctl('apikey', 'create', '--file', file);
    assert.match(noSubject.stderr, /^authzctl: --subject SUBJECT is required\n$/);
    const unknown = await authzctl('apikey', 'remove', '--file', file, '--id', '0000000000000000');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no entry with id "0000000000000000"\n$/);
    const missing = await authzctl('apikey', 'list', join(dir, 'nope.json'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: file not found\n$/);
    const entries = JSON.parse(before) as { keys: Array<Record<string, unknown>> };
    writeFileSync(join(dir, 'dup.json'), JSON.stringify({ keys: [entries.keys[0], entries.keys[0]] }));
    const dup = await authzctl('apikey', 'create', '--file', join(dir, 'dup.json'), '--subject', 's');
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /dup\.json: keys\[1\]\.id: ".*" is used twice\n$/);
    assert.equal(readFileSync(file, 'utf8'), before);
  });
});

/** Checks until `done` holds (a poll interval or two), failing after 5 s. */
async function waitForDecision(check: () => Promise<CheckResult>, done: (r: CheckResult) => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const result = await check();
    if (done(result)) return;
    if (Date.now() > deadline) assert.fail(`not reached: ${JSON.stringify(denyBody(result))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
