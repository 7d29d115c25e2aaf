/**
 * The soak's verdicts (bench/soak/result.ts) on made-up runs: RSS growth is measured from
 * the first sample after the warm-up to the last, start-up growth does not count, a leak
 * fails the run, and so do a failed Check, a document never applied, or sidecar counters that
 * do not match what the load saw. A smoke run reports RSS without judging it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadCounts } from '../../bench/load/paced.js';
import type { Applied } from '../../bench/soak/cycle.js';
import { parseSoakOptions } from '../../bench/soak/options.js';
import { judge, renderSoakReport, type SoakRun } from '../../bench/soak/result.js';
import type { Sample } from '../../bench/soak/samples.js';

const MiB = 1024 * 1024;
const window = (completed: number, failed = 0): LoadCounts => ({
  seconds: 5,
  started: completed,
  completed,
  ok: completed - failed,
  failed,
  slow: 0,
  behind: 0,
  latencyUs: { p50: 500, p99: 2_000, max: 9_000 },
});

/** 100 s, a sample every 5 s, 1,000 Checks per window; `rss(t)` in MiB. */
function makeRun(rss: (t: number) => number, overrides: { smoke?: boolean; failed?: number; problem?: string | null; extraAllow?: number } = {}): SoakRun {
  const options = parseSoakOptions({
    SOAK_SECONDS: '100',
    SOAK_INTERVAL_SECONDS: '30',
    SOAK_SAMPLE_SECONDS: '5',
    ...(overrides.smoke ? { SOAK_SMOKE: '1' } : {}),
  });
  const samples: Sample[] = [];
  let allowed = 0;
  for (let t = 0; t <= 100; t += 5) {
    const load = t === 0 ? window(0) : window(1_000, t === 50 ? (overrides.failed ?? 0) : 0);
    allowed += load.ok + (t === 50 ? 2 + (overrides.extraAllow ?? 0) : 0);
    const cumulative = {
      cpuSeconds: t * 0.5,
      waitSeconds: t * 0.02,
      gcSeconds: t * 0.01,
      gcOver100ms: t >= 50 ? 1 : 0,
      generator: { loopMaxMs: 12, waitSeconds: t * 0.01 },
    };
    samples.push({
      t,
      rssBytes: rss(t) * MiB,
      heapUsedBytes: 30 * MiB,
      eld: { p50: 10.1, p99: 12 + t / 100, max: 20 },
      allowed,
      denied: t >= 50 ? 4 : 0,
      load,
      ...cumulative,
    });
  }
  const step = (s: Applied['step'], problem: string | null = null): Applied => ({
    step: s,
    revision: 2,
    applyMs: 12,
    putMs: 2,
    effective: problem === null,
    problem,
  });
  const failed = overrides.failed ?? 0;
  return {
    options,
    machine: { cpu: 'test', cores: 2, memory: '1 GiB', node: 'v20', h2load: '-', kernel: '-', source: '-' },
    date: new Date(0),
    wallSeconds: 110,
    cpu: { otherSeconds: 0, stealSeconds: 0, availableSeconds: 220 },
    floor: { rps: 2_000, seconds: 5, completed: 10_000 },
    plannedRps: 200,
    load: { ...window(20_000, failed), seconds: 100 },
    failures: { first: failed ? [{ atMs: 50_000, why: 'grpc-status 14' }] : [], byKind: new Map(failed ? [['grpc-status 14', failed]] : []) },
    samples,
    cycles: [30, 60].map((at, i) => ({
      n: i + 1,
      at,
      steps: [step('policy push', i === 1 ? (overrides.problem ?? null) : null), step('key added'), step('key retired')],
      errors: [],
    })),
    probes: { allow: 2, deny: 4 },
  };
}

const verdict = (run: SoakRun, name: string) => judge(run).verdicts.find((v) => v.name === name)!;

test('soak verdict: start-up growth does not count; RSS growth compares the medians of the first and last 10 s after the warm-up (20 s)', () => {
  const run = makeRun((t) => (t < 20 ? 60 + t * 2 : 100 + (t - 20) * 0.05));
  const figures = judge(run);
  assert.equal(figures.failed, false, JSON.stringify(figures.verdicts));
  const memory = figures.json.memory as { fromBytes: number; toBytes: number; growthPercent: number };
  assert.equal(memory.fromBytes, 100.25 * MiB); // samples at 20, 25, 30 s
  assert.equal(memory.toBytes, 103.75 * MiB); // samples at 90, 95, 100 s
  assert.ok(Math.abs(memory.growthPercent - (100 * 3.5) / 100.25) < 1e-9);
  assert.equal(verdict(run, 'RSS growth after warm-up').met, true);
  assert.match(renderSoakReport(run, figures), /^\| RSS growth after warm-up \| \+3\.5 % \(median 100\.3 MiB over 20–30 s → 103\.8 MiB over 90–100 s/m);
  assert.match(
    verdict(run, 'CPU after warm-up').measured,
    /^sidecar 50 % of a core, its event-loop thread runnable but waiting for a CPU 2\.0 % of the time; GC ≥ 0\.8 s, 1 pause\(s\) over 100 ms; load generator waiting 1\.0 %, its loop stalled up to 12\.0 ms$/,
  );
});

test('soak verdict: a GC saw-tooth without a trend is not growth, though its first and last samples differ by 13 %', () => {
  const run = makeRun((t) => [100, 115, 130][(t / 5) % 3]);
  const memory = judge(run).json.memory as { growthPercent: number; pointGrowthPercent: number };
  assert.equal(memory.growthPercent, 0);
  assert.ok(memory.pointGrowthPercent > 13);
  assert.equal(verdict(run, 'RSS growth after warm-up').met, true);
});

test('soak verdict: RSS growing 10 % or more after warm-up fails the run; a smoke run only reports it', () => {
  const leak = makeRun((t) => 100 + Math.max(0, t - 20) * 0.2);
  assert.equal(verdict(leak, 'RSS growth after warm-up').met, false);
  assert.equal(judge(leak).failed, true);
  const smoke = makeRun((t) => 100 + Math.max(0, t - 20) * 0.2, { smoke: true });
  assert.equal(verdict(smoke, 'RSS growth after warm-up').met, null);
  assert.equal(judge(smoke).failed, false);
});

test('soak verdict: one failed Check, one document not applied, or counters that disagree fail the run', () => {
  const flat = () => 100;
  assert.equal(judge(makeRun(flat)).failed, false);

  const failedCheck = makeRun(flat, { failed: 1 });
  assert.equal(verdict(failedCheck, 'failed Checks').met, false);
  assert.match(verdict(failedCheck, 'failed Checks').measured, /^1 of 20,000 \(grpc-status 14 ×1\)$/);

  const unapplied = makeRun(flat, { problem: 'revision 3 not logged as applied within 10000 ms' });
  assert.equal(verdict(unapplied, 'policy pushes applied').met, false);
  assert.deepEqual(judge(unapplied).json.problems, ['policy push r2: revision 3 not logged as applied within 10000 ms']);

  // The sidecar allowed 7 more than the load and the probes account for.
  const counters = makeRun(flat, { extraAllow: 7 });
  assert.equal(verdict(counters, 'sidecar decision counters').met, false);
});
