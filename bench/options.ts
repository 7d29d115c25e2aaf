/**
 * The suite's knobs, parsed once from the environment (BENCH_*). Unknown scenario names in
 * BENCH_ONLY are refused with the list of known ones.
 */
import { fileURLToPath } from 'node:url';

/** Scenario groups, in the order they run; BENCH_ONLY takes these names. */
export const GROUPS = [
  'allow',
  'deny',
  'latency',
  'rules-10k',
  'cel',
  'shadow',
  'gateway',
  'http',
  'fresh-tokens',
  'introspection',
  'cost',
  'sustained',
  'policy-eval',
  'memory',
  'push',
  'rotation',
  'cold-start',
] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchOptions {
  /** BENCH_SMOKE=1: tiny counts, one round; proves the harness works, figures mean nothing. */
  readonly smoke: boolean;
  /** Length of one measured h2load throughput run, whole seconds (BENCH_SECONDS, default 6). */
  readonly seconds: number;
  /** Length of one fixed-rate latency run, whole seconds: as long as a throughput run, since a p99 needs samples. */
  readonly latencySeconds: number;
  /** Alternating rounds per comparison (BENCH_ROUNDS, default 9; smoke 1). */
  readonly rounds: number;
  /** Rounds that include the fixed-rate latency runs (the first five, or fewer when `rounds` is); the p99 target holds in each. */
  readonly latencyRounds: number;
  /** Length of one sustained-load window, whole seconds (BENCH_SUSTAINED_SECONDS, default 30). */
  readonly sustainedSeconds: number;
  /** Alternating rounds of sustained windows (3; smoke 1). */
  readonly sustainedRounds: number;
  /**
   * Pause before each measured HTTP run (smoke: none). A sidecar runs its idle collection
   * 1–2 s after its own run ends (src/runtime/idle-gc.ts): without the pause it lands in the
   * next server's run, which then pays for another process's ~0.1–0.2 s of collection.
   */
  readonly quietMs: number;
  readonly only: ReadonlySet<Group>;
  /** Where the markdown report goes (BENCH_OUT, default bench/results.md). */
  readonly out: string;
  /** h2load -c / the rotating client's connections. */
  readonly connections: number;
  /** h2load -m / the rotating client's streams per connection. */
  readonly streams: number;
  /** Total request rate of the latency runs. */
  readonly latencyRps: number;
  /** Requests per measured run with a fresh token each (rotating client). */
  readonly freshRequests: number;
  /** Rules of the large policy. */
  readonly largeRules: number;
  /** Evaluations timed per policy in the micro-benchmark (after warm-up). */
  readonly evalCalls: number;
  /** Distinct tokens the memory scenario caches (and the cache bound). */
  readonly cachedTokens: number;
  readonly fleetSize: number;
  readonly pushes: number;
  readonly rotations: number;
  readonly coldStarts: number;
  /** Fixed request count per h2load run in smoke mode (instead of a duration). */
  readonly smokeRequests: number;
}

/** The p99 target is judged run by run, in this many runs. */
const LATENCY_ROUNDS = 5;

export const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.md', import.meta.url));

export function parseOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const smoke = env.BENCH_SMOKE === '1';
  // Rounds of 6 s, nine of them: on the 2-core VMs this runs on, the per-round ratio of two
  // identical sidecars measured back to back ranged 0.46-1.35 (the host's capacity moves by a
  // factor of two from one second to the next), and a median of five such ratios moved by
  // ~10 % from run to run, as much as the margins the targets leave. Nine rounds narrow that
  // swing by about a quarter (1/sqrt(n)) for ~6 more minutes of suite (docs/performance.md).
  const seconds = Math.max(1, Math.round(positive(env, 'BENCH_SECONDS', 6)));
  return Object.freeze({
    smoke,
    seconds,
    latencySeconds: seconds,
    rounds: positive(env, 'BENCH_ROUNDS', smoke ? 1 : 9),
    latencyRounds: Math.min(LATENCY_ROUNDS, positive(env, 'BENCH_ROUNDS', smoke ? 1 : 9)),
    sustainedSeconds: Math.max(1, Math.round(positive(env, 'BENCH_SUSTAINED_SECONDS', 30))),
    sustainedRounds: smoke ? 1 : 3,
    quietMs: smoke ? 0 : 2_500,
    only: parseOnly(env.BENCH_ONLY),
    out: env.BENCH_OUT || DEFAULT_OUT,
    connections: 4,
    streams: 16,
    latencyRps: smoke ? 400 : 2000,
    freshRequests: smoke ? 300 : 15_000,
    largeRules: smoke ? 1_000 : 10_000,
    evalCalls: smoke ? 2_000 : 100_000,
    cachedTokens: smoke ? 1_000 : 100_000,
    fleetSize: smoke ? 2 : 10,
    pushes: smoke ? 3 : 50,
    rotations: smoke ? 3 : 50,
    coldStarts: smoke ? 1 : 5,
    smokeRequests: 300,
  });
}

/** How long an unmeasured warm-up run lasts. */
export const WARM_UP_SECONDS = 2;

/** A load run of `seconds`, or in a smoke run the fixed request count instead. */
export function runLength(o: BenchOptions, seconds: number): { seconds: number } | { requests: number } {
  return o.smoke ? { requests: o.smokeRequests } : { seconds };
}

/** The same length as the report words it: "30 s", or "300 requests" in a smoke run. */
export function runLengthText(o: BenchOptions, seconds: number): string {
  return o.smoke ? `${o.smokeRequests} requests` : `${seconds} s`;
}

/** A positive number from the environment, `fallback` when unset; anything else is an error naming the variable. */
export function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name}: expected a positive number, got "${text}"`);
  return value;
}

function parseOnly(text: string | undefined): ReadonlySet<Group> {
  if (text === undefined || text.trim() === '') return new Set(GROUPS);
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(GROUPS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new TypeError(`BENCH_ONLY: unknown scenario ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${GROUPS.join(', ')})`);
  return new Set(names as Group[]);
}
