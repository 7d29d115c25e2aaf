/**
 * The soak's knobs, parsed once from the environment (SOAK_*). SOAK_SMOKE=1 gives the fast
 * variant run by `npm test`: same code, seconds instead of minutes, no RSS verdict.
 */
import { fileURLToPath } from 'node:url';
import { positive } from '../options.js';

export interface SoakOptions {
  readonly smoke: boolean;
  /** Length of the loaded run (SOAK_SECONDS, default 600; smoke 11). */
  readonly seconds: number;
  /** A policy push and a key rotation every this many seconds (SOAK_INTERVAL_SECONDS, default 30; smoke 3). */
  readonly intervalSeconds: number;
  /** The rotated-out key stays published this long after the new one (half the interval). */
  readonly overlapSeconds: number;
  /** Sidecar RSS, heap and event-loop delay read this often (SOAK_SAMPLE_SECONDS, default 5; smoke 1). */
  readonly sampleSeconds: number;
  /** RSS growth is measured from the end of the warm-up (SOAK_WARMUP_SECONDS, default 20 % of the run). */
  readonly warmupSeconds: number;
  /** Length of the floor measurement (SOAK_FLOOR_SECONDS, default 5; smoke 1). */
  readonly floorSeconds: number;
  /** Fixed load instead of half the measured floor (SOAK_RPS); the floor is then not measured. */
  readonly rps: number | null;
  /** A Check not answered within this is failed (SOAK_TIMEOUT_MS, default 250 = Envoy's timeout in deploy/envoy/envoy.yaml; smoke 2,000). */
  readonly timeoutMs: number;
  /** Where the report goes (SOAK_OUT, default bench/soak-results.md). */
  readonly out: string;
  /** Also write the figures as JSON here (SOAK_JSON), for the smoke test. */
  readonly json: string | null;
  readonly connections: number;
  /** Calls outstanding at most (4 connections × 16 streams, like the bench). */
  readonly maxInFlight: number;
  /** Distinct tokens per signing key, sent round robin. */
  readonly tokensPerKey: number;
  /** Deployment deadline: answers slower than this are counted even when the run's timeout is longer. */
  readonly envoyTimeoutMs: number;
  /** Allowed RSS growth after warm-up, percent. */
  readonly rssGrowthPercent: number;
}

export const DEFAULT_SOAK_OUT = fileURLToPath(new URL('../../../bench/soak-results.md', import.meta.url));
const ENVOY_TIMEOUT_MS = 250;

export function parseSoakOptions(env: NodeJS.ProcessEnv = process.env): SoakOptions {
  const smoke = env.SOAK_SMOKE === '1';
  const seconds = positive(env, 'SOAK_SECONDS', smoke ? 11 : 600);
  const intervalSeconds = positive(env, 'SOAK_INTERVAL_SECONDS', smoke ? 3 : 30);
  if (intervalSeconds * 1.5 > seconds)
    throw new TypeError(`SOAK_INTERVAL_SECONDS (${intervalSeconds}) leaves no room for one push and rotation in SOAK_SECONDS (${seconds})`);
  const warmupSeconds = env.SOAK_WARMUP_SECONDS === '0' ? 0 : positive(env, 'SOAK_WARMUP_SECONDS', seconds * 0.2);
  if (warmupSeconds >= seconds) throw new TypeError(`SOAK_WARMUP_SECONDS (${warmupSeconds}) must be shorter than SOAK_SECONDS (${seconds})`);
  return Object.freeze({
    smoke,
    seconds,
    intervalSeconds,
    overlapSeconds: intervalSeconds / 2,
    sampleSeconds: positive(env, 'SOAK_SAMPLE_SECONDS', smoke ? 1 : 5),
    warmupSeconds,
    floorSeconds: positive(env, 'SOAK_FLOOR_SECONDS', smoke ? 1 : 5),
    rps: env.SOAK_RPS ? positive(env, 'SOAK_RPS', 1) : null,
    timeoutMs: positive(env, 'SOAK_TIMEOUT_MS', smoke ? 2_000 : ENVOY_TIMEOUT_MS),
    out: env.SOAK_OUT || DEFAULT_SOAK_OUT,
    json: env.SOAK_JSON || null,
    connections: 4,
    maxInFlight: 64,
    tokensPerKey: 16,
    envoyTimeoutMs: ENVOY_TIMEOUT_MS,
    rssGrowthPercent: 10,
  });
}
