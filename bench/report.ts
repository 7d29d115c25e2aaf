/**
 * The results table: one row per target of the benchmark issue, always all of them: a
 * row whose scenario did not run says so, and a missed target shows ✘, never disappears.
 * Renders bench/results.md and the table printed at the end of `npm run bench`.
 */
import { SHIPPED_NODE_FLAGS, SHIPPED_NODE_OPTIONS } from './processes.js';
import type { CpuShare } from './cpu-meter.js';
import { runLengthText, type BenchOptions, type Group } from './options.js';
import { table, type Measured } from './scenarios/context.js';
import { COST_RATES } from './scenarios/cost.js';

export type RowId =
  | 'allow-rps'
  | 'allow-p99'
  | 'deny-rps'
  | 'fresh-rps'
  | 'cost-fresh'
  | 'cost-allow'
  | 'cost-allow-low'
  | 'cost-deny'
  | 'idle-cpu'
  | 'large-rps'
  | 'large-eval-p99'
  | 'cel-rps'
  | 'shadow-rps'
  | 'gateway-rps'
  | 'http-rps'
  | 'introspection-rps'
  | 'memory-rss'
  | 'memory-bound'
  | 'push-p99'
  | 'rotation-p99'
  | 'cold-local'
  | 'cold-cached'
  | 'sustained-rps';

export interface RowSpec {
  readonly id: RowId;
  readonly group: Group;
  readonly scenario: string;
  readonly target: string;
  /** A figure reported without a target of the issue: its cell says "info" and it is not counted. */
  readonly informational?: true;
}

export function rowSpecs(o: BenchOptions): RowSpec[] {
  const n = (x: number) => x.toLocaleString('en');
  const rps = `${n(o.latencyRps)} rps`;
  return [
    { id: 'allow-rps', group: 'allow', scenario: 'allow, cached token, 50-rule policy: throughput', target: '≥ 1.0 × floor rps (≥ 0.75 × limit)' },
    {
      id: 'allow-p99',
      group: 'latency',
      scenario: `allow, cached token, 50-rule policy: p99 at ${rps}`,
      target: `≤ 1.2 × floor p99 in each of ${o.latencyRounds} runs`,
    },
    { id: 'deny-rps', group: 'deny', scenario: 'deny, no token: throughput', target: '≥ 1.0 × floor rps' },
    {
      id: 'fresh-rps',
      group: 'fresh-tokens',
      scenario: 'allow, every token new (ES256 verify each time)',
      target: '≥ 0.8 × floor-verify rps (floor + one node:crypto ES256 verify)',
    },
    {
      id: 'cost-fresh',
      group: 'fresh-tokens',
      scenario: 'allow, every token new: server CPU per Check (the same runs)',
      target: '≤ 1.0 × floor-verify (floor + one ES256 verify)',
    },
    {
      id: 'cost-allow',
      group: 'cost',
      scenario: `allow, cached token: server CPU per Check at ${n(COST_RATES[1])} rps`,
      target: '≤ 1.10 × floor and ≤ 1.05 × same-bytes floor',
    },
    {
      id: 'cost-allow-low',
      group: 'cost',
      scenario: `allow, cached token: server CPU per Check at ${n(COST_RATES[0])} rps`,
      target: 'none (informational: a low production rate)',
      informational: true,
    },
    { id: 'cost-deny', group: 'cost', scenario: `deny, no token: server CPU per Check at ${n(COST_RATES[1])} rps`, target: '≤ 1.05 × floor' },
    { id: 'idle-cpu', group: 'cost', scenario: 'idle: CPU while no Check arrives', target: '≤ 0.2 % of a core' },
    { id: 'large-rps', group: 'rules-10k', scenario: `${n(o.largeRules)}-rule policy: throughput`, target: '≥ 0.9 × 50-rule rps' },
    { id: 'large-eval-p99', group: 'policy-eval', scenario: `${n(o.largeRules)}-rule policy: evaluation p99 (in-process)`, target: '≤ 20 µs' },
    { id: 'cel-rps', group: 'cel', scenario: 'CEL condition on the matching rule: throughput', target: '≥ 0.9 × same policy without it' },
    { id: 'shadow-rps', group: 'shadow', scenario: 'allow, cached token, with a 50-rule shadow policy: throughput', target: '≥ 0.9 × same sidecar without it' },
    {
      id: 'gateway-rps',
      group: 'gateway',
      scenario: 'gateway of 50 services (50 rules each), chosen by context_extensions.service: throughput',
      target: '≥ 0.95 × single-service sidecar',
    },
    {
      id: 'http-rps',
      group: 'http',
      scenario: 'HTTP mode (nginx convention), allow, cached token, 50-rule policy: throughput',
      target: '≥ 0.9 × http-floor rps (bare node:http, h2load --h1)',
    },
    {
      id: 'introspection-rps',
      group: 'introspection',
      scenario: 'allow, cached introspected opaque token (RFC 7662), 50-rule policy: throughput',
      target: '≥ 0.9 × the same sidecar with cached JWTs',
    },
    { id: 'memory-rss', group: 'memory', scenario: `memory: RSS with ${n(o.cachedTokens)} distinct cached tokens`, target: '≤ 150 MiB' },
    {
      id: 'memory-bound',
      group: 'memory',
      scenario: `memory: cache bound after ${n(o.cachedTokens / 2)} more tokens`,
      target: `≤ ${n(o.cachedTokens)} entries (oldest evicted)`,
    },
    {
      id: 'push-p99',
      group: 'push',
      scenario: `policy push → ${o.fleetSize} sidecars applied (NATS, signed doc)`,
      target: `p99 ≤ 250 ms over ${o.pushes} pushes`,
    },
    {
      id: 'rotation-p99',
      group: 'rotation',
      scenario: `key rotation → new-kid tokens accepted on ${o.fleetSize} sidecars`,
      target: `p99 ≤ 250 ms (${o.rotations} rotations)`,
    },
    { id: 'cold-local', group: 'cold-start', scenario: 'cold start to ready (local files)', target: '≤ 1 s' },
    { id: 'cold-cached', group: 'cold-start', scenario: 'cold start to ready (NATS down, cached control-plane state)', target: '≤ 1 s' },
    {
      id: 'sustained-rps',
      group: 'sustained',
      scenario: `allow, cached token, 50-rule policy: throughput in ${o.smoke ? `${n(o.smokeRequests)}-request` : `${n(o.sustainedSeconds)} s`} windows`,
      target: 'none (informational: steady state under sustained load)',
      informational: true,
    },
  ];
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly node: string;
  readonly h2load: string;
  readonly kernel: string;
  /** The sidecar code measured (src/ is under active change while benchmarks run). */
  readonly source: string;
}

export interface Report {
  readonly options: BenchOptions;
  readonly machine: Machine;
  readonly date: Date;
  readonly seconds: number;
  readonly cpu: CpuShare;
  readonly rows: ReadonlyMap<RowId, Measured>;
  /** Scenario groups that threw, with the first line of the error. */
  readonly failures: ReadonlyMap<Group, string>;
  readonly raw: readonly string[];
  readonly checks: readonly string[];
  readonly commands: readonly string[];
}

function contention(cpu: CpuShare): string {
  const percent = (seconds: number) => `${((100 * seconds) / cpu.availableSeconds).toFixed(1)} %`;
  const text = `Other processes used ${cpu.otherSeconds.toFixed(1)} CPU-s (${percent(cpu.otherSeconds)} of the machine) while the suite ran; hypervisor steal ${cpu.stealSeconds.toFixed(1)} s (${percent(cpu.stealSeconds)}).`;
  const noisy = cpu.otherSeconds + cpu.stealSeconds > 0.05 * cpu.availableSeconds;
  return noisy ? `${text} **The machine was shared during this run: figures are noisier than usual.**` : text;
}

function mark(m: Measured | undefined): string {
  if (m === undefined) return '–';
  return m.met === null ? 'info' : m.met ? '✔' : '✘';
}

export function resultsTable(report: Pick<Report, 'options' | 'rows' | 'failures'>): string {
  const missing = (spec: RowSpec) => {
    const failure = report.failures.get(spec.group);
    if (failure !== undefined) return `FAILED: ${failure.replace(/\|/g, '\\|')}`;
    return report.options.only.has(spec.group) ? 'not measured' : 'not run (BENCH_ONLY)';
  };
  return table(
    ['scenario', 'measured', 'target', 'met'],
    rowSpecs(report.options).map((spec) => {
      const m = report.rows.get(spec.id);
      return [spec.scenario, m?.text ?? missing(spec), spec.target, mark(m)];
    }),
  );
}

export function renderReport(r: Report): string {
  const o = r.options;
  const judged = [...r.rows.values()].filter((m) => m.met !== null);
  const met = judged.filter((m) => m.met).length;
  return `# authz-sidecar benchmarks

Written by \`npm run bench\` (bench/run.ts) on ${r.date.toISOString()}; do not edit by hand.
${o.smoke ? '\n**SMOKE RUN (BENCH_SMOKE=1): tiny counts, one round. These figures prove the harness runs; they measure nothing.**\n' : ''}
Sidecar measured: ${r.machine.source}.
Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memory} RAM, Linux ${r.machine.kernel}; Node ${r.machine.node}; h2load ${r.machine.h2load}.
Sidecars run as shipped: \`node ${SHIPPED_NODE_FLAGS.join(' ')}\` (bin/authz-sidecar, the image's ENTRYPOINT) with NODE_OPTIONS="${SHIPPED_NODE_OPTIONS}" (k8s/base/deployment.yaml).
${contention(r.cpu)}
Settings: ${o.smoke ? `${o.smokeRequests} requests per h2load run` : `${o.seconds} s per throughput run, ${o.latencySeconds} s per latency run`}, ${o.rounds} alternating round(s) (even rounds visit the servers in reverse order; latency runs in the first ${o.latencyRounds})${o.quietMs > 0 ? ` with a ${o.quietMs / 1000} s pause before each measured run (a sidecar's idle collection, 1–2 s after its run, then falls in no other server's run)` : ''}, ${o.connections} connections × ${o.streams} streams; sustained: ${o.sustainedRounds} alternating round(s) of ${runLengthText(o, o.sustainedSeconds)}; suite took ${Math.round(r.seconds)} s.

## Results

${met} of ${judged.length} measured targets met.

${resultsTable(r)}

How to read it: the load generator and the server under test share ${r.machine.cores} cores, so absolute
requests per second say little; every HTTP figure is a ratio to a server measured side by side
in the same run, in alternating rounds, and the table shows the median of the per-round ratios
(the p99 row: every run's ratio, judged run by run).

- **floor**: a bare \`@grpc/grpc-js\` server that fully decodes each CheckRequest with the
  sidecar's own protos (\`loadAuthProto()\`) and answers OK at once (bench/servers/floor.ts).
- **limit**: \`@grpc/grpc-js\` with pass-through (de)serializers and a pre-encoded answer: the
  transport's own cost (bench/servers/limit.ts).
- **floor-verify**: the floor plus one \`node:crypto\` ES256 signature verification of the
  request's token (bench/servers/floor-verify.ts).
- **http-floor**: a bare \`node:http\` server answering 200 with no body, for HTTP mode
  (bench/servers/http-floor.ts); both sides get the same \`h2load --h1\` runs, an nginx-style
  auth request carrying the same headers and token as the gRPC body.
- The request is built from Envoy's own protos (@grpc/grpc-js-xds): 11 headers including a
  fresh ES256 bearer token (issuer https://idp.example.test, audience orders), a query string,
  source/destination addresses and context extensions (bench/request.ts).
- Policies are generated (bench/policies/generate.ts): rules spread over 40 services' paths and
  all five methods; the matching rule \`read-orders\` comes last.
- Push and rotation latency: from just before the KV put to the \`control document applied\`
  log line of each sidecar (pino ISO timestamps, 1 ms resolution), per push the slowest of the
  fleet; the p99 is over pushes.

## Raw figures

${r.raw.join('\n\n')}

## Correctness checks

Every measured run was preceded by one call with the run's exact body whose CheckResponse had
to be the expected one, and followed by a check that the sidecar's \`authz_checks_total\` for the
expected decision and reason grew by the number of completed requests (h2load counts any
HTTP 200, and a gRPC error is an HTTP 200 too). Any mismatch aborts the suite.

${r.checks.join('\n')}

## Commands

${['```sh', ...r.commands, '```'].join('\n')}
`;
}
