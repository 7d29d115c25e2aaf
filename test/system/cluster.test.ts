import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterNodeRestarts, orderViolations, startClusterEnv, type ClusterEnv, type ScenarioReport } from '../../testkit/chaos.js';

function assertClean(report: ScenarioReport, t: { diagnostic(message: string): void }): void {
  t.diagnostic(
    `${report.scenario}: ${report.published} updates, ${report.sidecars} sidecars, converged ${report.convergeMs} ms after the last restart (${report.lagMs} ms after the newest write; writes stalled up to ${report.publishStallMs} ms), ${report.checks} Checks; ${report.notes.join('; ')}`,
  );
  assert.deepEqual(report.failures, []);
  assert.equal(report.failedChecks, 0);
  assert.equal(report.outOfOrder, 0);
  assert.equal(report.lost, 0);
  assert.ok(report.published > 0);
}

describe('chaos: 2 sidecars on a local 3-node JetStream cluster (bucket with 3 replicas)', () => {
  let env: ClusterEnv;
  before(async () => {
    env = await startClusterEnv(2);
  });
  after(() => env?.close());

  it('lists all three nodes to every sidecar and replicates the bucket on all three', async () => {
    assert.equal(env.cluster.urls.length, 3);
    assert.ok(await env.cluster.streamLeader('authz'));
    for (const m of env.fleet.members) assert.ok(await env.cluster.nodeServing(`orders ${m.instance}`), `${m.instance} connected somewhere`);
  });

  it('kill -9 of the node a sidecar is connected to, during a burst: it fails over, all converge, in order', async (t) => {
    const report = await clusterNodeRestarts(env, { target: 'connected', rounds: 1, downMs: 500, gapMs: 10, between: 5 });
    assertClean(report, t);
    // The round killed the node orders-0 was on: it had to reconnect to another one.
    const first = env.fleet.members[0];
    assert.ok(
      first.sidecar.logs.some((l) => l.msg === 'nats reconnected'),
      `${first.instance} failed over`,
    );
  });

  it('kill -9 of the bucket stream leader during a burst: a new leader, everyone converges, in order', async (t) => {
    const report = await clusterNodeRestarts(env, { target: 'leader', rounds: 1, downMs: 500, gapMs: 10, between: 5 });
    assertClean(report, t);
    assert.deepEqual(orderViolations(env.fleet.members), []);
  });
});
