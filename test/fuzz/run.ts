/**
 * The long fuzz run: `npm run fuzz` (builds first). Runs every property of properties.ts for
 * its share of FUZZ_CASES (default 1,000,000 in total), prints per property the cases run,
 * failures, seed and outcome counts, and exits 1 on any failure. FUZZ_SEED fixes the seed
 * (default: a fresh one, printed); FUZZ_ONLY=name,name runs a subset.
 *
 * `node --test dist/test/` also loads this file: under the test runner it does nothing.
 */
import fc from 'fast-check';
import { PROPERTIES, closeShared, type FuzzProperty } from './properties.js';

interface Row {
  readonly name: string;
  readonly cases: number;
  readonly failed: boolean;
  readonly seconds: number;
  readonly seed: number;
  readonly report: string;
  readonly stats: string;
}

async function runOne(definition: FuzzProperty, numRuns: number, seed: number): Promise<Row> {
  const started = performance.now();
  const running = await definition.start();
  let failed = false;
  let report = '';
  let cases = 0;
  try {
    const details = await fc.check(running.property, { numRuns, seed, includeErrorInReport: true });
    cases = details.numRuns;
    if (details.failed) {
      failed = true;
      report = fc.defaultReportMessage(details) ?? 'failed';
    } else {
      await running.afterAll?.();
    }
  } catch (error) {
    failed = true;
    report = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    await running.close();
  }
  const stats = [...running.stats]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return { name: definition.name, cases, failed, seconds: (performance.now() - started) / 1000, seed, report, stats };
}

async function main(): Promise<number> {
  const total = Number(process.env.FUZZ_CASES ?? 1_000_000);
  const seed = Number(process.env.FUZZ_SEED ?? (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0);
  const only = process.env.FUZZ_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const chosen = PROPERTIES.filter((p) => only === undefined || only.includes(p.name));
  if (chosen.length === 0) {
    process.stderr.write(`fuzz: no property matches FUZZ_ONLY; known: ${PROPERTIES.map((p) => p.name).join(', ')}\n`);
    return 2;
  }
  process.stdout.write(`fuzz: ${total} cases across ${chosen.length} properties, seed ${seed} (replay with FUZZ_SEED=${seed})\n`);
  const rows: Row[] = [];
  const began = performance.now();
  for (const definition of chosen) {
    const numRuns = Math.max(1, Math.round((definition.perMillion * total) / 1_000_000));
    process.stdout.write(`  ${definition.name}: ${numRuns} cases…\n`);
    const row = await runOne(definition, numRuns, seed);
    rows.push(row);
    process.stdout.write(`  ${row.name}: ${row.cases} cases in ${row.seconds.toFixed(1)} s, ${row.failed ? 'FAILED' : 'ok'}\n    outcomes: ${row.stats}\n`);
    if (row.failed) process.stdout.write(`${row.report.replace(/^/gm, '    ')}\n`);
  }
  closeShared();
  const cases = rows.reduce((sum, r) => sum + r.cases, 0);
  const failures = rows.filter((r) => r.failed);
  process.stdout.write(`\n${'property'.padEnd(32)} ${'cases'.padStart(9)} ${'seconds'.padStart(8)}  result\n`);
  for (const r of rows)
    process.stdout.write(`${r.name.padEnd(32)} ${String(r.cases).padStart(9)} ${r.seconds.toFixed(1).padStart(8)}  ${r.failed ? 'FAILED' : 'ok'}\n`);
  process.stdout.write(`${'total'.padEnd(32)} ${String(cases).padStart(9)} ${((performance.now() - began) / 1000).toFixed(1).padStart(8)}  seed ${seed}\n`);
  process.stdout.write(`properties: ${rows.length - failures.length} passed, ${failures.length} failed\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
