import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/telemetry/metrics.js';

async function series(metrics: Metrics, name: string): Promise<Array<{ labels: Record<string, string | number>; value: number }>> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  return (await metric.get()).values.map((v) => ({ labels: { ...v.labels } as Record<string, string | number>, value: v.value }));
}

describe('Metrics', () => {
  it('exposes every documented metric, from its own registry', async () => {
    const metrics = new Metrics();
    const names = [...(await metrics.exposition()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    for (const name of [
      'authz_checks_total',
      'authz_check_duration_seconds',
      'authz_token_cache_total',
      'authz_key_set_revision',
      'authz_key_set_rejections_total',
      'authz_policy_info',
      'authz_policy_rejections_total',
      'authz_ready',
    ])
      assert.ok(names.includes(name), name);
    assert.ok(
      names.some((n) => n.startsWith('authz_process_')),
      'process metrics prefixed',
    );
    assert.ok(
      names.every((n) => n.startsWith('authz_')),
      'nothing unprefixed',
    );
    // Two instances do not share series (main makes one; tests make many).
    const other = new Metrics();
    metrics.countCheck('orders', 'allow', 'default_allow');
    assert.deepEqual(await series(other, 'authz_checks_total'), []);
  });

  it('countCheck increments the (service, decision, reason) series only', async () => {
    const metrics = new Metrics();
    metrics.countCheck('orders', 'allow', 'allowed_by_rule');
    metrics.countCheck('orders', 'allow', 'allowed_by_rule');
    metrics.countCheck('orders', 'deny', 'token_expired');
    metrics.countCheck('orders', 'deny', 'allowed_by_rule'); // same reason, other decision: its own series
    metrics.countCheck('billing', 'allow', 'allowed_by_rule'); // same decision and reason, other service
    const values = await series(metrics, 'authz_checks_total');
    const value = (service: string, decision: string, reason: string) =>
      values.find((v) => v.labels.service === service && v.labels.decision === decision && v.labels.reason === reason)?.value;
    assert.equal(values.length, 4);
    assert.equal(value('orders', 'allow', 'allowed_by_rule'), 2);
    assert.equal(value('orders', 'deny', 'token_expired'), 1);
    assert.equal(value('orders', 'deny', 'allowed_by_rule'), 1);
    assert.equal(value('billing', 'allow', 'allowed_by_rule'), 1);
    const text = await metrics.registry.metrics();
    assert.match(text, /^authz_checks_total\{service="orders",decision="allow",reason="allowed_by_rule"\} 2$/m);
  });

  it('authz_policy_info holds one series per service: its policy revision in force', async () => {
    const metrics = new Metrics();
    metrics.setPolicy('orders', 'orders', '3');
    metrics.setPolicy('billing', 'billing-v2', 'sha256:ab');
    metrics.setPolicy('orders', 'orders', '4');
    assert.deepEqual(
      (await series(metrics, 'authz_policy_info')).map((v) => v.labels),
      [
        { service: 'orders', name: 'orders', revision: '4' },
        { service: 'billing', name: 'billing-v2', revision: 'sha256:ab' },
      ],
    );
  });

  it('exports authz_nats_connected only once NATS is tracked', async () => {
    const metrics = new Metrics();
    assert.doesNotMatch(await metrics.exposition(), /authz_nats_connected/);
    metrics.trackNats();
    metrics.trackNats();
    assert.match(await metrics.exposition(), /^authz_nats_connected 0$/m);
    metrics.natsConnected.set(1);
    assert.match(await metrics.exposition(), /^authz_nats_connected 1$/m);
  });

  it('checkDuration observes seconds into the histogram', async () => {
    const metrics = new Metrics();
    metrics.checkDuration.observe(0.0003);
    const text = await metrics.exposition();
    assert.match(text, /^authz_check_duration_seconds_bucket\{le="0\.00025"\} 0$/m);
    assert.match(text, /^authz_check_duration_seconds_bucket\{le="0\.0005"\} 1$/m);
    assert.match(text, /^authz_check_duration_seconds_count 1$/m);
  });
});
