/**
 * A real nginx, running the shipped deploy/nginx/nginx.conf (rendered onto free loopback
 * ports), in front of an echo app, asking the real sidecar binary's /nginx endpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nginxBinary, startNginx, type NginxProcess } from '../../testkit/nginx.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';

const NGINX = nginxBinary();
// CI installs nginx (.ci/run); elsewhere, and only then, these tests are skipped.
const SKIP = NGINX ? false : 'nginx is not installed (neither on PATH nor /usr/sbin/nginx): apt-get install -y nginx to run these tests.';

interface Echoed {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** The app: answers 200 with the request line and the headers it received, as JSON. */
async function startEcho(): Promise<{ server: Server; port: number; seen: Echoed[] }> {
  const seen: Echoed[] = [];
  const server = createServer((req, res) => {
    const echoed = { url: req.url ?? '', headers: req.headers };
    seen.push(echoed);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echoed));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

const CUSTOMER = { scope: 'orders:read', roles: ['customer'], tenant: 'acme' };

describe('nginx auth_request with the shipped config, in front of the real sidecar', { skip: SKIP }, () => {
  let sidecar: SidecarProcess;
  let nginx: NginxProcess;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let token: string;

  before(async () => {
    echo = await startEcho();
    const { configPath } = writeSidecarDir({ http: {} });
    sidecar = await startSidecar(configPath);
    nginx = await startNginx(NGINX!, { sidecarPort: Number(new URL(sidecar.httpUrl!).port), appPort: echo.port });
    token = await mint(CUSTOMER);
  });
  after(async () => {
    await nginx?.stop();
    await sidecar?.stop();
    echo?.server.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${nginx.url}${path}`, { headers, redirect: 'manual' });

  it('answers 401 with the WWW-Authenticate challenge when there is no token, and the app sees nothing', async () => {
    const before = echo.seen.length;
    const response = await get('/api/orders', { 'x-tenant-id': 'acme' });
    await response.text();
    assert.equal(response.status, 401, nginx.errorLog());
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="orders"');
    assert.equal(response.headers.get('x-authz-reason'), 'credentials_missing');
    assert.equal(echo.seen.length, before);
  });

  it("passes an allowed request on with the identity headers, overwriting the client's own x-auth-subject", async () => {
    const response = await get('/api/orders?page=2', {
      authorization: `Bearer ${token}`,
      'x-tenant-id': 'acme',
      'x-auth-subject': 'mallory',
      'x-auth-principal': 'spiffe://evil',
    });
    assert.equal(response.status, 200, nginx.errorLog());
    const echoed = (await response.json()) as Echoed;
    assert.equal(echoed.url, '/api/orders?page=2');
    assert.equal(echoed.headers['x-auth-subject'], 'alice');
    assert.equal(echoed.headers['x-auth-issuer'], 'https://idp.example.test');
    assert.equal(echoed.headers['x-auth-roles'], 'customer');
    assert.equal(echoed.headers['x-tenant-id'], 'acme');
    // Not set for this caller, so nginx sends none: the client's copy is gone.
    assert.equal(echoed.headers['x-auth-principal'], undefined);
    assert.match(nginx.accessLog(), /authz_reason=allowed_by_rule authz_decision_id=[0-9a-f-]{36}/);
  });

  it('removes every identity header a client sends on an anonymous allow, and drops the underscore spelling', async () => {
    const response = await get('/healthz', {
      'x-auth-subject': 'mallory',
      'x-auth-issuer': 'https://evil',
      'x-auth-roles': 'admin',
      x_auth_subject: 'mallory',
    });
    assert.equal(response.status, 200, nginx.errorLog());
    const { headers } = (await response.json()) as Echoed;
    for (const name of ['x-auth-subject', 'x-auth-issuer', 'x-auth-roles', 'x_auth_subject']) assert.equal(headers[name], undefined, name);
  });

  it('refuses an encoded separator (%2F) before the app sees it: 403, reason encoded_separator', async () => {
    const before = echo.seen.length;
    const response = await get('/api/orders%2F..%2Fadmin', { authorization: `Bearer ${token}`, 'x-tenant-id': 'acme' });
    await response.text();
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('x-authz-reason'), 'encoded_separator');
    assert.equal(echo.seen.length, before);
  });

  it('decides on the URI nginx received, not on the X-Original-URI or X-Forwarded-Uri a client sends', async () => {
    const response = await get('/api/orders', {
      'x-original-uri': '/healthz',
      'x-original-method': 'GET',
      'x-forwarded-uri': '/healthz',
      'x-forwarded-method': 'GET',
    });
    await response.text();
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('x-authz-reason'), 'credentials_missing');
  });

  it("answers 403, not nginx's 500, when the Check's status is 400: the reason and status stay in headers", async () => {
    for (const [path, reason] of [
      ['/api/orders;jsessionid=1', 'path_parameters'],
      ['/api/%252e%252e/admin', 'double_encoded_path'],
    ]) {
      const response = await get(path, { authorization: `Bearer ${token}`, 'x-tenant-id': 'acme' });
      await response.text();
      assert.equal(response.status, 403, path);
      assert.equal(response.headers.get('x-authz-reason'), reason);
    }
  });

  it('fails closed when the sidecar is down: nginx answers 500 and the app sees nothing', async () => {
    await sidecar.stop();
    const before = echo.seen.length;
    const response = await get('/healthz');
    await response.text();
    assert.equal(response.status, 500);
    assert.equal(echo.seen.length, before);
  });
});
