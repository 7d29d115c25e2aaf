/**
 * The soak (`npm run soak`) in its fast variant (SOAK_SMOKE=1): the same code against a real
 * nats-server and sidecar for ~11 s at half the measured floor rate, a policy push and a key
 * rotation every 3 s. Zero failed Checks, every document applied, and every figure present;
 * no RSS threshold (too short to mean anything) and no speed assertion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../testkit/paths.js';

function runSoak(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // SIGTERM on timeout: the harness then stops the sidecar and nats-server it started.
    execFile(
      process.execPath,
      [`${ROOT}dist/bench/soak.js`],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 50_000, killSignal: 'SIGTERM' },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

const finite = (x: unknown, what: string) => assert.ok(typeof x === 'number' && Number.isFinite(x), `${what} is ${String(x)}`);

test('soak: seconds-long run with pushes and rotations every 3 s, zero failed Checks (SOAK_SMOKE=1)', { timeout: 55_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-soak-smoke-'));
  try {
    const out = join(dir, 'soak.md');
    const json = join(dir, 'soak.json');
    const run = await runSoak({ SOAK_SMOKE: '1', SOAK_OUT: out, SOAK_JSON: json });
    assert.equal(run.code, 0, `soak failed:\n${run.stdout}\n${run.stderr}`);
    const r = JSON.parse(readFileSync(json, 'utf8'));

    assert.equal(r.smoke, true);
    assert.equal(r.failed, false);
    assert.ok(r.checks.completed > 0, 'no Checks completed');
    assert.equal(r.checks.failed, 0, `failed Checks: ${JSON.stringify(r.checks)}`);
    assert.equal(r.checks.ok, r.checks.completed);
    finite(r.floorRps, 'floor rps');
    assert.equal(r.plannedRps, Math.max(1, Math.round(r.floorRps / 2)), 'the load runs at half the floor');

    // 11 s with a cycle every 3 s: cycles at 3, 6 and 9 s (the last one's retirement at 10.5 s).
    assert.deepEqual(r.problems, []);
    assert.equal(r.pushes.done, 3);
    assert.equal(r.pushes.applied, 3);
    assert.equal(r.rotations.added, 3);
    assert.equal(r.rotations.addedApplied, 3);
    assert.equal(r.rotations.retired, 3);
    assert.equal(r.rotations.retiredApplied, 3);
    for (const figure of [r.pushes.applyMs, r.rotations.addMs, r.rotations.retireMs]) {
      assert.equal(figure.count, 3);
      finite(figure.p99, 'apply latency p99');
    }

    // The sidecar's own decision counters agree with what the load saw, probes included.
    assert.equal(r.counters.reconciled, true, JSON.stringify(r.counters));
    assert.ok(r.counters.allowGrew >= r.checks.ok);
    assert.ok(r.counters.probes.deny >= 6, 'each cycle probes the old policy revision and the retired kid');

    // Figures present, not judged.
    assert.ok(r.samples >= 10, `${r.samples} samples`);
    for (const k of ['fromBytes', 'toBytes', 'peakRssBytes']) assert.ok(r.memory[k] > 10 * 1024 * 1024, `memory.${k} = ${r.memory[k]}`);
    finite(r.memory.growthPercent, 'RSS growth');
    finite(r.memory.slopeMiBPerMinute, 'RSS trend');
    assert.ok(r.eventLoopDelayMs.windows >= 5, `${r.eventLoopDelayMs.windows} event-loop windows`);
    for (const k of ['p50', 'p99', 'worstP99', 'max']) assert.ok(r.eventLoopDelayMs[k] > 0, `event-loop delay ${k} = ${r.eventLoopDelayMs[k]}`);
    for (const k of ['cpuPercent', 'waitPercent', 'gcSeconds', 'generatorWaitPercent']) finite(r.contention[k], `contention.${k}`);
    assert.ok(r.contention.cpuPercent > 0, 'the sidecar used no CPU under load?');
    const rss = r.verdicts.find((v: { name: string }) => v.name === 'RSS growth after warm-up');
    assert.equal(rss.met, null, 'a smoke run does not judge RSS');

    const markdown = readFileSync(out, 'utf8');
    assert.match(markdown, /SMOKE RUN/);
    assert.match(markdown, /^\| failed Checks \| 0 of [\d,]+ \|/m);
    assert.match(markdown, /^\| event-loop delay \| p99 [\d.]+ ms/m);
    assert.match(markdown, /^\| \d+–\d+ s \| [\d,]+ \| 0 \| .* policy [\d.]+ ms, kid\+ [\d.]+ ms, kid− [\d.]+ ms \|$/m);
    assert.match(run.stdout, /soak passed: [\d,]+ Checks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
