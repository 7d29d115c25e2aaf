import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  appliedRevisions,
  orderViolations,
  serverOutage,
  slowConsumer,
  startSingleServerEnv,
  type ScenarioReport,
  type SingleServerEnv,
} from '../../testkit/chaos.js';

/** Every figure a scenario reports must be clean; the failures list says which check broke. */
function assertClean(report: ScenarioReport, t: { diagnostic(message: string): void }): void {
  t.diagnostic(
    `${report.scenario}: ${report.published} updates, ${report.sidecars} sidecars, converged ${report.convergeMs} ms after recovery (${report.lagMs} ms after the newest write), ${report.checks} Checks; ${report.notes.join('; ')}`,
  );
  assert.deepEqual(report.failures, []);
  assert.equal(report.failedChecks, 0);
  assert.equal(report.outOfOrder, 0);
  assert.equal(report.lost, 0);
  assert.ok(report.published > 0);
}

describe('chaos: one nats-server misbehaving under 3 sidecars', () => {
  let env: SingleServerEnv;
  before(async () => {
    env = await startSingleServerEnv(3);
  });
  after(() => env?.close());

  it('SIGSTOP of the server mid-burst: every Check during the freeze answers from the applied revision, then all converge', async (t) => {
    const report = await serverOutage(env, { mode: 'sigstop', outageMs: 2_500, gapMs: 10, beforeOutage: 10, afterOutage: 10 });
    assertClean(report, t);
    // 3 sidecars × 4 requests every ~50 ms for 2 s: the probe really ran during the freeze.
    assert.ok(report.checks >= 3 * 4 * 5, `${report.checks} Checks`);
  });

  it('kill -9 mid-burst, down 2 s, restarted on the same port and store dir: same guarantees', async (t) => {
    const report = await serverOutage(env, { mode: 'kill9', outageMs: 2_000, gapMs: 10, beforeOutage: 10, afterOutage: 10 });
    assertClean(report, t);
    assert.ok(report.checks >= 3 * 4 * 5, `${report.checks} Checks`);
    for (const m of env.fleet.members)
      assert.ok(
        m.sidecar.logs.some((l) => l.msg === 'nats reconnected'),
        `${m.instance} reconnected`,
      );
  });

  it('slow consumer: a sidecar SIGSTOPped while 200 updates are published ends on the newest revision', async (t) => {
    const report = await slowConsumer(env, { stopMs: 2_000, updates: 200 });
    assertClean(report, t);
    assert.ok(report.published >= 200);
  });

  it('no sidecar ever applied a revision at or below one it had applied (whole run, from the logs)', () => {
    assert.deepEqual(orderViolations(env.fleet.members), []);
    for (const m of env.fleet.members) {
      const revisions = appliedRevisions(m.sidecar);
      // Dozens of applies were seen, and the last is the newest published.
      assert.ok(revisions.length >= 10, `${m.instance}: ${revisions.length} applies`);
      assert.equal(revisions.at(-1), env.publisher.newest);
    }
  });
});
