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
    metrics.countCheck('allow', 'default_allow');
    assert.deepEqual(await series(other, 'authz_checks_total'), []);
  });

  it('countCheck increments the (decision, reason) series only', async () => {
    const metrics = new Metrics();
    metrics.countCheck('allow', 'allowed_by_rule');
    metrics.countCheck('allow', 'allowed_by_rule');
    metrics.countCheck('deny', 'token_expired');
    metrics.countCheck('deny', 'allowed_by_rule'); // same reason, other decision: its own series
    const values = await series(metrics, 'authz_checks_total');
    const value = (decision: string, reason: string) => values.find((v) => v.labels.decision === decision && v.labels.reason === reason)?.value;
    assert.equal(values.length, 3);
    assert.equal(value('allow', 'allowed_by_rule'), 2);
    assert.equal(value('deny', 'token_expired'), 1);
    assert.equal(value('deny', 'allowed_by_rule'), 1);
    const text = await metrics.registry.metrics();
    assert.match(text, /^authz_checks_total\{decision="allow",reason="allowed_by_rule"\} 2$/m);
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

  it('setPolicy leaves exactly one authz_policy_info series, the latest', async () => {
    const metrics = new Metrics();
    metrics.setPolicy('orders', 'aaa111');
    metrics.setPolicy('orders', 'bbb222');
    metrics.setPolicy('orders-v2', 'ccc333');
    assert.deepEqual(await series(metrics, 'authz_policy_info'), [{ labels: { name: 'orders-v2', revision: 'ccc333' }, value: 1 }]);
    metrics.setPolicy('orders-v2', 'ccc333');
    assert.equal((await series(metrics, 'authz_policy_info')).length, 1);
  });
});
