/**
 * The soak's load generator (bench/load/paced.ts) must notice a bad answer, or the soak's
 * "zero failed Checks" would prove nothing: against the real floor server (which answers a
 * bare OK), it passes what expects a bare OK and fails, as wrong answers, what expects a
 * sidecar's allow with reason and rule; against an HTTP/2 server that never answers, every
 * call fails by timeout; and a call on a port nobody listens on fails too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOWED_BY_RULE, ANSWERS_OK, type Expectation } from '../../bench/checks.js';
import { PacedLoad, type LoadCounts } from '../../bench/load/paced.js';
import { startServer } from '../../bench/processes.js';
import { checkRequestBody } from '../../bench/request.js';
import { freePort } from '../../testkit/nats-server.js';

async function drive(
  port: number,
  expect: Expectation,
  options: { rps?: number; timeoutMs?: number; ms?: number } = {},
): Promise<{ counts: LoadCounts; kinds: ReadonlyMap<string, number>; first: string | undefined }> {
  const load = new PacedLoad(
    { port, connections: 2, rps: options.rps ?? 200, maxInFlight: 16, timeoutMs: options.timeoutMs ?? 2_000 },
    { bodies: [checkRequestBody({ token: 'x.y.z' })], expect },
  );
  load.start();
  await sleep(options.ms ?? 500);
  const counts = await load.stop();
  const { byKind, first } = load.failures();
  return { counts, kinds: byKind, first: first[0]?.why };
}

test('paced load: judges every answer against the expected CheckResponse (real floor server)', { timeout: 20_000 }, async () => {
  const floor = await startServer('floor');
  try {
    const good = await drive(floor.port, ANSWERS_OK);
    assert.ok(good.counts.completed > 20, `only ${good.counts.completed} calls`);
    assert.equal(good.counts.failed, 0, good.first);
    assert.equal(good.counts.ok, good.counts.completed);
    assert.ok(good.counts.latencyUs.p99 > 0);

    // The floor's OK has no reason/rule metadata: not what a sidecar allow looks like.
    const wrong = await drive(floor.port, ALLOWED_BY_RULE);
    assert.ok(wrong.counts.completed > 20);
    assert.equal(wrong.counts.failed, wrong.counts.completed);
    assert.deepEqual([...wrong.kinds.keys()], ['wrong answer']);
    assert.match(wrong.first ?? '', /expected allow, reason allowed_by_rule, rule read-orders, got \{"code":0/);

    // Unpaced: as fast as maxInFlight allows; nothing is left behind a schedule.
    const unpaced = await drive(floor.port, ANSWERS_OK, { rps: Infinity, ms: 300 });
    assert.equal(unpaced.counts.failed, 0, unpaced.first);
    assert.equal(unpaced.counts.behind, 0);
  } finally {
    await floor.stop();
  }
});

test('paced load: a call with no answer in time, or no server, is a failed Check', { timeout: 20_000 }, async () => {
  const silent = createServer();
  silent.on('stream', () => {}); // takes the call, never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as AddressInfo).port;
    const stalled = await drive(port, ANSWERS_OK, { rps: 50, timeoutMs: 200, ms: 400 });
    assert.ok(stalled.counts.completed > 5, `only ${stalled.counts.completed} calls ended`);
    assert.equal(stalled.counts.failed, stalled.counts.completed);
    assert.deepEqual([...stalled.kinds.keys()], ['timeout']);
  } finally {
    silent.close();
  }

  const nobody = await drive(await freePort(), ANSWERS_OK, { rps: 50, ms: 300 });
  assert.ok(nobody.counts.completed > 5);
  assert.equal(nobody.counts.failed, nobody.counts.completed);
  assert.equal(nobody.counts.ok, 0);
});
