/**
 * The benchmark harness, end to end with tiny counts (BENCH_SMOKE=1): every scenario runs
 * against real processes and the report has a row with numbers for each, and the
 * correctness pre-checks ran. No thresholds: on a busy test machine the figures mean
 * nothing; `npm run bench` is where they are measured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { h2loadVersion } from '../../bench/h2load.js';
import { parseOptions } from '../../bench/options.js';
import { rowSpecs } from '../../bench/report.js';
import { ROOT } from '../../testkit/paths.js';

const SMOKE_ENV = { BENCH_SMOKE: '1' };

function runHarness(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // SIGTERM on timeout: the harness then stops the sidecars and nats-server it started.
    execFile(
      process.execPath,
      [`${ROOT}dist/bench/run.js`],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 55_000, killSignal: 'SIGTERM' },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

/** scenario → { measured, met } from the results table. */
function resultRows(markdown: string): Map<string, { measured: string; met: string }> {
  const section = markdown.split('## Results')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, { measured: string; met: string }>();
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    if (cells.length !== 4 || line.startsWith('| scenario') || line.startsWith('| ---')) continue;
    rows.set(cells[0].replace(/^\| /, ''), { measured: cells[1], met: cells[3].replace(/ \|$/, '') });
  }
  return rows;
}

test('bench harness: every scenario runs and reports numbers (BENCH_SMOKE=1)', { timeout: 60_000 }, async () => {
  // Fails with "h2load not found (…): install it with apt-get install -y nghttp2-client".
  await h2loadVersion();
  const dir = mkdtempSync(join(tmpdir(), 'authz-bench-smoke-'));
  try {
    const out = join(dir, 'results.md');
    const run = await runHarness({ ...SMOKE_ENV, BENCH_OUT: out });
    assert.equal(run.code, 0, `harness failed:\n${run.stdout}\n${run.stderr}`);
    const markdown = readFileSync(out, 'utf8');
    assert.match(markdown, /SMOKE RUN/);

    // Informational rows (no target in the issue) are not counted as targets.
    const judged = rowSpecs(parseOptions(SMOKE_ENV)).filter((spec) => !spec.informational).length;
    assert.match(markdown, new RegExp(`\\d+ of ${judged} measured targets met`));
    const rows = resultRows(markdown);
    const specs = rowSpecs(parseOptions(SMOKE_ENV));
    assert.equal(rows.size, specs.length, `expected ${specs.length} result rows:\n${markdown}`);
    for (const spec of specs) {
      const row = rows.get(spec.scenario);
      assert.ok(row, `no row for "${spec.scenario}"`);
      assert.match(row.measured, /\d/, `${spec.scenario}: no figure in "${row.measured}"`);
      assert.match(row.met, spec.informational ? /^info$/ : /^[✔✘]$/, `${spec.scenario}: met is "${row.met}"`);
    }

    // The correctness pre-checks ran, and the sidecars' decision counters were compared.
    const checks = markdown.split('## Correctness checks')[1] ?? '';
    const prechecks = [...checks.matchAll(/(\d+) pre-check\(s\) ✔/g)].reduce((n, m) => n + Number(m[1]), 0);
    assert.ok(prechecks >= 10, `only ${prechecks} pre-checks:\n${checks}`);
    for (const name of ['floor', 'limit', 'floor-verify', 'sidecar-50'])
      assert.match(checks, new RegExp(`^- ${name}, .*pre-check`, 'm'), `no pre-check of ${name}`);
    assert.match(checks, /credentials_missing: \d+ pre-check.*authz_checks_total grew by/);
    assert.match(checks, /token-cache misses \+\d+/);
    assert.match(
      markdown,
      /^h2load -c 4 -m 16 .*-H 'content-type: application\/grpc' -H 'te: trailers' http:\/\/127\.0\.0\.1:\$PORT\/envoy\.service\.auth\.v3\.Authorization\/Check$/m,
    );

    // The same table goes to stdout.
    assert.match(run.stdout, /\| scenario \| measured \| target \| met \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
