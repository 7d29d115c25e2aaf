import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authzctl, type Run } from '../../testkit/authzctl.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadAuthProto } from '../../src/grpc/protos.js';
import { allowResponse, denyResponse } from '../../src/grpc/response.js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';
import { EXAMPLES } from '../../testkit/paths.js';

function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

const IDP_KEY = 'deploy/examples/keys/idp-dev-1.private.jwk.json';
const MESH_KEY = 'deploy/examples/keys/mesh-dev-1.private.jwk.json';
const jwks = (name: string) => JSON.parse(readFileSync(`${EXAMPLES}/keys/${name}`, 'utf8')) as JSONWebKeySet;

describe('authzctl token mint', () => {
  it('prints only a token that verifies against the example key set, with the given claims', async () => {
    const run = await authzctl(
      'token',
      'mint',
      '--key',
      IDP_KEY,
      '--sub',
      'alice',
      '--scope',
      'orders:read',
      '--roles',
      'customer,admin',
      '--claim',
      'tenant=acme',
      '--claim',
      'realm.roles=["a"]',
      '--claim',
      'level=3',
      '--ttl',
      '10m',
      '--typ',
      'at+jwt',
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = run.stdout.trim();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks('idp.jwks.json')), {
      issuer: 'https://idp.example.test',
      audience: 'orders',
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.kid, 'idp-dev-1');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.scope, 'orders:read');
    assert.deepEqual(payload.roles, ['customer', 'admin']);
    assert.equal(payload.tenant, 'acme');
    assert.deepEqual(payload.realm, { roles: ['a'] });
    assert.equal(payload.level, 3);
    assert.equal(payload.exp! - payload.iat!, 600);
    assert.equal(typeof payload.jti, 'string');
  });

  it('mints service tokens with the mesh key', async () => {
    const run = await authzctl('token', 'mint', '--key', MESH_KEY, '--sub', 'spiffe://cluster.local/ns/shop/sa/checkout');
    assert.equal(run.code, 0, run.stderr);
    const { payload } = await jwtVerify(run.stdout.trim(), createLocalJWKSet(jwks('mesh.jwks.json')), { audience: 'orders' });
    assert.equal(payload.sub, 'spiffe://cluster.local/ns/shop/sa/checkout');
    assert.equal(decodeProtectedHeader(run.stdout.trim()).kid, 'mesh-dev-1');
  });

  it('mints an already expired token with --exp-in', async () => {
    const run = await authzctl('token', 'mint', '--key', IDP_KEY, '--exp-in', '-1m');
    assert.equal(run.code, 0, run.stderr);
    await assert.rejects(jwtVerify(run.stdout.trim(), createLocalJWKSet(jwks('idp.jwks.json'))), { code: 'ERR_JWT_EXPIRED' });
  });

  it('refuses a public key, a key set and bad options in one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authzctl-'));
    const publicKey = join(dir, 'idp.public.jwk.json');
    writeFileSync(publicKey, JSON.stringify(jwks('idp.jwks.json').keys[0]));
    assertOneLineError(await authzctl('token', 'mint', '--key', publicKey), /this is a public key/);
    assertOneLineError(await authzctl('token', 'mint', '--key', `${EXAMPLES}/keys/idp.jwks.json`), /key set \(JWKS\)/);
    assertOneLineError(await authzctl('token', 'mint'), /--key FILE is required/);
    assertOneLineError(await authzctl('token', 'mint', '--key', IDP_KEY, '--ttl', 'soon'), /--ttl: "soon" is not a duration/);
    assertOneLineError(await authzctl('token', 'mint', '--kye', IDP_KEY), /Unknown option '--kye'/);
  });
});

describe('authzctl policy test', () => {
  it('passes every case of the example cases file', async () => {
    const run = await authzctl('policy', 'test', `${EXAMPLES}/policy.yaml`, '--cases', `${EXAMPLES}/policy.cases.yaml`);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.ok(
      lines.slice(0, -1).every((l) => l.startsWith('PASS ')),
      run.stdout,
    );
    assert.equal(lines.at(-1), '16 cases: 16 passed, 0 failed');
  });

  it('prints FAIL lines and exits 1 when a case fails', async () => {
    const run = await authzctl('policy', 'test', 'deploy/examples/policy.yaml', '--cases', 'test/fixtures/cli/orders-failing.cases.yaml');
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n'), [
      'PASS health check is public',
      'FAIL wrong - anonymous reads orders: expected allow (rule read-orders), got deny 401 credentials_missing (rule none)',
      'PASS customer creates an order',
      'FAIL wrong - missing scope expected as 401: expected deny 401 missing_scope, got deny 403 missing_scope (rule create-orders)',
      '4 cases: 2 passed, 2 failed',
    ]);
  });

  it('reports results as JSON', async () => {
    const run = await authzctl('policy', 'test', 'deploy/examples/policy.yaml', '--cases', 'test/fixtures/cli/orders-failing.cases.yaml', '--json');
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout);
    assert.equal(report.policy, 'orders');
    assert.equal(report.failed, 2);
    assert.deepEqual(report.cases[1].actual, { decision: 'deny', status: 401, reason: 'credentials_missing', rule: null });
  });

  it('exits 2 with one line naming the file and field for a bad file', async () => {
    assertOneLineError(
      await authzctl('policy', 'test', 'deploy/examples/policy.yaml', '--cases', 'test/fixtures/cli/unknown-field.cases.yaml'),
      /^authzctl: test\/fixtures\/cli\/unknown-field\.cases\.yaml:4:32: cases\[0\]\.expect\.rules: unknown field$/m,
    );
    assertOneLineError(
      await authzctl('policy', 'test', 'no-such-policy.yaml', '--cases', 'deploy/examples/policy.cases.yaml'),
      /no-such-policy\.yaml: .*file not found/,
    );
    assertOneLineError(await authzctl('policy', 'test', 'deploy/examples/policy.yaml'), /--cases CASES_FILE is required/);
  });
});

describe('authzctl check', () => {
  const received: CheckRequest__Output[] = [];
  let reply: CheckResponse = {};
  let server: Server;
  let address = '';

  before(async () => {
    server = new Server();
    server.addService(loadAuthProto().envoy.service.auth.v3.Authorization.service, {
      Check(call: ServerUnaryCall<CheckRequest__Output, CheckResponse>, callback: sendUnaryData<CheckResponse>) {
        received.push(call.request);
        callback(null, reply);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });

  after(() => server.forceShutdown());

  const meta = { decisionId: 'dec-1', policy: 'orders', policyRevision: 'rev-9', rule: null, reason: 'token_expired' };

  it('sends the request the way Envoy does and reports a deny with exit 1', async () => {
    reply = denyResponse({ kind: 'unauthenticated', reason: 'token_expired', requestId: 'r-1', realm: 'orders', invalidToken: true, metadata: meta });
    const run = await authzctl(
      'check',
      '--address',
      address,
      '--method',
      'POST',
      '--path',
      '/api/orders?x=1',
      '--host',
      'orders.example.test',
      '-H',
      'X-Tenant-Id: acme',
      '--token',
      'aaa.bbb.ccc',
      '--service-token',
      'sss.ttt.uuu',
      '--principal',
      'spiffe://cluster.local/ns/shop/sa/checkout',
      '--context',
      'route=orders',
    );
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'DENY 401 (token_expired)');
    assert.ok(lines.includes('  header  www-authenticate: Bearer realm="orders", error="invalid_token"'), run.stdout);
    assert.ok(lines.includes('  meta    decision=dec-1 policy=orders revision=rev-9 rule=- reason=token_expired'), run.stdout);

    const request = received.at(-1)!;
    const http = request.attributes?.request?.http;
    assert.equal(http?.method, 'POST');
    assert.equal(http?.path, '/api/orders?x=1');
    assert.equal(http?.host, 'orders.example.test');
    const headers = http?.headers ?? {};
    assert.equal(headers[':method'], 'POST');
    assert.equal(headers[':path'], '/api/orders?x=1');
    assert.equal(headers[':authority'], 'orders.example.test');
    assert.equal(headers['x-tenant-id'], 'acme');
    assert.equal(headers.authorization, 'Bearer aaa.bbb.ccc');
    assert.equal(headers['x-service-token'], 'sss.ttt.uuu');
    assert.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
    assert.equal(request.attributes?.source?.principal, 'spiffe://cluster.local/ns/shop/sa/checkout');
    assert.deepEqual(request.attributes?.context_extensions, { route: 'orders' });
  });

  it('reports an allow with exit 0', async () => {
    reply = allowResponse({
      caller: { set: [['x-auth-subject', 'alice']], remove: ['x-auth-roles'] },
      metadata: { ...meta, rule: 'read-orders', reason: 'allowed_by_rule' },
    });
    const run = await authzctl('check', '--address', address, '--path', '/api/orders');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      [
        'ALLOW',
        '  set     x-auth-subject: alice',
        '  remove  x-auth-roles',
        '  meta    decision=dec-1 policy=orders revision=rev-9 rule=read-orders reason=allowed_by_rule',
        '',
      ].join('\n'),
    );
  });

  it('prints the CheckResponse as JSON with --json', async () => {
    reply = denyResponse({
      kind: 'forbidden',
      reason: 'missing_scope',
      requestId: 'r-2',
      realm: 'orders',
      missingScopes: ['orders:read'],
      metadata: { ...meta, reason: 'missing_scope' },
    });
    const run = await authzctl('check', '--address', address, '--json');
    assert.equal(run.code, 1, run.stderr);
    const response = JSON.parse(run.stdout);
    assert.equal(response.status.code, 7);
    assert.equal(response.denied_response.status.code, 'Forbidden');
    assert.equal(JSON.parse(response.denied_response.body).reason, 'missing_scope');
  });

  it('exits 2 with one line when nothing listens', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    assertOneLineError(
      await authzctl('check', '--address', `127.0.0.1:${closed}`),
      new RegExp(`^authzctl: cannot reach the sidecar at 127\\.0\\.0\\.1:${closed}: `),
    );
  });
});

describe('authzctl usage', () => {
  it('prints usage and per-command help', async () => {
    const top = await authzctl('--help');
    assert.equal(top.code, 0);
    assert.match(top.stdout, /token mint[\s\S]*check[\s\S]*policy test/);
    const none = await authzctl();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: authzctl/);
    for (const words of [['token', 'mint'], ['check'], ['policy', 'test']]) {
      const help = await authzctl(...words, '--help');
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: authzctl ${words.join(' ')}`));
    }
    assertOneLineError(await authzctl('frobnicate'), /unknown command "frobnicate"/);
  });
});
