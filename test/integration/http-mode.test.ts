/**
 * HTTP mode against the real sidecar binary: each convention's fields, the control headers
 * of the others ignored, gateway service names from the URL, limits, bodies, timeouts,
 * metrics, draining and start-up errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ForwardAuthClient, type AuthAnswer } from '../../testkit/forward-auth.js';
import { runSidecar, startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy, writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';

const POLICY = ordersPolicy({
  rules: `    - name: public
      action: ALLOW
      to: [{ paths: ["/public", "/public/*"] }]
    - name: billing-gateway
      action: ALLOW
      to: [{ paths: ["/svc/*"] }]
      when: 'context["service"] == "billing"'
`,
});

const reason = (answer: AuthAnswer) => answer.headers['x-authz-reason'];

/** Writes `text` on a fresh connection and collects what comes back until the server closes it (or `waitMs`). */
function raw(port: number, text: string, waitMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    const timer = setTimeout(() => (socket.destroy(), resolve(out)), waitMs);
    socket.on('data', (chunk: Buffer) => (out += chunk.toString()));
    socket.on('close', () => (clearTimeout(timer), resolve(out)));
    // A server that answers before reading everything it was sent may reset the connection after its answer.
    socket.on('error', (error) => (out === '' ? reject(error) : resolve(out)));
  });
}

describe('HTTP mode: the forward-auth endpoints of the real sidecar', () => {
  let sidecar: SidecarProcess;
  let client: ForwardAuthClient;
  let port: number;
  let token: string;

  before(async () => {
    const { configPath } = writeSidecarDir({ policy: POLICY, issuer: 'bare', http: { headersTimeoutMs: 500 }, extra: 'request: { maxHeaders: 20 }\n' });
    sidecar = await startSidecar(configPath);
    client = new ForwardAuthClient(sidecar.httpUrl!);
    port = Number(new URL(sidecar.httpUrl!).port);
    token = await mint();
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it('envoy: the original method and path after /envoy; deny status, challenge and JSON body pass back', async () => {
    const denied = await client.check('envoy', { method: 'GET', path: '/api/orders', host: 'orders.example.test', headers: { 'x-request-id': 'r-1' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['www-authenticate'], 'Bearer realm="orders"');
    assert.deepEqual(JSON.parse(denied.body), { error: 'unauthenticated', reason: 'credentials_missing', request_id: 'r-1' });
    const allowed = await client.check('envoy', {
      method: 'GET',
      path: '/api/orders',
      host: 'orders.example.test',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-auth-subject'], 'alice');
    assert.equal(reason(allowed), 'allowed_by_rule');
    assert.match(String(allowed.headers['x-authz-decision-id']), /^[0-9a-f-]{36}$/);
    // What Envoy must strip upstream: every managed header this caller does not get.
    assert.equal(allowed.headers['x-envoy-auth-headers-to-remove'], 'x-auth-principal');
    const post = await client.check('envoy', {
      method: 'POST',
      path: '/api/orders',
      host: 'orders.example.test',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(post.status, 403);
    assert.equal(reason(post), 'default_deny');
  });

  it('nginx: X-Original-URI and X-Original-Method; every deny is 401 or 403, the Check status in x-authz-status', async () => {
    const allowed = await client.check('nginx', { method: 'GET', path: '/public/x?y=1', host: 'h' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-envoy-auth-headers-to-remove'], undefined);
    const traversal = await client.check('nginx', { method: 'GET', path: '/public/../../etc/passwd', host: 'h' });
    assert.equal(traversal.status, 403);
    assert.equal(traversal.headers['x-authz-status'], '400');
    assert.equal(reason(traversal), 'path_traversal');
    assert.equal(JSON.parse(traversal.body).reason, 'path_traversal');
    const unauthenticated = await client.check('nginx', { method: 'GET', path: '/api/orders', host: 'h', headers: { authorization: 'Bearer not.a.token' } });
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.headers['www-authenticate'], 'Bearer realm="orders", error="invalid_token"');
    assert.equal(unauthenticated.headers['x-authz-status'], undefined);
    assert.ok(!unauthenticated.body.includes('not.a.token'), 'the token is never echoed');
  });

  it('forward_auth (Traefik, Caddy): a GET carrying X-Forwarded-Method, -Uri, -Host', async () => {
    const denied = await client.check('forward_auth', { method: 'DELETE', path: '/api/orders', host: 'h', headers: { authorization: `Bearer ${token}` } });
    assert.equal(denied.status, 403);
    assert.equal(reason(denied), 'default_deny');
    const allowed = await client.check('forward_auth', { method: 'GET', path: '/api/orders', host: 'h', headers: { authorization: `Bearer ${token}` } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-auth-subject'], 'alice');
  });

  it("ignores another convention's control headers: they are neither read nor seen by the policy", async () => {
    // On the nginx endpoint, Traefik's fields say nothing: without X-Original-* the request is malformed.
    const nginx = await client.send({ method: 'GET', path: '/nginx', headers: { host: 'h', 'x-forwarded-uri': '/public', 'x-forwarded-method': 'GET' } });
    assert.equal(nginx.status, 403);
    assert.equal(reason(nginx), 'malformed_request');
    // On the forward-auth endpoint, nginx's X-Original-URI cannot replace X-Forwarded-Uri.
    const traefik = await client.check('forward_auth', {
      method: 'GET',
      path: '/api/orders',
      host: 'h',
      headers: { 'x-original-uri': '/public', 'x-original-method': 'GET' },
    });
    assert.equal(traefik.status, 401);
    assert.equal(reason(traefik), 'credentials_missing');
    // On the envoy endpoint, the path is the URL's, whatever the headers say.
    const envoy = await client.check('envoy', {
      method: 'GET',
      path: '/api/orders',
      host: 'h',
      headers: { 'x-original-uri': '/public', 'x-forwarded-uri': '/public' },
    });
    assert.equal(reason(envoy), 'credentials_missing');
  });

  it('refuses a missing, empty or repeated convention field as malformed_request, never an allow', async () => {
    const cases: Array<[string, Record<string, string | string[]>]> = [
      ['/nginx', { host: 'h', 'x-original-method': 'GET' }],
      ['/nginx', { host: 'h', 'x-original-method': 'GET', 'x-original-uri': '' }],
      ['/nginx', { host: 'h', 'x-original-method': 'GET', 'x-original-uri': ['/public', '/public'] }],
      ['/forward-auth', { host: 'h', 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/public' }],
      ['/forward-auth', { host: 'h', 'x-forwarded-method': ['GET', 'GET'], 'x-forwarded-uri': '/public', 'x-forwarded-host': 'h' }],
    ];
    for (const [path, headers] of cases) {
      const answer = await client.send({ method: 'GET', path, headers });
      assert.equal(reason(answer), 'malformed_request', JSON.stringify(headers));
      assert.ok(answer.status === 400 || answer.status === 403, String(answer.status));
    }
    const empty = await client.send({ method: 'GET', path: '/envoy', headers: { host: 'h' } });
    assert.equal(empty.status, 400);
    assert.equal(reason(empty), 'malformed_request');
  });

  it('refuses encoded separators, traversal and double encoding as over gRPC, in every convention', async () => {
    for (const convention of ['envoy', 'nginx', 'forward_auth'] as const) {
      for (const [path, code] of [
        ['/public/a%2Fb', 'encoded_separator'],
        ['/public/a%5cb', 'encoded_separator'],
        ['/public/%252e%252e/x', 'double_encoded_path'],
        ['/public/..;/admin', 'path_parameters'],
      ]) {
        const answer = await client.check(convention, { method: 'GET', path, host: 'h' });
        assert.equal(reason(answer), code, `${convention} ${path}`);
        assert.equal(answer.status, convention === 'nginx' ? 403 : 400);
      }
    }
  });

  it('gateway mode: /service/<name>/… puts the name in context_extensions.service; headers cannot', async () => {
    const named = await client.check('nginx', { method: 'GET', path: '/svc/x', host: 'h', service: 'billing' });
    assert.equal(named.status, 200);
    assert.equal(reason(named), 'allowed_by_rule');
    const envoy = await client.check('envoy', { method: 'GET', path: '/svc/x', host: 'h', service: 'billing' });
    assert.equal(envoy.status, 200);
    const unnamed = await client.check('nginx', { method: 'GET', path: '/svc/x', host: 'h', headers: { 'x-service': 'billing', service: 'billing' } });
    assert.equal(reason(unnamed), 'credentials_missing');
    // The envoy endpoint without /service/: "billing" is a path segment, not a service.
    const path = await client.check('envoy', { method: 'GET', path: '/billing/svc/x', host: 'h' });
    assert.equal(reason(path), 'credentials_missing');
    for (const bad of ['/service/Billing/nginx', '/service//nginx', '/service/billing', '/nginx/billing', '/nginx?x=1', '/envoyx/public']) {
      const answer = await client.send({ method: 'GET', path: bad, headers: { host: 'h', 'x-original-uri': '/public', 'x-original-method': 'GET' } });
      assert.equal(answer.status, 404, bad);
    }
  });

  it('applies request.maxHeaders to what the proxy forwards: 431 too_many_headers (nginx: 403, x-authz-status 431)', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 25; i++) headers[`x-h${i}`] = 'v';
    const envoy = await client.check('envoy', { method: 'GET', path: '/public', host: 'h', headers });
    assert.equal(envoy.status, 431);
    assert.equal(reason(envoy), 'too_many_headers');
    const nginx = await client.check('nginx', { method: 'GET', path: '/public', host: 'h', headers });
    assert.equal(nginx.status, 403);
    assert.equal(nginx.headers['x-authz-status'], '431');
  });

  it("answers a head over node's cap 431 with a reason and no echo, and closes the connection", async () => {
    const answer = await raw(port, `GET /nginx HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(200 * 1024)}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.match(answer, /"reason":"header_too_large"/);
    assert.ok(answer.length < 1000);
  });

  it('does not read a request body: the answer comes without it, and the connection is closed', async () => {
    const started = performance.now();
    const answer = await raw(port, 'POST /envoy/public HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\npartial');
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.ok(performance.now() - started < 2_500, 'answered without waiting for the body');
  });

  it('closes a connection whose head does not arrive within http.headersTimeoutMs (408)', async () => {
    const started = performance.now();
    const answer = await raw(port, 'GET /nginx HTTP/1.1\r\nHost: h\r\n', 5_000);
    const elapsed = performance.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 400 && elapsed < 3_000, `closed after ${elapsed} ms`);
  });

  it('answers 400 malformed_request to what node cannot parse (a method it does not know), never a stack', async () => {
    const answer = await raw(port, 'get /envoy/public HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"reason":"malformed_request"/);
    assert.doesNotMatch(answer, /at \w+ \(|Error:/);
  });

  it('counts auth requests by convention in authz_http_requests_total, and their Checks in authz_checks_total', async () => {
    const before = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const count = (text: string, convention: string) =>
      Number(new RegExp(`authz_http_requests_total\\{convention="${convention}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    await client.check('forward_auth', { method: 'GET', path: '/public', host: 'h' });
    await client.send({ method: 'GET', path: '/nope', headers: { host: 'h' } });
    const after = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    assert.equal(count(after, 'forward_auth') - count(before, 'forward_auth'), 1);
    assert.equal(count(after, 'unknown') - count(before, 'unknown'), 1);
    assert.equal(count(after, 'envoy') - count(before, 'envoy'), 0);
  });

  it('drains with gRPC on SIGTERM: listener closed, idle keep-alive connections closed, exit 0', async () => {
    await client.check('nginx', { method: 'GET', path: '/public', host: 'h' });
    const code = await sidecar.stop();
    assert.equal(code, 0);
    const stopped = sidecar.logs.find((line) => line.msg === 'stopped');
    assert.equal(stopped?.http_outcome, 'drained');
    await assert.rejects(fetch(`${sidecar.httpUrl}/nginx`), /fetch failed/);
  });
});

describe('HTTP mode: configuration', () => {
  it('is off without an http section; AUTHZ_HTTP_ADDRESS alone is a start-up error naming it', async () => {
    const { configPath } = writeSidecarDir();
    const run = await runSidecar(['--config', configPath], {
      env: { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0', AUTHZ_HTTP_ADDRESS: '127.0.0.1:0' },
    });
    assert.equal(run.code, 2);
    assert.equal(run.stderr, `authz-sidecar: ${configPath}: AUTHZ_HTTP_ADDRESS: is set but the config has no http section (HTTP mode is off)\n`);
    const sidecar = await startSidecar(configPath);
    try {
      assert.equal(sidecar.httpUrl, undefined);
      assert.doesNotMatch(await (await fetch(`${sidecar.adminUrl}/metrics`)).text(), /authz_http_requests_total/);
    } finally {
      await sidecar.stop();
    }
  });

  it('reports an http.address it cannot listen on, on the field, and exits 1', async () => {
    const blocker = await startSidecar(writeSidecarDir({ http: {} }).configPath);
    try {
      const { configPath } = writeSidecarDir({ http: {} });
      const run = await runSidecar(['--config', configPath], {
        env: { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0', AUTHZ_HTTP_ADDRESS: new URL(blocker.httpUrl!).host },
      });
      assert.equal(run.code, 1);
      assert.equal(run.stderr, `authz-sidecar: ${configPath}: AUTHZ_HTTP_ADDRESS: ${new URL(blocker.httpUrl!).host} is already in use\n`);
    } finally {
      await blocker.stop();
    }
  });
});
