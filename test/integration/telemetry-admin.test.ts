import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { splitAddress } from '../../src/shared/index.js';
import { startAdminServer, type AdminServer, type Readiness } from '../../src/telemetry/admin.js';
import { Metrics } from '../../src/telemetry/metrics.js';

/** One HTTP exchange with the admin server (node:http, so any method and HEAD work). */
function exchange(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    // No keep-alive pooling: each exchange is its own connection, so close() is observable.
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startAdminServer', () => {
  const metrics = new Metrics();
  let readiness: Readiness = { ready: false, reasons: ['policy not loaded', 'keys not loaded: idp'] };
  let calls = 0;
  let admin: AdminServer;

  before(async () => {
    admin = await startAdminServer({ address: '127.0.0.1:0', metrics, readiness: () => (calls++, readiness) });
  });
  after(() => admin.close());

  it('listens on a free port', () => {
    assert.ok(admin.port > 0 && admin.port < 65_536);
  });

  it('/healthz is 200 while the process answers, ready or not', async () => {
    const res = await exchange(admin.port, '/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok\n');
    assert.equal((await exchange(admin.port, '/healthz', 'HEAD')).status, 200);
  });

  it('/readyz follows the readiness function on every request', async () => {
    const before = calls;
    const notReady = await exchange(admin.port, '/readyz');
    assert.equal(notReady.status, 503);
    assert.equal(notReady.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(notReady.body), { ready: false, reasons: ['policy not loaded', 'keys not loaded: idp'] });
    readiness = { ready: true, reasons: [] };
    const ready = await exchange(admin.port, '/readyz?verbose=1');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, reasons: [] });
    readiness = { ready: false, reasons: ['draining'] };
    const draining = await exchange(admin.port, '/readyz');
    assert.equal(draining.status, 503);
    assert.deepEqual(JSON.parse(draining.body).reasons, ['draining']);
    assert.equal(calls - before, 3);
  });

  it('/metrics serves the registry and the Check histogram in the Prometheus text format', async () => {
    metrics.countCheck('orders', 'deny', 'token_expired');
    metrics.checkDuration.observe(0.0002);
    const res = await exchange(admin.port, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], metrics.registry.contentType);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^# TYPE authz_checks_total counter$/m);
    assert.match(res.body, /^authz_checks_total\{service="orders",decision="deny",reason="token_expired"\} 1$/m);
    assert.match(res.body, /^authz_process_\w+ /m, 'process metrics carry the prefix');
    assert.match(res.body, /^# TYPE authz_check_duration_seconds histogram$/m);
    assert.match(res.body, /^authz_check_duration_seconds_bucket\{le="0\.00025"\} 1$/m);
    assert.equal(res.body.match(/^# TYPE /gm)?.length, new Set(res.body.match(/^# TYPE \S+/gm)).size, 'each metric once');
  });

  it('refuses other methods with 405 and an Allow header', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await exchange(admin.port, '/readyz', method);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, 'GET, HEAD');
    }
  });

  it('answers 404 for any other path', async () => {
    for (const path of ['/', '/metrics/', '/healthz/x', '/READYZ', '/debug/pprof']) assert.equal((await exchange(admin.port, path)).status, 404, path);
  });

  it('rejects when the address is taken', async () => {
    await assert.rejects(
      startAdminServer({ address: `127.0.0.1:${admin.port}`, metrics, readiness: () => readiness }),
      (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE',
    );
  });

  it('close() stops listening', async () => {
    const other = await startAdminServer({ address: '127.0.0.1:0', metrics, readiness: () => readiness });
    assert.equal((await exchange(other.port, '/healthz')).status, 200);
    await other.close();
    await assert.rejects(exchange(other.port, '/healthz'), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
  });
});

describe('splitAddress', () => {
  it('splits host and port, unbracketing IPv6', () => {
    assert.deepEqual(splitAddress('127.0.0.1:9192'), { host: '127.0.0.1', port: 9192 });
    assert.deepEqual(splitAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(splitAddress('[::1]:9192'), { host: '::1', port: 9192 });
    assert.deepEqual(splitAddress('[2001:db8::7]:80'), { host: '2001:db8::7', port: 80 });
    assert.deepEqual(splitAddress('0.0.0.0:65535'), { host: '0.0.0.0', port: 65_535 });
  });

  it('the [::1] form really listens on IPv6 loopback', async (t) => {
    const metrics = new Metrics();
    let admin: AdminServer;
    try {
      admin = await startAdminServer({ address: '[::1]:0', metrics, readiness: () => ({ ready: true, reasons: [] }) });
    } catch (error) {
      t.skip(`no IPv6 loopback here: ${(error as Error).message}`);
      return;
    }
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '::1', port: admin.port, path: '/healthz' }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
        .on('error', reject)
        .end();
    });
    await admin.close();
    assert.equal(status, 200);
  });
});
