#!/usr/bin/env node
/**
 * `npm run chaos`: the long variant of test/system/ with real durations. Real nats-servers
 * (one, then a local 3-node JetStream cluster), 3 real sidecars, signed policy revisions
 * published as fast as the server acknowledges them, every sidecar probed with Checks every
 * 50 ms. Per scenario it prints the figures; it exits 1 on any violation (a failed or wrong
 * Check, an out-of-order apply, a sidecar not on the newest revision at the end).
 *
 *   CHAOS_OUTAGE_SECONDS   how long the single server is stopped / dead (default 30)
 *   CHAOS_ROUNDS           cluster node restarts, per kind (default 5)
 *   CHAOS_UPDATES          updates published while the slow sidecar is stopped (default 1000)
 *   CHAOS_SIDECARS         sidecars per scenario (default 3)
 *   CHAOS_GUARANTEE_ROUNDS faults of each kind in the "2 s during the fault" scenario (default 3)
 */
import { ROOT } from '../dist/testkit/paths.js';
import { clusterNodeRestarts, serverOutage, slowConsumer, startClusterEnv, startSingleServerEnv, violations } from '../dist/testkit/chaos.js';
import { faultDuringPublishing, formatGuarantee } from '../dist/testkit/chaos-guarantees.js';

const number = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const outageMs = number('CHAOS_OUTAGE_SECONDS', 30) * 1000;
const rounds = number('CHAOS_ROUNDS', 5);
const updates = number('CHAOS_UPDATES', 1000);
const sidecars = number('CHAOS_SIDECARS', 3);
const guaranteeRounds = number('CHAOS_GUARANTEE_ROUNDS', 3);

const reports = [];
function print(report) {
  const bad = violations(report) > 0;
  console.log(`\n${bad ? 'FAIL' : 'ok  '} ${report.scenario}`);
  console.log(`     sidecars ${report.sidecars}, updates published ${report.published} (newest revision ${report.newest})`);
  console.log(
    `     converged ${report.convergeMs} ms after recovery; ${report.lagMs} ms after the newest write; writes stalled up to ${report.publishStallMs} ms`,
  );
  console.log(`     Checks ${report.checks}, failed Checks ${report.failedChecks}, out-of-order applies ${report.outOfOrder}, documents lost ${report.lost}`);
  for (const note of report.notes) console.log(`     - ${note}`);
  for (const failure of report.failures.slice(0, 10)) console.log(`     ! ${failure}`);
  reports.push(report);
}

async function scenario(name, run) {
  const started = performance.now();
  process.stdout.write(`\n== ${name} `);
  try {
    await run();
  } catch (error) {
    console.log(`\nFAIL ${name}: ${error?.stack ?? error}`);
    reports.push({ scenario: name, failures: [String(error)], failedChecks: 0, outOfOrder: 0, lost: 0 });
  }
  console.log(`   (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

console.log(`authz-sidecar NATS chaos (${ROOT}): outage ${outageMs / 1000} s, ${rounds} rounds, ${updates} slow-consumer updates, ${sidecars} sidecars`);

await scenario('one nats-server', async () => {
  const env = await startSingleServerEnv(sidecars);
  try {
    print(await serverOutage(env, { mode: 'sigstop', outageMs, gapMs: 20, beforeOutage: 50, afterOutage: 50, convergeTimeoutMs: 60_000 }));
    print(await serverOutage(env, { mode: 'kill9', outageMs, gapMs: 20, beforeOutage: 50, afterOutage: 50, convergeTimeoutMs: 60_000 }));
    print(await slowConsumer(env, { stopMs: outageMs, updates, convergeTimeoutMs: 60_000 }));
  } finally {
    await env.close();
  }
});

await scenario('3-node JetStream cluster', async () => {
  const env = await startClusterEnv(sidecars);
  try {
    print(await clusterNodeRestarts(env, { target: 'connected', rounds, downMs: 5_000, gapMs: 10, between: 30, convergeTimeoutMs: 60_000 }));
    print(await clusterNodeRestarts(env, { target: 'leader', rounds, downMs: 5_000, gapMs: 10, between: 30, convergeTimeoutMs: 60_000 }));
  } finally {
    await env.close();
  }
});

// The promise itself, measured while the fault lasts: one sidecar per node, the stream leader
// killed or frozen while 10 revisions and a revocation are published, each to be enforced by
// every sidecar within 2 s of the cluster accepting it. A fresh cluster per fault.
for (const fault of ['kill9', 'sigstop']) {
  for (let round = 1; round <= guaranteeRounds; round++) {
    await scenario(`3-node cluster, 2 s promise: ${fault} the stream leader (${round}/${guaranteeRounds})`, async () => {
      const env = await startClusterEnv(3, { pinned: true });
      try {
        const report = await faultDuringPublishing(env, { fault, faultMs: 10_000, revisions: 10, boundMs: 2_000 });
        console.log(`\n${report.failures.length === 0 ? 'ok  ' : 'FAIL'} ${formatGuarantee(report)}`);
        for (const failure of report.failures.slice(0, 10)) console.log(`     ! ${failure}`);
        reports.push({ scenario: report.scenario, failures: report.failures, failedChecks: 0, outOfOrder: 0, lost: 0 });
      } finally {
        await env.close();
      }
    });
  }
}

const total = reports.reduce((n, r) => n + violations(r), 0);
console.log(`\n${reports.length} scenarios, ${total} violation(s): ${total === 0 ? 'PASS' : 'FAIL'}`);
process.exit(total === 0 ? 0 : 1);
