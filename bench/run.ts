/**
 * `npm run bench`: runs every scenario (or those named in BENCH_ONLY), writes the report to
 * bench/results.md (BENCH_OUT) and prints the results table. See bench/options.ts for the
 * knobs and bench/report.ts for what each row compares.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from './checks.js';
import { startCpuMeter } from './cpu-meter.js';
import { machine } from './machine.js';
import { parseOptions, type BenchOptions, type Group } from './options.js';
import { renderReport, resultsTable, type RowId } from './report.js';
import { coldStart } from './scenarios/cold-start.js';
import { cost } from './scenarios/cost.js';
import type { Context, Measured, ScenarioOutput } from './scenarios/context.js';
import { controlPlane } from './scenarios/control-plane.js';
import { freshTokens } from './scenarios/fresh-tokens.js';
import { introspection } from './scenarios/introspection.js';
import { h2loadRounds } from './scenarios/h2load-rounds.js';
import { httpMode } from './scenarios/http-mode.js';
import { memory } from './scenarios/memory.js';
import { policyEval } from './scenarios/policy-eval.js';
import { sustained } from './scenarios/sustained.js';
import { Targets } from './targets.js';

type Scenario = (ctx: Context) => Promise<ScenarioOutput>;

/** Which scenario functions cover which groups, in running order; `shared`: uses the shared servers. */
const PLAN: ReadonlyArray<{ groups: readonly Group[]; run: Scenario; shared: boolean }> = [
  { groups: ['allow', 'deny', 'latency', 'rules-10k', 'cel', 'shadow', 'gateway'], run: h2loadRounds, shared: true },
  { groups: ['http'], run: httpMode, shared: true },
  { groups: ['fresh-tokens'], run: freshTokens, shared: true },
  { groups: ['introspection'], run: introspection, shared: true },
  { groups: ['cost'], run: cost, shared: true },
  { groups: ['sustained'], run: sustained, shared: true },
  { groups: ['policy-eval'], run: policyEval, shared: false },
  { groups: ['memory'], run: memory, shared: false },
  { groups: ['push', 'rotation'], run: controlPlane, shared: false },
  { groups: ['cold-start'], run: coldStart, shared: false },
];

export async function runSuite(options: BenchOptions): Promise<{ markdown: string; table: string; failed: boolean }> {
  const started = performance.now();
  const host = await machine();
  const cpuShare = startCpuMeter(host.cores);
  const workDir = mkdtempSync(join(tmpdir(), 'authz-bench-work-'));
  const targets = new Targets(options);
  const ctx: Context = {
    options,
    ledger: new Ledger(),
    targets,
    workDir,
    progress: (line) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`),
  };
  const rows = new Map<RowId, Measured>();
  const raw: string[] = [];
  const commands: string[] = [];
  const failures = new Map<Group, string>();
  try {
    for (const step of PLAN) {
      const groups = step.groups.filter((g) => options.only.has(g));
      if (groups.length === 0) continue;
      // Idle servers must not sit next to the memory, control-plane and cold-start measurements.
      if (!step.shared) await targets.stopAll();
      try {
        const out = await step.run(ctx);
        for (const [id, measured] of Object.entries(out.rows)) rows.set(id as RowId, measured);
        raw.push(...out.raw);
        commands.push(...out.commands);
      } catch (error) {
        // A broken scenario (or a failed correctness check) voids its rows, not the others'.
        const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
        ctx.progress(`FAILED ${groups.join(', ')}: ${error instanceof Error ? error.stack : message}`);
        for (const g of groups) failures.set(g, message);
        await targets.stopAll();
      }
    }
  } finally {
    await targets.stopAll();
    // BENCH_KEEP_WORK=1 keeps the configs, policies and request bodies for profiling by hand.
    if (process.env.BENCH_KEEP_WORK === '1') ctx.progress(`work dir kept: ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
  const report = {
    options,
    machine: host,
    cpu: cpuShare(),
    date: new Date(),
    seconds: (performance.now() - started) / 1000,
    rows,
    failures,
    raw,
    checks: ctx.ledger.lines(),
    commands,
  };
  return { markdown: renderReport(report), table: resultsTable(report), failed: failures.size > 0 };
}

const options = parseOptions();
const { markdown, table, failed } = await runSuite(options);
writeFileSync(options.out, markdown);
process.stdout.write(`${table}\n\nwritten to ${options.out}\n`);
if (failed) process.exitCode = 1;
