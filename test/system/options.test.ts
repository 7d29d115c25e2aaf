import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GROUPS, parseOptions } from '../../bench/options.js';
import { inRoundOrder } from '../../bench/stats.js';

test('bench options: 9 rounds with a pause before each measured run; a smoke run has one round and no pause', () => {
  const full = parseOptions({});
  assert.equal(full.rounds, 9);
  assert.ok(full.quietMs >= 2_000, `the pause (${full.quietMs} ms) outlasts a sidecar's idle interval and its collection`);
  assert.deepEqual([...full.only], [...GROUPS]);
  const smoke = parseOptions({ BENCH_SMOKE: '1' });
  assert.equal(smoke.rounds, 1);
  assert.equal(smoke.quietMs, 0);
});

test('bench options: BENCH_ONLY and BENCH_ROUNDS are checked, naming the variable', () => {
  assert.deepEqual([...parseOptions({ BENCH_ONLY: 'deny, memory' }).only], ['deny', 'memory']);
  assert.throws(() => parseOptions({ BENCH_ONLY: 'allow,nope' }), /BENCH_ONLY: unknown scenario "nope"/);
  assert.equal(parseOptions({ BENCH_ROUNDS: '3' }).rounds, 3);
  assert.equal(parseOptions({ BENCH_ROUNDS: '3' }).latencyRounds, 3, 'never more latency runs than rounds');
  assert.equal(parseOptions({}).latencyRounds, 5, 'the p99 target is judged in each of five runs');
  assert.throws(() => parseOptions({ BENCH_ROUNDS: '-1' }), /BENCH_ROUNDS: expected a positive number/);
});

test('bench options: sustained windows are 30 s in 3 rounds (BENCH_SUSTAINED_SECONDS), one round in a smoke run', () => {
  const full = parseOptions({});
  assert.equal(full.sustainedSeconds, 30);
  assert.equal(full.sustainedRounds, 3);
  assert.ok(full.sustainedSeconds > full.seconds, "longer than the throughput rows' windows");
  assert.equal(parseOptions({ BENCH_SUSTAINED_SECONDS: '45' }).sustainedSeconds, 45);
  assert.throws(() => parseOptions({ BENCH_SUSTAINED_SECONDS: 'x' }), /BENCH_SUSTAINED_SECONDS: expected a positive number/);
  assert.equal(parseOptions({ BENCH_SMOKE: '1' }).sustainedRounds, 1);
});

test('bench rounds: odd rounds visit the servers as listed, even rounds in reverse, and the list is left as it was', () => {
  const servers = Object.freeze(['floor', 'limit', 'sidecar-50']);
  assert.deepEqual(inRoundOrder(servers, 1), ['floor', 'limit', 'sidecar-50']);
  assert.deepEqual(inRoundOrder(servers, 2), ['sidecar-50', 'limit', 'floor']);
  assert.deepEqual(inRoundOrder(servers, 3), ['floor', 'limit', 'sidecar-50']);
  assert.deepEqual(servers, ['floor', 'limit', 'sidecar-50']);
});
