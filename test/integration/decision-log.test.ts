import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { createBucket, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { EnvoyClient, envoyRequest, type CheckResult } from '../../testkit/envoy-client.js';
import { mint } from '../../testkit/tokens.js';

const SUBJECT = 'authz.decisions.orders';
const MAX_BUFFER = 50;

interface Record_ {
  decision_id: string;
  request_id: string;
  decision: string;
  reason: string;
  rule: string | null;
  policy_revision: string;
  method: string;
  host: string;
  path: string;
  subject: string | null;
}

/** Collects every message on the decisions subject, raw and parsed. */
function collect(sub: Subscription): { raw: string[]; records: Record_[]; waitFor(pred: (r: Record_) => boolean, timeoutMs: number): Promise<Record_> } {
  const raw: string[] = [];
  const records: Record_[] = [];
  const waiters: Array<{ pred: (r: Record_) => boolean; resolve: (r: Record_) => void }> = [];
  void (async () => {
    for await (const m of sub) {
      const text = new TextDecoder().decode(m.data);
      raw.push(text);
      const record = JSON.parse(text) as Record_;
      records.push(record);
      for (const w of [...waiters]) {
        if (!w.pred(record)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(record);
      }
    }
  })();
  return {
    raw,
    records,
    waitFor: (pred, timeoutMs) => {
      const seen = records.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching decision record within ${timeoutMs} ms (got ${records.length})`)), timeoutMs);
        waiters.push({ pred, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
  };
}

const meta = (r: CheckResult, field: string) => r.dynamic_metadata?.fields[field]?.stringValue;

async function metric(sidecar: SidecarProcess, name: string): Promise<number> {
  const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

describe('decision log: a real sidecar publishing to a real nats-server', () => {
  let nats: NatsServer;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let nc: NatsConnection;
  let log: ReturnType<typeof collect>;
  let dir: string;

  before(async () => {
    nats = await startNatsServer();
    await createBucket(nats.url, 'authz');
    const written = writeSidecarDir({
      issuer: 'bare',
      extra: `nats:
  servers: ["${nats.url}"]
  signers: [cp.pub.jwk.json]
  cacheDir: cache
  instance: orders-decisions
  decisions: { enabled: true, sampleAllows: 1, maxBuffer: ${MAX_BUFFER} }
`,
    });
    dir = written.dir;
    const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    writeFileSync(join(dir, 'cp.pub.jwk.json'), JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'cp-decisions' }));
    sidecar = await startSidecar(written.configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
    await sidecar.waitForLog((l) => l.msg === 'nats connected', 10_000);
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    log = collect(nc.subscribe(SUBJECT));
    await nc.flush();
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
    await nc?.close().catch(() => undefined);
    await nats?.stop();
  });

  it('publishes a deny and a sampled allow with the decision, its ids and revision, and no token text', async () => {
    const denied = await client.check(envoyRequest({ path: '/api/orders', headers: { 'x-request-id': 'req-deny-1' } }));
    assert.equal(denied.status.code, 16);
    const token = await mint({ roles: ['customer'], scope: 'orders:read', tenant: 'acme' });
    const allowed = await client.check(envoyRequest({ path: '/healthz', headers: { 'x-request-id': 'req-allow-1', authorization: `Bearer ${token}` } }));
    assert.equal(allowed.status.code, 0);
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
    const refused = await client.check(envoyRequest({ path: '/api/orders', headers: { 'x-request-id': 'req-deny-2', authorization: `Bearer ${forged}` } }));
    assert.equal(refused.status.code, 16);

    const deny = await log.waitFor((r) => r.request_id === 'req-deny-1', 5_000);
    assert.equal(deny.decision, 'deny');
    assert.equal(deny.reason, 'credentials_missing');
    assert.equal(deny.rule, null);
    assert.equal(deny.method, 'GET');
    assert.equal(deny.path, '/api/orders');
    assert.equal(deny.host, 'orders.example.test');
    assert.equal(deny.subject, null);
    assert.equal(deny.decision_id, meta(denied, 'decision_id'));
    // A policy file's revision is the first 12 hex digits of its SHA-256.
    assert.equal(
      deny.policy_revision,
      createHash('sha256')
        .update(readFileSync(join(dir, 'policy.yaml')))
        .digest('hex')
        .slice(0, 12),
    );
    assert.equal(deny.policy_revision, meta(denied, 'policy_revision'));

    const allow = await log.waitFor((r) => r.request_id === 'req-allow-1', 5_000);
    assert.equal(allow.decision, 'allow');
    assert.equal(allow.reason, 'allowed_by_rule');
    assert.equal(allow.rule, 'public-health');
    assert.equal(allow.method, 'GET');
    assert.equal(allow.path, '/healthz');
    assert.equal(allow.subject, 'alice');
    assert.equal(allow.policy_revision, deny.policy_revision);
    assert.equal(allow.decision_id, meta(allowed, 'decision_id'));

    const bad = await log.waitFor((r) => r.request_id === 'req-deny-2', 5_000);
    assert.equal(bad.reason, 'token_signature_invalid');
    for (const text of log.raw) {
      for (const secret of [token, forged, h, p, s, forged.split('.')[2]]) assert.ok(!text.includes(secret), `a record holds token text: ${text}`);
      assert.doesNotMatch(text, /authorization|bearer/i);
    }
  });

  it('never makes a Check wait while NATS is down, drops beyond maxBuffer, and publishes again once it is back', async (t) => {
    const droppedBefore = await metric(sidecar, 'authz_decision_log_dropped_total');
    assert.equal(droppedBefore, 0);
    // Our subscriber must be back too before the last record is sent, or it would miss it.
    const subscriberBack = (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') return;
    })();
    await nats.stop();
    await sidecar.waitForLog((l) => l.msg === 'nats disconnected', 5_000);

    // 10 lanes of 20: concurrent enough to matter, shallow enough that a Check's own time is
    // what is measured, not a queue of 200 behind it.
    const started = performance.now();
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, lane) => {
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          const r = await client.check(envoyRequest({ path: '/api/orders', headers: { 'x-request-id': `outage-${lane}-${i}` } }), 2_000);
          times.push(performance.now() - t0);
          assert.equal(r.status.code, 16);
          assert.equal(JSON.parse(r.denied_response?.body ?? '{}').reason, 'credentials_missing');
        }
      }),
    );
    assert.equal(times.length, 200);
    const wall = performance.now() - started;
    const slowest = Math.max(...times);
    t.diagnostic(`200 Checks with NATS down: ${wall.toFixed(0)} ms wall clock, slowest ${slowest.toFixed(0)} ms`);
    // A Check that waited for NATS would wait for a reconnect attempt (seconds) or never end;
    // the bounds leave room for a loaded 2-core machine without hiding that.
    assert.ok(wall < 5_000, `${wall} ms for 200 Checks`);
    assert.ok(slowest < 1_000, `slowest Check took ${slowest} ms`);

    // 200 denies into a ring of 50: at least 150 dropped, counted.
    const dropped = await metric(sidecar, 'authz_decision_log_dropped_total');
    assert.ok(dropped >= 200 - MAX_BUFFER, `dropped ${dropped}`);

    await nats.restart();
    await sidecar.waitForLog((l) => l.msg === 'nats reconnected', 10_000);
    await subscriberBack;
    await nc.flush();
    const sent = Date.now();
    const after = await client.check(envoyRequest({ path: '/api/orders', headers: { 'x-request-id': 'after-outage' } }));
    assert.equal(after.status.code, 16);
    const record = await log.waitFor((r) => r.request_id === 'after-outage', 5_000);
    assert.equal(record.reason, 'credentials_missing');
    t.diagnostic(`first record after the outage arrived ${Date.now() - sent} ms after its Check`);
    // What was buffered (the newest 50) went out too, never more than the ring held.
    const outage = log.records.filter((r) => r.request_id.startsWith('outage-'));
    assert.ok(outage.length <= MAX_BUFFER, `${outage.length} outage records published`);
  });
});
