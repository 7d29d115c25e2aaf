/**
 * The soak's outcome: everything measured, the verdict on each target, and the markdown
 * report (bench/soak-results.md) and console summary made from it.
 */
import type { CpuShare } from '../cpu-meter.js';
import type { Failure, LoadCounts } from '../load/paced.js';
import type { Machine } from '../report.js';
import { fmt, table } from '../scenarios/context.js';
import type { Applied, DocumentStep } from './cycle.js';
import type { SoakOptions } from './options.js';
import { between, delayFigures, ELD_RESOLUTION_MS, memoryFigures, summary, type Sample } from './samples.js';

export interface Cycle {
  readonly n: number;
  /** Seconds into the run the cycle started. */
  readonly at: number;
  readonly steps: readonly Applied[];
  /** Errors thrown while running the cycle (a put that failed, …). */
  readonly errors: readonly string[];
}

export interface SoakRun {
  readonly options: SoakOptions;
  readonly machine: Machine;
  readonly date: Date;
  readonly wallSeconds: number;
  readonly cpu: CpuShare;
  /** The floor server under the same load generator, unpaced; null when SOAK_RPS fixed the rate. */
  readonly floor: { readonly rps: number; readonly seconds: number; readonly completed: number } | null;
  readonly plannedRps: number;
  readonly load: LoadCounts;
  readonly failures: { readonly first: readonly Failure[]; readonly byKind: ReadonlyMap<string, number> };
  readonly samples: readonly Sample[];
  readonly cycles: readonly Cycle[];
  /** Probes the cycles made (answered allow / deny), for reconciling the sidecar's counters. */
  readonly probes: { readonly allow: number; readonly deny: number };
}

export interface Verdict {
  readonly name: string;
  readonly measured: string;
  readonly target: string;
  /** null: reported, not judged. */
  readonly met: boolean | null;
}

export interface Figures {
  readonly verdicts: readonly Verdict[];
  readonly failed: boolean;
  readonly json: Record<string, unknown>;
}

export function judge(run: SoakRun): Figures {
  const o = run.options;
  const { load } = run;
  const memory = memoryFigures(run.samples, o.warmupSeconds, o.seconds, o.sampleSeconds);
  const contention = between(run.samples.find((s) => s.t >= o.warmupSeconds - o.sampleSeconds / 2) ?? run.samples[0], run.samples[run.samples.length - 1]);
  const delay = delayFigures(run.samples, o.warmupSeconds);
  const steps = run.cycles.flatMap((c) => c.steps);
  const errors = run.cycles.flatMap((c) => c.errors);
  const of = (step: DocumentStep) => steps.filter((s) => s.step === step);
  const applied = (list: readonly Applied[]) => list.filter((s) => s.problem === null).length;
  const latency = (list: readonly Applied[]) => summary(list.map((s) => s.applyMs));
  const latencyText = (list: readonly Applied[]) => {
    const l = latency(list);
    return `apply p50 ${fmt.ms(l.p50)}, p99 ${fmt.ms(l.p99)}, max ${fmt.ms(l.max)}`;
  };
  const pushes = of('policy push');
  const added = of('key added');
  const retired = of('key retired');

  const first = run.samples[0];
  const last = run.samples[run.samples.length - 1];
  const allowGrew = last.allowed - first.allowed;
  const denyGrew = last.denied - first.denied;
  const expectAllow = load.ok + run.probes.allow;
  // A call the generator gave up on (timeout) or judged wrong may still have been counted.
  const reconciled =
    allowGrew >= expectAllow && allowGrew <= expectAllow + load.failed && denyGrew >= run.probes.deny && denyGrew <= run.probes.deny + load.failed;
  const achieved = load.completed / load.seconds;

  const verdicts: Verdict[] = [
    {
      name: 'failed Checks',
      measured: `${fmt.int(load.failed)} of ${fmt.int(load.completed)}${load.failed > 0 ? ` (${[...run.failures.byKind].map(([k, n]) => `${k} ×${n}`).join(', ')})` : ''}`,
      target: `0 (error, non-OK status, no answer within ${fmt.int(o.timeoutMs)} ms, or not allow/read-orders)`,
      met: load.failed === 0 && load.completed > 0,
    },
    {
      name: 'policy pushes applied',
      measured: `${applied(pushes)} of ${pushes.length}; ${latencyText(pushes)}`,
      target: `every one, every ${o.intervalSeconds} s`,
      met: pushes.length > 0 && applied(pushes) === pushes.length && errors.length === 0,
    },
    {
      name: 'key rotations applied',
      measured: `${applied(added)} of ${added.length} new kids (${latencyText(added)}); ${applied(retired)} of ${retired.length} old kids retired (${latencyText(retired)})`,
      target: `every one, every ${o.intervalSeconds} s, old kid retired ${o.overlapSeconds} s later`,
      met: added.length > 0 && applied(added) === added.length && applied(retired) === retired.length && retired.length > 0 && errors.length === 0,
    },
    {
      name: 'RSS growth after warm-up',
      measured:
        `${signed(memory.growthPercent)} % (median ${fmt.mib(memory.fromBytes)} over ${span(memory.fromAt)} → ${fmt.mib(memory.toBytes)} over ${span(memory.toAt)}; ` +
        `heap ${signed(memory.heapGrowthPercent)} %; first to last sample ${signed(memory.pointGrowthPercent)} %; peak ${fmt.mib(memory.peakRssBytes)}; trend ${signed(memory.slopeMiBPerMinute, 2)} MiB/min)`,
      target: o.smoke ? 'not judged in a smoke run (too short to mean anything)' : `< ${o.rssGrowthPercent} %`,
      met: o.smoke ? null : memory.growthPercent < o.rssGrowthPercent,
    },
    {
      name: 'event-loop delay',
      measured: `p99 ${fmt.ms(delay.p99)} (median of ${delay.windows} windows of ${o.sampleSeconds} s; worst window ${fmt.ms(delay.worstP99)}), p50 ${fmt.ms(delay.p50)}, max ${fmt.ms(delay.max)}`,
      target: `reported (includes the ${ELD_RESOLUTION_MS} ms sampling interval: idle reads ≈ ${ELD_RESOLUTION_MS} ms)`,
      met: null,
    },
    {
      name: 'CPU after warm-up',
      measured:
        `sidecar ${contention.cpuPercent.toFixed(0)} % of a core, its event-loop thread runnable but waiting for a CPU ${contention.waitPercent.toFixed(1)} % of the time; ` +
        `GC ≥ ${contention.gcSeconds.toFixed(1)} s, ${contention.gcOver100ms} pause(s) over 100 ms; load generator waiting ${contention.generatorWaitPercent.toFixed(1)} %, its loop stalled up to ${fmt.ms(Math.max(...run.samples.filter((x) => x.t >= o.warmupSeconds - o.sampleSeconds / 2).map((x) => x.generator.loopMaxMs)))}`,
      target: 'reported (run-queue wait = the machine, not the sidecar)',
      met: null,
    },
    {
      name: 'sidecar decision counters',
      measured: `authz_checks_total allow +${fmt.int(allowGrew)}, deny +${fmt.int(denyGrew)}; load answered OK ${fmt.int(load.ok)}, probes ${run.probes.allow} allow / ${run.probes.deny} deny`,
      target: 'allow = load OK + allow probes, deny = deny probes',
      met: reconciled,
    },
    {
      name: 'load achieved',
      measured: `${fmt.int(achieved)} of ${fmt.int(run.plannedRps)} rps planned (${((100 * achieved) / run.plannedRps).toFixed(0)} %, ${fmt.int(load.behind)} calls behind schedule at the end); Check latency p50 ${fmt.us(load.latencyUs.p50)}, p99 ${fmt.us(load.latencyUs.p99)}, max ${fmt.us(load.latencyUs.max)}; ${fmt.int(load.slow)} slower than ${o.envoyTimeoutMs} ms`,
      target: 'reported (the generator shares the cores with the sidecar)',
      met: null,
    },
  ];
  const failed = verdicts.some((v) => v.met === false);
  const json = {
    smoke: o.smoke,
    failed,
    plannedRps: run.plannedRps,
    floorRps: run.floor?.rps ?? null,
    checks: {
      completed: load.completed,
      ok: load.ok,
      failed: load.failed,
      slow: load.slow,
      byKind: Object.fromEntries(run.failures.byKind),
      first: run.failures.first,
    },
    pushes: { done: pushes.length, applied: applied(pushes), applyMs: latency(pushes) },
    rotations: {
      added: added.length,
      addedApplied: applied(added),
      retired: retired.length,
      retiredApplied: applied(retired),
      addMs: latency(added),
      retireMs: latency(retired),
    },
    problems: [...steps.filter((s) => s.problem !== null).map((s) => `${s.step} r${s.revision}: ${s.problem}`), ...errors],
    memory,
    contention,
    eventLoopDelayMs: delay,
    counters: { allowGrew, denyGrew, probes: run.probes, reconciled },
    samples: run.samples.length,
    verdicts,
  };
  return { verdicts, failed, json };
}

const signed = (x: number, digits = 1) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
const span = ([a, b]: readonly [number, number]) => `${Math.round(a)}–${Math.round(b)} s`;

function mark(met: boolean | null): string {
  return met === null ? '–' : met ? '✔' : '✘';
}

export function verdictTable(verdicts: readonly Verdict[]): string {
  return table(
    ['check', 'measured', 'target', 'met'],
    verdicts.map((v) => [v.name, v.measured.replace(/\|/g, '\\|'), v.target, mark(v.met)]),
  );
}

/** One row per cycle interval: the load and the sidecar over it. */
function timeline(run: SoakRun): string {
  const rows: string[][] = [];
  const every = run.options.intervalSeconds;
  for (let from = 0; from < run.options.seconds; from += every) {
    // Samples land a few ms after their tick: bucket them by the nearest tick.
    const half = run.options.sampleSeconds / 2;
    const span = run.samples.filter((s) => s.t > from + half && s.t <= from + every + half);
    if (span.length === 0) continue;
    const end = span[span.length - 1];
    const sum = (f: (s: Sample) => number) => span.reduce((n, s) => n + f(s), 0);
    const seconds = sum((s) => s.load.seconds);
    const cycle = run.cycles.find((c) => c.at >= from && c.at < from + every);
    const docs = cycle ? cycle.steps.map((s) => `${short(s.step)} ${s.problem === null ? fmt.ms(s.applyMs) : '✘'}`).join(', ') : '';
    const before = run.samples[run.samples.indexOf(span[0]) - 1] ?? span[0];
    const machine = between(before, end);
    rows.push([
      `${Math.round(from)}–${Math.round(end.t)} s`,
      fmt.int(sum((s) => s.load.completed) / seconds),
      fmt.int(sum((s) => s.load.failed)),
      fmt.us(Math.max(...span.map((s) => s.load.latencyUs.p99).filter(Number.isFinite))),
      fmt.mib(end.rssBytes),
      fmt.mib(end.heapUsedBytes),
      `${fmt.ms(median(span.map((s) => s.eld.p99)))} / ${fmt.ms(Math.max(...span.map((s) => s.eld.max)))}`,
      `${machine.cpuPercent.toFixed(0)} % / ${machine.waitPercent.toFixed(1)} %`,
      `${machine.generatorWaitPercent.toFixed(1)} % / ${fmt.ms(Math.max(...span.map((x) => x.generator.loopMaxMs)))}`,
      `${machine.gcSeconds.toFixed(2)} s${machine.gcOver100ms > 0 ? ` (${machine.gcOver100ms} > 100 ms)` : ''}`,
      docs,
    ]);
  }
  return table(
    [
      'span',
      'rps',
      'failed',
      'Check p99 (worst sample)',
      'RSS at end',
      'heap at end',
      'loop delay p99 (median) / max',
      'sidecar CPU / run-queue wait',
      'generator run-queue wait / loop max',
      'GC',
      'documents applied in',
    ],
    rows,
  );
}

const short = (step: DocumentStep) => (step === 'policy push' ? 'policy' : step === 'key added' ? 'kid+' : 'kid−');

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** "at 101.3 s: timeout … (×20)": the same failure at the same moment once. */
function grouped(failures: SoakRun['failures']['first']): string[] {
  const lines: Array<{ text: string; times: number }> = [];
  for (const f of failures) {
    const text = `at ${(f.atMs / 1000).toFixed(1)} s: ${f.why}`;
    if (lines.at(-1)?.text === text) lines.at(-1)!.times++;
    else lines.push({ text, times: 1 });
  }
  return lines.map((l) => `- ${l.text}${l.times > 1 ? ` (×${l.times})` : ''}`);
}

export function renderSoakReport(run: SoakRun, figures: Figures): string {
  const o = run.options;
  const m = run.machine;
  const percent = (s: number) => `${((100 * s) / run.cpu.availableSeconds).toFixed(1)} %`;
  const judged = figures.verdicts.filter((v) => v.met !== null);
  const problems = (figures.json.problems as string[]).map((p) => `- ${p}`);
  const firstFailures = grouped(run.failures.first);
  return `# authz-sidecar soak

Written by \`npm run soak\` (bench/soak.ts) on ${run.date.toISOString()}; do not edit by hand.
${o.smoke ? '\n**SMOKE RUN (SOAK_SMOKE=1): seconds instead of minutes. These figures prove the harness runs; RSS growth is not judged.**\n' : ''}
Sidecar measured: ${m.source}.
Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Linux ${m.kernel}; Node ${m.node}.
Other processes used ${run.cpu.otherSeconds.toFixed(1)} CPU-s (${percent(run.cpu.otherSeconds)} of the machine) while the soak ran; hypervisor steal ${run.cpu.stealSeconds.toFixed(1)} s (${percent(run.cpu.stealSeconds)}).
Settings: ${o.seconds} s under load at ${fmt.int(run.plannedRps)} rps (${run.floor ? `half the floor's ${fmt.int(run.floor.rps)} rps, measured for ${run.floor.seconds} s with the same load generator` : 'SOAK_RPS'}), ${o.connections} connections, at most ${o.maxInFlight} calls in flight, ${o.tokensPerKey} tokens per signing key; a policy push and a key rotation every ${o.intervalSeconds} s, the old kid retired ${o.overlapSeconds} s later; a sample every ${o.sampleSeconds} s; warm-up ${o.warmupSeconds} s; a Check fails after ${o.timeoutMs} ms. The soak took ${Math.round(run.wallSeconds)} s.

## Results

${judged.filter((v) => v.met).length} of ${judged.length} judged checks met.

${verdictTable(figures.verdicts)}

What was run: a real nats-server (JetStream, temp dir) and one real sidecar (\`dist/authz-sidecar.mjs\`)
taking the idp issuer's keys and its policy from the control-plane bucket (signed documents,
bench/publisher.ts). The load generator (bench/load/paced.ts) starts calls on a fixed schedule
over HTTP/2, with Envoy-shaped CheckRequests (bench/request.ts) carrying ES256 bearer tokens,
and decodes every answer: a call counts as failed on any error, non-OK status, no answer in
time, or an answer other than allow by rule \`read-orders\`. Each cycle pushes a policy revision
(its own rule must then allow and the previous revision's must not), publishes the key set
with a new kid next to the current one (once applied, the load switches to tokens of the new
kid), and later republishes it without the old kid (a token the load sent with it must then be
refused). Apply latency is from just before the KV put to the sidecar's \`control document
applied\` log line (1 ms resolution). RSS is VmRSS from /proc; heap, GC and event-loop delay
come from the sidecar's /metrics (prom-client default metrics; the event-loop histogram is
reset at each scrape, so each sample covers its window). RSS growth compares the median of
the samples over the first ${Math.round(Math.max(0.1 * o.seconds, 2 * o.sampleSeconds))} s after the warm-up with the median over the last
${Math.round(Math.max(0.1 * o.seconds, 2 * o.sampleSeconds))} s: the heap saw-tooths by tens of MiB between collections, so two single samples
would measure the GC phase. The sidecar's CPU time comes from /proc/PID/stat and the time its
event-loop thread was runnable but waiting for a CPU from /proc/PID/schedstat: on a shared
machine, that wait is where slow answers come from when it is high. The load generator's own
run-queue wait and longest event-loop stall are shown too: a stalled generator reads answers
late (it never cancels a call on a tick that ran more than 50 ms late).

## Over time

${timeline(run)}

${problems.length > 0 ? `## Problems\n\n${problems.join('\n')}\n\n` : ''}${firstFailures.length > 0 ? `## First failed Checks\n\n${firstFailures.join('\n')}\n\n` : ''}## Samples

<details><summary>Every sample (${run.samples.length}): seconds into the run, RSS, heap used, event-loop delay p50 / p99 / max over the window (ms, as exported), Checks answered and failed in the window, sidecar CPU and run-queue wait over the window.</summary>

${table(
  ['t', 'RSS', 'heap', 'loop delay', 'answered', 'failed', 'CPU / wait'],
  run.samples.map((s, i) => {
    const w = between(run.samples[Math.max(0, i - 1)], s);
    return [
      s.t.toFixed(0),
      fmt.mib(s.rssBytes),
      fmt.mib(s.heapUsedBytes),
      `${s.eld.p50.toFixed(1)} / ${s.eld.p99.toFixed(1)} / ${s.eld.max.toFixed(1)}`,
      fmt.int(s.load.completed),
      fmt.int(s.load.failed),
      i === 0 ? '' : `${w.cpuPercent.toFixed(0)} % / ${w.waitPercent.toFixed(1)} %`,
    ];
  }),
)}

</details>
`;
}

export function consoleSummary(run: SoakRun, figures: Figures): string {
  return `${verdictTable(figures.verdicts)}\n\nsoak ${figures.failed ? 'FAILED' : 'passed'}: ${fmt.int(run.load.completed)} Checks over ${Math.round(run.load.seconds)} s, ${run.cycles.length} push/rotation cycles`;
}
