import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { DecisionCounter, FastHistogram } from '../../src/telemetry/hot-metrics.js';

/** Exposition lines, sorted: the series of a metric in any order. */
const lines = async (registry: Registry) => (await registry.metrics()).split('\n').sort();

/** The hot-path metrics against their plain prom-client twins fed the same calls (/metrics text). */
describe('hot metrics render as prom-client does', () => {
  it('DecisionCounter: the same series as a labelled Counter, scrape after scrape, and after reset', async () => {
    const hot = new Registry();
    const plain = new Registry();
    const counter = new DecisionCounter('authz_checks_total', 'Checks answered.', hot);
    const twin = new Counter({
      name: 'authz_checks_total',
      help: 'Checks answered.',
      labelNames: ['service', 'decision', 'reason'] as const,
      registers: [plain],
    });
    const count = (service: string, decision: 'allow' | 'deny', reason: string) => {
      counter.inc(service, decision, reason);
      twin.inc({ service, decision, reason });
    };
    assert.equal(await hot.metrics(), await plain.metrics(), 'no series before the first Check');
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < 10 * round; i++)
        count(['orders', 'billing'][i % 2], i % 3 === 0 ? 'deny' : 'allow', ['default_deny', 'allowed_by_rule', 'token_expired'][i % 3]);
      // Each scrape copies the totals afresh: nothing is counted twice. (The hot counter lists
      // allows before denies; prom-client lists series as first counted.)
      assert.deepEqual(await lines(hot), await lines(plain), `scrape ${round}`);
    }
    assert.equal(counter.total(), 60);
    counter.reset();
    twin.reset();
    assert.equal(await hot.metrics(), await plain.metrics(), 'after reset');
    assert.equal(counter.total(), 0);
  });

  it('FastHistogram: the same buckets, sum and count as a Histogram', async () => {
    const buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25];
    const plain = new Registry();
    const histogram = new FastHistogram('authz_check_duration_seconds', 'Check time.', buckets);
    const twin = new Histogram({ name: 'authz_check_duration_seconds', help: 'Check time.', buckets, registers: [plain] });
    // On each bound, between bounds, above the last, and zero.
    for (const seconds of [0, ...buckets, 0.00003, 0.0003, 0.007, 0.2, 0.3, 12, 0.000123456789]) {
      histogram.observe(seconds);
      twin.observe(seconds);
    }
    assert.equal(histogram.exposition(), await plain.metrics());
    histogram.reset();
    twin.reset();
    twin.zero({});
    assert.equal(histogram.exposition(), await plain.metrics(), 'after reset');
  });

  it('FastHistogram: help text is escaped as the text format requires', async () => {
    const plain = new Registry();
    const help = 'Check time \\ in seconds\nper Check.';
    const histogram = new FastHistogram('h', help, [1]);
    new Histogram({ name: 'h', help, buckets: [1], registers: [plain] });
    assert.equal(histogram.exposition(), await plain.metrics());
  });
});
