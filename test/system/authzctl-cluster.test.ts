import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Run } from '../../testkit/authzctl.js';
import { startFleet, versionedPolicy, type Fleet } from '../../testkit/fleet.js';
import { startNatsCluster, type NatsCluster } from '../../testkit/nats-cluster.js';

/** authzctl against a 3-node cluster with one node lost: every attempt bounded, and it always exits. */
describe('authzctl with a NATS node dead or frozen (3-node cluster, R3 bucket)', () => {
  let cluster: NatsCluster;
  let fleet: Fleet;
  let version = 0;

  /** Runs authzctl, resolving its result and how long it took. */
  async function timed(...args: string[]): Promise<Run & { ms: number }> {
    const started = performance.now();
    const run = await fleet.ctl(...args);
    return { ...run, ms: Math.round(performance.now() - started) };
  }
  const publish = () => {
    const file = join(fleet.dir, `policy-${++version}.yaml`);
    writeFileSync(file, versionedPolicy(version));
    return timed('publish', 'policy', file, '--service', 'orders');
  };

  before(async () => {
    cluster = await startNatsCluster(3);
    fleet = await startFleet(cluster.urls, 0);
  });
  after(async () => {
    await fleet?.close();
    await cluster?.stop();
  });

  it('will not create an unreplicated bucket on a cluster implicitly; bucket create --replicas 3 makes an R3 bucket', async () => {
    const implicit = await timed(
      'publish',
      'policy',
      (writeFileSync(join(fleet.dir, 'p.yaml'), versionedPolicy(0)), join(fleet.dir, 'p.yaml')),
      '--service',
      'orders',
    );
    assert.equal(implicit.code, 2);
    assert.match(
      implicit.stderr,
      /^authzctl: bucket "authz" does not exist, and the NATS server is part of cluster "authz-chaos": create it with a replica count first \(authzctl bucket create --replicas 3\)\n$/,
    );
    const created = await timed('bucket', 'create', '--replicas', '3');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^replicas\s+3$/m);
    assert.match(created.stdout, /^rollups\s+refused$/m);
    const info = await timed('bucket', 'info', '--json');
    const parsed = JSON.parse(info.stdout) as { replicas: number; leader: string; peers: Array<{ current: boolean }> };
    assert.equal(parsed.replicas, 3);
    assert.ok(parsed.leader);
    assert.equal(parsed.peers.length, 2);
    const first = await publish();
    assert.equal(first.code, 0, first.stderr);
  });

  it('the stream leader killed: every publish, revoke and read succeeds within 20 s', async (t) => {
    const leader = await cluster.streamLeader('authz');
    const victim = cluster.nodes.find((n) => n.name === leader)!;
    await victim.server.kill9();
    const runs: Array<Run & { ms: number; what: string }> = [];
    try {
      for (let i = 0; i < 3; i++) {
        runs.push({ ...(await publish()), what: 'publish' });
        runs.push({ ...(await timed('revoke', '--sub', `user-${i}`, '--until', '1h')), what: 'revoke' });
      }
      runs.push({ ...(await timed('history', 'policy.orders')), what: 'history' });
      runs.push({ ...(await timed('revoke', '--list')), what: 'revoke --list' });
      runs.push({ ...(await timed('bucket', 'info')), what: 'bucket info' });
    } finally {
      await victim.server.restart();
      await cluster.waitForJetStream();
    }
    t.diagnostic(`killed ${victim.name}; ${runs.map((r) => `${r.what} ${r.code === 0 ? 'ok' : `exit ${r.code}`} ${r.ms} ms`).join(', ')}`);
    for (const run of runs) {
      assert.equal(run.code, 0, `${run.what}: ${run.stderr}`);
      assert.ok(run.ms < 20_000, `${run.what} took ${run.ms} ms`);
    }
    assert.match(runs.at(-1)!.stdout, /^followers\s+.*OFFLINE|^followers\s+.*current/m);
  });

  it('a node frozen (SIGSTOP), listed first: authzctl always exits, within --retry-for and the timeout, with one line when it fails', async (t) => {
    // The node the previous test restarted must have caught up, or freezing the leader leaves no quorum.
    await cluster.waitForStreamCurrent('authz');
    const leader = await cluster.streamLeader('authz');
    const victim = cluster.nodes.find((n) => n.name === leader)!;
    const others = cluster.urls.filter((u) => u !== victim.server.url);
    process.kill(victim.server.pid, 'SIGSTOP');
    const runs: Array<Run & { ms: number }> = [];
    try {
      for (let i = 0; i < 2; i++) {
        const file = join(fleet.dir, `frozen-${i}.yaml`);
        writeFileSync(file, versionedPolicy(100 + i));
        runs.push(
          await timed(
            'publish',
            'policy',
            file,
            '--service',
            'orders',
            '--nats',
            victim.server.url,
            ...others.flatMap((u) => ['--nats', u]),
            '--retry-for',
            '15s',
          ),
        );
      }
      runs.push(await timed('history', 'policy.orders', '--nats', victim.server.url, ...others.flatMap((u) => ['--nats', u])));
    } finally {
      process.kill(victim.server.pid, 'SIGCONT');
      await cluster.waitForJetStream();
    }
    t.diagnostic(`froze ${victim.name}; ${runs.map((r) => `${r.code === 0 ? 'ok' : `exit ${r.code}: ${r.stderr.trim()}`} ${r.ms} ms`).join(', ')}`);
    for (const run of runs) {
      assert.notEqual(run.code, -1, "killed by the test helper's timeout: it did not exit");
      assert.ok(run.ms < 15_000 + 5_000 + 3_000, `took ${run.ms} ms`);
      if (run.code !== 0) assert.match(run.stderr, /^authzctl: [^\n]+\n$/);
    }
    // Reads do not need the frozen leader: any live replica answers them.
    assert.equal(runs.at(-1)!.code, 0, runs.at(-1)!.stderr);
  });
});
